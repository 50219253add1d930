//! Consistent snapshots: everything a client caches, read in one transaction so
//! that it reflects exactly the events up to the `seq` it reports.

use super::{appointments, directory, events, hours, messages, patients, queue};
use crate::auth::Caller;
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use frontdesk_protocol::api::{Board, Snapshot};
use frontdesk_protocol::records::{Display, UserSummary};
use frontdesk_protocol::window::{SyncWindow, clinic_day, zone_of};
use rusqlite::Connection;

/// Messages per thread included in a snapshot; older ones are read on demand
/// (`GET /api/threads/{id}/messages?before=`, as the user scrolls back).
pub const MESSAGES_PER_THREAD: u32 = 50;
/// Notifications included in a snapshot.
pub const NOTIFICATIONS: u32 = 100;

/// A staff member's snapshot (presence is filled in by the caller, from memory).
pub fn staff(
    conn: &mut Connection,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Snapshot, ApiError> {
    let tx = conn.transaction()?;
    let t = &caller.tenant;
    let tenant =
        directory::tenant(&tx, t)?.ok_or_else(|| ApiError::NotFound(format!("tenant {t}")))?;
    let seq = events::latest_seq(&tx, t)?;
    let window = SyncWindow::for_tenant(&tenant, now);
    // Today only: the desk paints it at once and fills the rest of its
    // window in the background (`GET /api/appointments`), so a snapshot costs
    // a day's appointments however long the clinic's history.
    let holds = SyncWindow::around(clinic_day(now, zone_of(&tenant)), 0, 0);
    let (from, to) = holds.instants(zone_of(&tenant));
    let appointments = appointments::in_range(&tx, t, from, to)?;
    let queue = queue::list(&tx, t, now)?;
    // Only the patients these records name: a desk PC holds no one else.
    let mut referenced: Vec<String> = appointments
        .iter()
        .map(|a| a.patient.id.clone())
        .chain(
            queue
                .iter()
                .filter_map(|q| q.patient.as_ref().map(|p| p.id.clone())),
        )
        .collect();
    referenced.sort();
    referenced.dedup();
    // Notifications from before the window are out of scope, read or not.
    let since = window.instants(zone_of(&tenant)).0;
    let snap = Snapshot {
        seq,
        last_event_id: events::id_at(&tx, t, seq)?,
        window: Some(window),
        holds: Some(holds),
        tenant,
        me: UserSummary {
            id: caller.id.clone(),
            name: caller.name.clone(),
            role: caller.role,
        },
        users: directory::users(&tx, t)?,
        providers: directory::providers(&tx, t)?,
        rooms: directory::rooms(&tx, t)?,
        patients: patients::by_id(&tx, t, &referenced)?,
        hours: hours::all_current(&tx, t, holds.from)?,
        appointment_types: hours::types(&tx, t)?,
        appointments,
        queue,
        threads: messages::threads_of(&tx, t, &caller.id)?,
        messages: messages::recent_for(&tx, t, &caller.id, MESSAGES_PER_THREAD)?,
        read_markers: messages::read_markers_for(&tx, t, &caller.id)?,
        notifications: messages::unread_notifications_for(
            &tx,
            t,
            &caller.id,
            since,
            NOTIFICATIONS,
        )?,
        presence: Vec::new(),
    };
    tx.commit()?;
    Ok(snap)
}

/// A display board's view: its providers' active tickets, redacted.
pub fn board(
    conn: &mut Connection,
    tenant: &str,
    display: Display,
    now: DateTime<Utc>,
) -> Result<Board, ApiError> {
    let tx = conn.transaction()?;
    let seq = events::latest_seq(&tx, tenant)?;
    let queue = queue::list(&tx, tenant, now)?
        .into_iter()
        .filter(|e| display.shows(&e.provider_id) && e.status.is_active())
        .map(|e| queue::redact(&e))
        .collect();
    let rooms = directory::rooms(&tx, tenant)?;
    tx.commit()?;
    Ok(Board {
        seq,
        display,
        rooms,
        queue,
    })
}
