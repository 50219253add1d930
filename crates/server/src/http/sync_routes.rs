//! Reading state: `/api/snapshot`, `/api/events` (replay), `/api/appointments`
//! (any days, on demand) and `/api/board`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::audit::Access;
use crate::store::{appointments, directory, events, fmt_ts, messages, patients, snapshot};
use axum::Json;
use axum::extract::{Query, State};
use chrono::{DateTime, NaiveDate, Utc};
use frontdesk_protocol::api::{AppointmentsPage, Board, EventsPage, MessagesPage, Snapshot};
use frontdesk_protocol::records::Role;
use frontdesk_protocol::window::{day_start, zone_of};
use serde::Deserialize;

/// `GET /api/snapshot`.
pub async fn get_snapshot(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Snapshot>, ApiError> {
    caller.require_staff("read the clinic's records")?;
    st.take_read_token(&caller.id)?;
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
    let patients = snap.patients.iter().map(|p| p.id.clone()).collect();
    st.audit(
        &caller,
        Access::Snapshot,
        patients,
        "GET /api/snapshot".into(),
    )
    .await?;
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
    st.take_read_token(&caller.id)?;
    let Query(q) = query.map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(500).clamp(1, st.config.max_page);
    let now = st.now();
    let (after, c) = (q.after, caller.clone());
    let (events, latest_seq) = st
        .db
        .read(move |conn| {
            let after_id = q.after_id.as_deref().filter(|id| !id.is_empty());
            events::page(conn, &c.tenant, &c.id, q.after, after_id, limit, now)
        })
        .await?;
    // The patients whose whole record the page carries (§7.1 `patient`).
    let mut patients: Vec<String> = events
        .iter()
        .filter_map(|e| e.patient.as_ref().map(|p| p.id.clone()))
        .collect();
    patients.sort();
    patients.dedup();
    let detail = format!("GET /api/events (after {after})");
    st.audit(&caller, Access::Replay, patients, detail).await?;
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

/// Query of `GET /api/appointments`.
#[derive(Debug, Deserialize)]
pub struct AppointmentsQuery {
    /// First clinic-local day, `YYYY-MM-DD`.
    pub from: NaiveDate,
    /// Last clinic-local day (included).
    pub to: NaiveDate,
    pub provider_id: Option<String>,
    /// From the previous page's `next`.
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// Most days one request may cover.
pub const MAX_DAYS: i64 = 93;

/// `GET /api/appointments?from=&to=&provider_id=&cursor=&limit=`: any days,
/// with the patients they name, a page at a time.
pub async fn get_appointments(
    State(st): State<AppState>,
    caller: Caller,
    query: Result<Query<AppointmentsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AppointmentsPage>, ApiError> {
    caller.require_staff("read appointments")?;
    st.take_read_token(&caller.id)?;
    let Query(q) = query.map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))?;
    let days = (q.to - q.from).num_days();
    if !(0..MAX_DAYS).contains(&days) {
        return Err(ApiError::invalid(format!(
            "`to` must be on or after `from`, at most {MAX_DAYS} days later"
        )));
    }
    let cursor = q.cursor.as_deref().map(parse_cursor).transpose()?;
    let q_days = (q.from, q.to);
    let limit = q.limit.unwrap_or(500).clamp(1, st.config.max_page);
    let tenant_id = caller.tenant.clone();
    let page = st
        .db
        .read(move |conn| {
            let tx = conn.transaction()?;
            let t = &tenant_id;
            let tenant = directory::tenant(&tx, t)?
                .ok_or_else(|| ApiError::NotFound(format!("tenant {t}")))?;
            let zone = zone_of(&tenant);
            let end = q.to.succ_opt().unwrap_or(q.to);
            let range = (day_start(q.from, zone), day_start(end, zone));
            let seq = events::latest_seq(&tx, t)?;
            let (appointments, more) =
                appointments::page(&tx, t, range, q.provider_id.as_deref(), cursor, limit)?;
            let mut ids: Vec<String> = appointments.iter().map(|a| a.patient.id.clone()).collect();
            ids.sort();
            ids.dedup();
            let patients = patients::by_id(&tx, t, &ids)?;
            let next = more
                .then(|| appointments.last())
                .flatten()
                .map(|a| format!("{}~{}", fmt_ts(&a.start), a.id));
            tx.commit()?;
            Ok(AppointmentsPage {
                seq,
                appointments,
                patients,
                next,
            })
        })
        .await?;
    let patients = page.patients.iter().map(|p| p.id.clone()).collect();
    let detail = format!("GET /api/appointments ({} to {})", q_days.0, q_days.1);
    st.audit(&caller, Access::DayFetch, patients, detail)
        .await?;
    Ok(Json(page))
}

fn parse_cursor(c: &str) -> Result<(DateTime<Utc>, String), ApiError> {
    let bad = || ApiError::invalid("cursor: pass the `next` of the previous page");
    let (start, id) = c.split_once('~').ok_or_else(bad)?;
    let start = DateTime::parse_from_rfc3339(start).map_err(|_| bad())?;
    Ok((start.with_timezone(&Utc), id.to_owned()))
}

/// Query of `GET /api/threads/{id}/messages`.
#[derive(Debug, Deserialize)]
pub struct OlderQuery {
    /// The oldest message the client holds; none: the newest page.
    pub before: Option<String>,
    pub limit: Option<u32>,
}

/// `GET /api/threads/{id}/messages?before=&limit=`: a member reads further
/// back in a thread than its snapshot went.
pub async fn get_messages(
    State(st): State<AppState>,
    caller: Caller,
    axum::extract::Path(thread): axum::extract::Path<String>,
    query: Result<Query<OlderQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MessagesPage>, ApiError> {
    caller.require_staff("read messages")?;
    st.take_read_token(&caller.id)?;
    let Query(q) = query.map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let page = st
        .db
        .read(move |conn| {
            let t = &caller.tenant;
            messages::members_for(conn, t, &thread, &caller.id)?;
            let at = match &q.before {
                Some(id) => Some(messages::created_at_of(conn, t, &thread, id)?),
                None => None,
            };
            let cursor = at.as_deref().zip(q.before.as_deref());
            let (messages, more) = messages::before(conn, t, &thread, cursor, limit)?;
            Ok(MessagesPage { messages, more })
        })
        .await?;
    Ok(Json(page))
}
