//! Reading state: `/api/snapshot`, `/api/events` (replay) and `/api/board`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{directory, events, snapshot};
use axum::Json;
use axum::extract::{Query, State};
use frontdesk_protocol::api::{Board, EventsPage, Snapshot};
use frontdesk_protocol::records::Role;
use serde::Deserialize;

/// `GET /api/snapshot`.
pub async fn get_snapshot(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Snapshot>, ApiError> {
    caller.require_staff("read the clinic's records")?;
    let c = caller.clone();
    let now = st.now();
    let mut snap = st
        .db
        .read(move |conn| snapshot::staff(conn, &c, now))
        .await?;
    snap.presence = st
        .presence
        .lock()
        .map_err(|_| ApiError::internal("presence lock poisoned"))?
        .snapshot(&caller.tenant);
    Ok(Json(snap))
}

/// Query of `GET /api/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    pub after: u64,
    /// The id of the client's event `after`, checked against ours.
    pub after_id: Option<String>,
    pub limit: Option<u32>,
}

/// `GET /api/events?after=SEQ&after_id=ID&limit=N`.
pub async fn get_events(
    State(st): State<AppState>,
    caller: Caller,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventsPage>, ApiError> {
    caller.require_staff("replay events")?;
    let Query(q) = query.map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(500).clamp(1, st.config.max_page);
    let now = st.now();
    let (events, latest_seq) = st
        .db
        .read(move |conn| {
            let after_id = q.after_id.as_deref().filter(|id| !id.is_empty());
            events::page(
                conn,
                &caller.tenant,
                &caller.id,
                q.after,
                after_id,
                limit,
                now,
            )
        })
        .await?;
    Ok(Json(EventsPage { events, latest_seq }))
}

/// `GET /api/board`: the display token's board.
pub async fn get_board(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Board>, ApiError> {
    caller.require(
        &[Role::Display],
        "read a display board (use a display token)",
    )?;
    let now = st.now();
    let board = st
        .db
        .read(move |conn| {
            let display = directory::display(conn, &caller.tenant, &caller.id)?
                .ok_or_else(|| ApiError::Unauthorized("this display has been removed".into()))?;
            snapshot::board(conn, &caller.tenant, display, now)
        })
        .await?;
    Ok(Json(board))
}
