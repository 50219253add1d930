//! The patient queue: check-in, walk-ins, calling, and ticket status changes.
//!
//! Tickets are numbered per provider per clinic (local) day: `A-001`, `A-002`, …
//! A queue change that implies an appointment change (called in → `in_room`,
//! done → `completed`) makes both in the same transaction.

use super::{appointments, directory, fmt_ts, new_id, parse_enum, parse_ts};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use frontdesk_protocol::api::UpdateQueueEntry;
use frontdesk_protocol::records::{Appointment, PatientRef, QueueEntry};
use frontdesk_protocol::status::{AppointmentStatus, QueueStatus};
use rusqlite::{Connection, OptionalExtension, Row, params};

const SELECT: &str =
    "SELECT q.id, q.ticket, q.provider_id, q.room_id, q.patient_id, p.name, p.initials,
    q.appointment_id, q.status, q.priority, q.arrived_at, q.called_at, q.version, q.updated_at
    FROM queue_entries q JOIN patients p ON p.id = q.patient_id";

fn row(r: &Row<'_>) -> rusqlite::Result<QueueEntry> {
    let called: Option<String> = r.get(11)?;
    let initials: String = r.get(6)?;
    Ok(QueueEntry {
        id: r.get(0)?,
        ticket: r.get(1)?,
        provider_id: r.get(2)?,
        room_id: r.get(3)?,
        patient: Some(PatientRef {
            id: r.get(4)?,
            name: r.get(5)?,
            initials: initials.clone(),
        }),
        initials,
        appointment_id: r.get(7)?,
        status: parse_enum(&r.get::<_, String>(8)?)?,
        priority: r.get(9)?,
        arrived_at: parse_ts(&r.get::<_, String>(10)?)?,
        called_at: called.as_deref().map(parse_ts).transpose()?,
        version: r.get(12)?,
        updated_at: parse_ts(&r.get::<_, String>(13)?)?,
    })
}

/// The entry as a waiting-room board may see it: ticket, initials, room; no patient.
pub fn redact(e: &QueueEntry) -> QueueEntry {
    QueueEntry {
        patient: None,
        ..e.clone()
    }
}

/// What a queue mutation changed, in the order the events should be appended.
pub struct QueueChange {
    pub entry: QueueEntry,
    /// Whether this change is a call (or recall) that boards announce.
    pub called: bool,
    /// False when the request changed nothing (no version bump, no event).
    pub changed: bool,
    pub appointment: Option<Appointment>,
}

fn check_priority(p: i32) -> Result<(), ApiError> {
    if !(0..=9).contains(&p) {
        return Err(ApiError::invalid(
            "priority must be 0 (normal) to 9 (most urgent)",
        ));
    }
    Ok(())
}

fn next_ticket(
    conn: &Connection,
    tenant: &str,
    provider_id: &str,
    prefix: &str,
    day: &str,
) -> Result<String, ApiError> {
    let n: u32 = super::one(
        conn,
        "SELECT COUNT(*) FROM queue_entries WHERE tenant = ?1 AND provider_id = ?2 AND day = ?3",
        params![tenant, provider_id, day],
        |r| r.get(0),
    )?;
    Ok(format!("{prefix}-{:03}", n + 1))
}

fn insert_entry(
    conn: &Connection,
    tenant: &str,
    provider_id: &str,
    patient: PatientRef,
    appointment_id: Option<String>,
    priority: i32,
    now: DateTime<Utc>,
) -> Result<QueueEntry, ApiError> {
    check_priority(priority)?;
    let provider = directory::provider(conn, tenant, provider_id)?;
    let day = super::clinic_day(now, directory::zone(conn, tenant)?);
    let ticket = next_ticket(conn, tenant, provider_id, &provider.ticket_prefix, &day)?;
    let e = QueueEntry {
        id: new_id("q"),
        ticket,
        provider_id: provider_id.to_owned(),
        room_id: None,
        initials: patient.initials.clone(),
        patient: Some(patient),
        appointment_id,
        status: QueueStatus::Waiting,
        priority,
        arrived_at: now,
        called_at: None,
        version: 1,
        updated_at: now,
    };
    super::exec(conn,
        "INSERT INTO queue_entries (id, tenant, day, ticket, provider_id, room_id, patient_id, appointment_id, status, priority, arrived_at, called_at, version, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, NULL, ?6, ?7, ?8, ?9, ?10, NULL, 1, ?10)",
        params![
            e.id,
            tenant,
            day,
            e.ticket,
            e.provider_id,
            e.patient.as_ref().map(|p| p.id.clone()),
            e.appointment_id,
            e.status.as_str(),
            e.priority,
            fmt_ts(&now)
        ],
    )?;
    Ok(e)
}

/// Checks in a booked appointment: it becomes `arrived` and gets a ticket.
pub fn check_in(
    conn: &Connection,
    tenant: &str,
    appointment_id: &str,
    priority: i32,
    now: DateTime<Utc>,
) -> Result<QueueChange, ApiError> {
    let mut a = appointments::get(conn, tenant, appointment_id)?;
    appointments::set_status_checked(&mut a, AppointmentStatus::Arrived)?;
    appointments::save(conn, tenant, &mut a, now)?;
    let entry = insert_entry(
        conn,
        tenant,
        &a.provider_id,
        a.patient.clone(),
        Some(a.id.clone()),
        priority,
        now,
    )?;
    Ok(QueueChange {
        entry,
        called: false,
        changed: true,
        appointment: Some(a),
    })
}

/// Registers a walk-in (no appointment) in a provider's queue.
pub fn walk_in(
    conn: &Connection,
    tenant: &str,
    provider_id: &str,
    patient: PatientRef,
    priority: i32,
    now: DateTime<Utc>,
) -> Result<QueueChange, ApiError> {
    let entry = insert_entry(conn, tenant, provider_id, patient, None, priority, now)?;
    Ok(QueueChange {
        entry,
        called: false,
        changed: true,
        appointment: None,
    })
}

/// One entry of a tenant, or `NotFound`.
pub fn get(conn: &Connection, tenant: &str, id: &str) -> Result<QueueEntry, ApiError> {
    super::one(
        conn,
        &format!("{SELECT} WHERE q.tenant = ?1 AND q.id = ?2"),
        params![tenant, id],
        row,
    )
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("queue entry {id}")))
}

/// Today's tickets plus any older ones still active, in serving order.
pub fn list(
    conn: &Connection,
    tenant: &str,
    now: DateTime<Utc>,
) -> Result<Vec<QueueEntry>, ApiError> {
    let today = super::clinic_day(now, directory::zone(conn, tenant)?);
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE q.tenant = ?1 AND (q.day = ?2 OR q.status IN ('waiting', 'called', 'in_service'))
         ORDER BY q.priority DESC, q.arrived_at, q.id"
    ))?;
    let rows = stmt.query_map(params![tenant, today], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Calls the best waiting ticket (highest priority, then earliest) of a provider.
pub fn call_next(
    conn: &Connection,
    tenant: &str,
    provider_id: &str,
    room_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<QueueChange, ApiError> {
    let provider = directory::provider(conn, tenant, provider_id)?;
    let next: Option<QueueEntry> = conn
        .query_row(
            &format!(
                "{SELECT} WHERE q.tenant = ?1 AND q.provider_id = ?2 AND q.status = 'waiting'
                 ORDER BY q.priority DESC, q.arrived_at, q.id LIMIT 1"
            ),
            params![tenant, provider_id],
            row,
        )
        .optional()?;
    let mut entry =
        next.ok_or_else(|| ApiError::NotFound(format!("no one is waiting for {}", provider.name)))?;
    let room = room_id.map(str::to_owned).or(provider.default_room_id);
    if let Some(room) = &room {
        directory::check_room(conn, tenant, room)?;
    }
    entry.room_id = room;
    apply_status(conn, tenant, &mut entry, QueueStatus::Called, now)
}

/// Applies a client's update after checking version and transition.
pub fn update(
    conn: &Connection,
    tenant: &str,
    id: &str,
    change: &UpdateQueueEntry,
    now: DateTime<Utc>,
) -> Result<QueueChange, ApiError> {
    let UpdateQueueEntry {
        version,
        status,
        priority,
        room_id,
    } = change;
    let (version, status, priority, room_id) = (*version, *status, *priority, room_id.as_deref());
    let before = get(conn, tenant, id)?;
    let mut entry = before.clone();
    if entry.version != version {
        return Err(ApiError::Conflict {
            current: serde_json::to_value(&entry)?,
        });
    }
    if let Some(p) = priority {
        check_priority(p)?;
        entry.priority = p;
    }
    if let Some(room) = room_id {
        directory::check_room(conn, tenant, room)?;
        entry.room_id = Some(room.to_owned());
    }
    match status {
        Some(s) if s != entry.status || s == QueueStatus::Called => {
            apply_status(conn, tenant, &mut entry, s, now)
        }
        _ => {
            let changed = entry != before;
            if changed {
                save(conn, tenant, &mut entry, now)?;
            }
            Ok(QueueChange {
                entry,
                called: false,
                changed,
                appointment: None,
            })
        }
    }
}

/// Moves a ticket to `next`, and its appointment along with it.
fn apply_status(
    conn: &Connection,
    tenant: &str,
    entry: &mut QueueEntry,
    next: QueueStatus,
    now: DateTime<Utc>,
) -> Result<QueueChange, ApiError> {
    if !entry.status.can_transition_to(next) {
        return Err(ApiError::InvalidTransition(format!(
            "ticket {} cannot go from {} to {}",
            entry.ticket, entry.status, next
        )));
    }
    entry.status = next;
    if next == QueueStatus::Called {
        entry.called_at = Some(now);
    }
    save(conn, tenant, entry, now)?;
    let appointment_status = match next {
        QueueStatus::InService => Some(AppointmentStatus::InRoom),
        QueueStatus::Done => Some(AppointmentStatus::Completed),
        QueueStatus::NoShow => Some(AppointmentStatus::NoShow),
        _ => None,
    };
    let appointment = match (&entry.appointment_id, appointment_status) {
        (Some(aid), Some(status)) => {
            let mut a = appointments::get(conn, tenant, aid)?;
            if a.status.can_transition_to(status) {
                a.status = status;
                if status == AppointmentStatus::InRoom && entry.room_id.is_some() {
                    a.room_id = entry.room_id.clone();
                }
                appointments::save(conn, tenant, &mut a, now)?;
                Some(a)
            } else {
                None
            }
        }
        _ => None,
    };
    Ok(QueueChange {
        entry: entry.clone(),
        called: next == QueueStatus::Called,
        changed: true,
        appointment,
    })
}

fn save(
    conn: &Connection,
    tenant: &str,
    e: &mut QueueEntry,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    e.version += 1;
    e.updated_at = now;
    super::exec(conn,
        "UPDATE queue_entries SET room_id = ?3, status = ?4, priority = ?5, called_at = ?6, version = ?7, updated_at = ?8
         WHERE tenant = ?1 AND id = ?2",
        params![
            tenant,
            e.id,
            e.room_id,
            e.status.as_str(),
            e.priority,
            e.called_at.as_ref().map(fmt_ts),
            e.version,
            fmt_ts(&e.updated_at)
        ],
    )?;
    Ok(())
}

/// When an appointment is cancelled or marked no-show, its ticket (if still
/// waiting or called) leaves the queue as `no_show`. Returns the closed ticket.
pub fn close_for_appointment(
    conn: &Connection,
    tenant: &str,
    appointment_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<QueueEntry>, ApiError> {
    let open: Option<QueueEntry> = conn
        .query_row(
            &format!("{SELECT} WHERE q.tenant = ?1 AND q.appointment_id = ?2 AND q.status IN ('waiting', 'called')"),
            params![tenant, appointment_id],
            row,
        )
        .optional()?;
    let Some(mut entry) = open else {
        return Ok(None);
    };
    entry.status = QueueStatus::NoShow;
    save(conn, tenant, &mut entry, now)?;
    Ok(Some(entry))
}
