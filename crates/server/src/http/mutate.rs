//! The one path every mutation takes: rate limit, idempotency check, the change
//! and its events in one transaction, then the events handed to the broadcaster
//! in commit order.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::realtime::broadcast::Broadcast;
use crate::state::AppState;
use crate::store::events::{self, Outgoing};
use crate::store::idempotency::{self, StoredAnswer};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::Connection;
use serde::Serialize;

/// Header set on an answer replayed from an earlier request with the same key.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// How often (in events) a tenant's log is pruned to the retention limit.
const PRUNE_EVERY: u64 = 256;

/// Runs `change` as one transaction and answers with its result.
///
/// `change` returns the answer body and the events it appended; nothing is
/// broadcast unless the transaction commits. A repeat of an earlier key
/// returns the stored answer and changes nothing.
pub async fn commit<T, F>(
    state: &AppState,
    caller: Caller,
    idempotency: Option<(String, String)>,
    status: StatusCode,
    change: F,
) -> Result<Response, ApiError>
where
    T: Serialize,
    F: FnOnce(&Connection, &Caller) -> Result<(T, Vec<Outgoing>), ApiError> + Send + 'static,
{
    state.take_mutation_token(&caller.id)?;
    let st = state.clone();
    let now = state.now();
    let (answer, replayed) = state
        .db
        .write(move |conn| {
            let tx = conn.transaction()?;
            if let Some((key, fp)) = &idempotency
                && let Some(stored) = idempotency::lookup(&tx, &caller.tenant, &caller.id, key, fp)?
            {
                return Ok((stored, true));
            }
            let (value, outgoing) = change(&tx, &caller)?;
            let answer = StoredAnswer {
                status: status.as_u16(),
                body: serde_json::to_string(&value)?,
            };
            // A change is remembered under its key, so a repeat is answered
            // without running again. A request that changed nothing is not:
            // run again it still changes nothing (versions refuse a stale
            // one), and a flood of them must not grow the table.
            if let Some((key, fp)) = &idempotency
                && !outgoing.is_empty()
            {
                idempotency::store(&tx, &caller.tenant, &caller.id, key, fp, &answer, now)?;
            }
            if outgoing.iter().any(|o| o.envelope.seq % PRUNE_EVERY == 0) {
                events::prune(&tx, &caller.tenant, st.config.event_retention)?;
            }
            tx.commit()?;
            if !outgoing.is_empty() {
                // Still holding the writer lock: channel order is commit order.
                let _ = st.committed.send(Broadcast::Events(outgoing));
            }
            Ok((answer, false))
        })
        .await?;
    Ok(json_response(answer, replayed))
}

fn json_response(answer: StoredAnswer, replayed: bool) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, answer.body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if replayed {
        resp.headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    resp
}
