//! Appointments: booking, rescheduling, status changes, all version-checked.

use super::{directory, fmt_ts, hours, new_id, parse_enum, parse_ts, patients};
use crate::error::ApiError;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use frontdesk_protocol::api::{CreateAppointment, UpdateAppointment};
use frontdesk_protocol::records::{Appointment, Patient, PatientRef};
use frontdesk_protocol::status::AppointmentStatus;
use frontdesk_protocol::window::clinic_day;
use rusqlite::{Connection, OptionalExtension, Row, params};

const SELECT: &str =
    "SELECT a.id, a.patient_id, p.name, p.initials, a.provider_id, a.room_id, a.start, a.\"end\",
    a.status, a.reason, a.version, a.updated_at, a.type_id, a.overbook_reason
    FROM appointments a JOIN patients p ON p.id = a.patient_id";

fn row(r: &Row<'_>) -> rusqlite::Result<Appointment> {
    Ok(Appointment {
        id: r.get(0)?,
        patient: PatientRef {
            id: r.get(1)?,
            name: r.get(2)?,
            initials: r.get(3)?,
        },
        provider_id: r.get(4)?,
        room_id: r.get(5)?,
        start: parse_ts(&r.get::<_, String>(6)?)?,
        end: parse_ts(&r.get::<_, String>(7)?)?,
        status: parse_enum(&r.get::<_, String>(8)?)?,
        reason: r.get(9)?,
        version: r.get(10)?,
        updated_at: parse_ts(&r.get::<_, String>(11)?)?,
        type_id: r.get(12)?,
        overbook_reason: r.get(13)?,
    })
}

fn check_times(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), ApiError> {
    if end <= start {
        return Err(ApiError::invalid("end must be after start"));
    }
    if end - start > Duration::hours(12) {
        return Err(ApiError::invalid("an appointment lasts at most 12 hours"));
    }
    Ok(())
}

fn check_reason(reason: &str) -> Result<(), ApiError> {
    if reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason must be at most 500 characters"));
    }
    frontdesk_protocol::text::check("reason", reason, frontdesk_protocol::text::Lines::One)?;
    Ok(())
}

/// The reason to store for an overbooking, checked: `Some` only when
/// `overbook` was asked for.
fn overbook_reason(overbook: bool, reason: Option<&str>) -> Result<Option<String>, ApiError> {
    if !overbook {
        return Ok(None);
    }
    let reason = reason.map(str::trim).unwrap_or_default();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::invalid(
            "overbooking needs an overbook_reason of 1 to 200 characters",
        ));
    }
    frontdesk_protocol::text::check(
        "overbook_reason",
        reason,
        frontdesk_protocol::text::Lines::One,
    )?;
    Ok(Some(reason.to_owned()))
}

/// The booking rules: `[start, end)` must lie inside the provider's hours
/// and on no other appointment's time, unless staff overbook (`overbook`
/// is the checked reason). Returns the reason to store: `Some` only when
/// the booking needed it. A refusal names what is in the way and offers the
/// provider's next three free slots of the same length.
fn check_slot(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    except: Option<&str>,
    overbook: Option<String>,
    now: DateTime<Utc>,
) -> Result<Option<String>, ApiError> {
    let zone: Tz = directory::zone(conn, tenant)?;
    let day = clinic_day(start, zone);
    let hours = hours::between(conn, tenant, provider, (day, day))?;
    let next = || {
        hours::next_free(
            conn,
            tenant,
            &[provider.to_owned()],
            start.max(now),
            end - start,
            3,
            zone,
        )
    };
    if !hours.covers(start, end, zone) {
        if overbook.is_some() {
            return Ok(overbook);
        }
        let name = directory::provider(conn, tenant, provider)?.name;
        let local = |t: DateTime<Utc>| t.with_timezone(&zone);
        return Err(ApiError::OutsideHours {
            detail: format!(
                "{name} does not work {}–{} on {}",
                local(start).format("%H:%M"),
                local(end).format("%H:%M"),
                local(start).format("%a %-d %b %Y")
            ),
            next_slots: next()?,
        });
    }
    if let Some(other) = hours::in_the_way(conn, tenant, provider, (start, end), except)? {
        if overbook.is_some() {
            return Ok(overbook);
        }
        return Err(ApiError::SlotTaken {
            appointment: Box::new(other),
            next_slots: next()?,
        });
    }
    Ok(None)
}

/// Books a new appointment (status `booked`), by the booking rules; with the
/// patient's whole record when the booking registered them.
pub fn create(
    conn: &Connection,
    tenant: &str,
    req: &CreateAppointment,
    now: DateTime<Utc>,
) -> Result<(Appointment, Option<Patient>), ApiError> {
    check_times(req.start, req.end)?;
    check_reason(&req.reason)?;
    directory::provider(conn, tenant, &req.provider_id)?;
    if let Some(room) = &req.room_id {
        directory::check_room(conn, tenant, room)?;
    }
    if let Some(t) = &req.type_id
        && !hours::appointment_type(conn, tenant, t)?.active
    {
        return Err(ApiError::invalid(format!(
            "appointment type {t} is retired: book with a type in use"
        )));
    }
    let overbook = overbook_reason(req.overbook, req.overbook_reason.as_deref())?;
    let (start, end) = (super::to_millis(req.start), super::to_millis(req.end));
    let overbook_reason = check_slot(
        conn,
        tenant,
        &req.provider_id,
        (start, end),
        None,
        overbook,
        now,
    )?;
    let (patient, registered) = patients::existing_or_new(
        conn,
        tenant,
        req.patient_id.as_deref(),
        req.patient.as_ref(),
    )?;
    let a = Appointment {
        id: new_id("apt"),
        patient,
        provider_id: req.provider_id.clone(),
        room_id: req.room_id.clone(),
        start,
        end,
        status: AppointmentStatus::Booked,
        reason: req.reason.trim().to_owned(),
        type_id: req.type_id.clone(),
        overbook_reason,
        version: 1,
        updated_at: now,
    };
    insert(conn, tenant, &a)?;
    Ok((a, registered))
}

/// Stores an appointment record as given (seeding and `create`).
pub fn insert(conn: &Connection, tenant: &str, a: &Appointment) -> Result<(), ApiError> {
    super::exec(conn,
        "INSERT INTO appointments (id, tenant, patient_id, provider_id, room_id, start, \"end\", status, reason, version, updated_at, type_id, overbook_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            a.id,
            tenant,
            a.patient.id,
            a.provider_id,
            a.room_id,
            fmt_ts(&a.start),
            fmt_ts(&a.end),
            a.status.as_str(),
            a.reason,
            a.version,
            fmt_ts(&a.updated_at),
            a.type_id,
            a.overbook_reason
        ],
    )?;
    Ok(())
}

/// One appointment of a tenant, or `NotFound`.
pub fn get(conn: &Connection, tenant: &str, id: &str) -> Result<Appointment, ApiError> {
    super::one(
        conn,
        &format!("{SELECT} WHERE a.tenant = ?1 AND a.id = ?2"),
        params![tenant, id],
        row,
    )
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("appointment {id}")))
}

/// The tenant's appointments starting in `[from, to)`, by start time.
pub fn in_range(
    conn: &Connection,
    tenant: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Appointment>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE a.tenant = ?1 AND a.start >= ?2 AND a.start < ?3 ORDER BY a.start, a.id"
    ))?;
    let rows = stmt.query_map(params![tenant, fmt_ts(&from), fmt_ts(&to)], row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A patient's appointments: up to `limit` from `now` on (soonest first)
/// and up to `limit` before it (latest first).
pub fn of_patient(
    conn: &Connection,
    tenant: &str,
    patient: &str,
    now: DateTime<Utc>,
    limit: u32,
) -> Result<(Vec<Appointment>, Vec<Appointment>), ApiError> {
    let read = |sql: &str| -> Result<Vec<Appointment>, ApiError> {
        let mut stmt = conn.prepare_cached(&format!("{SELECT} {sql}"))?;
        let rows = stmt.query_map(params![tenant, patient, fmt_ts(&now), limit], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    };
    let upcoming = read(
        "WHERE a.tenant = ?1 AND a.patient_id = ?2 AND a.start >= ?3 ORDER BY a.start, a.id LIMIT ?4",
    )?;
    let past = read(
        "WHERE a.tenant = ?1 AND a.patient_id = ?2 AND a.start < ?3 ORDER BY a.start DESC, a.id DESC LIMIT ?4",
    )?;
    Ok((upcoming, past))
}

/// One page of a tenant's appointments starting in `[from, to)`, optionally
/// of one provider, after `cursor` (the `(start, id)` of the last one of the
/// previous page); also whether more follow.
pub fn page(
    conn: &Connection,
    tenant: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    provider_id: Option<&str>,
    cursor: Option<(DateTime<Utc>, String)>,
    limit: u32,
) -> Result<(Vec<Appointment>, bool), ApiError> {
    let (after_start, after_id) = match &cursor {
        Some((start, id)) => (fmt_ts(start), id.clone()),
        None => (String::new(), String::new()),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE a.tenant = ?1 AND a.start >= ?2 AND a.start < ?3
           AND (?4 IS NULL OR a.provider_id = ?4)
           AND (a.start > ?5 OR (a.start = ?5 AND a.id > ?6))
         ORDER BY a.start, a.id LIMIT ?7"
    ))?;
    let rows = stmt.query_map(
        params![
            tenant,
            fmt_ts(&from),
            fmt_ts(&to),
            provider_id,
            after_start,
            after_id,
            limit + 1
        ],
        row,
    )?;
    let mut out: Vec<Appointment> = rows.collect::<Result<_, _>>()?;
    let more = out.len() > limit as usize;
    out.truncate(limit as usize);
    Ok((out, more))
}

/// Refuses with `409` and the current record unless `version` is current.
pub fn check_version(current: &Appointment, version: u64) -> Result<(), ApiError> {
    if current.version != version {
        return Err(ApiError::Conflict {
            current: serde_json::to_value(current)?,
        });
    }
    Ok(())
}

/// Applies a client's update after checking version and transition. Returns
/// the record and whether anything changed (an update that changes nothing
/// keeps its version and announces nothing).
pub fn update(
    conn: &Connection,
    tenant: &str,
    id: &str,
    req: &UpdateAppointment,
    now: DateTime<Utc>,
) -> Result<(Appointment, bool), ApiError> {
    let before = get(conn, tenant, id)?;
    check_version(&before, req.version)?;
    if req.status == Some(AppointmentStatus::Arrived) && before.status != AppointmentStatus::Arrived
    {
        return Err(ApiError::InvalidTransition(
            "check a patient in with POST /api/queue, which also gives them a ticket".into(),
        ));
    }
    let mut a = before.clone();
    let new_provider = match &req.provider_id {
        Some(id) if *id != a.provider_id => Some(directory::provider(conn, tenant, id)?),
        _ => None,
    };
    if req.start.is_some() || req.end.is_some() || req.provider_id.is_some() {
        if !a.status.can_reschedule() {
            return Err(ApiError::InvalidTransition(format!(
                "a {} appointment cannot be rescheduled",
                a.status
            )));
        }
        a.start = super::to_millis(req.start.unwrap_or(a.start));
        a.end = super::to_millis(req.end.unwrap_or(a.end));
        check_times(a.start, a.end)?;
        if let Some(provider) = new_provider {
            // With another provider, in their room (unless a room is given).
            a.provider_id = provider.id;
            if provider.default_room_id.is_some() {
                a.room_id = provider.default_room_id;
            }
        }
        if (a.start, a.end, &a.provider_id) != (before.start, before.end, &before.provider_id) {
            let overbook = overbook_reason(req.overbook, req.overbook_reason.as_deref())?;
            a.overbook_reason = check_slot(
                conn,
                tenant,
                &a.provider_id,
                (a.start, a.end),
                Some(&a.id),
                overbook,
                now,
            )?;
        }
    }
    if let Some(room) = &req.room_id {
        directory::check_room(conn, tenant, room)?;
        a.room_id = Some(room.clone());
    }
    if let Some(reason) = &req.reason {
        check_reason(reason)?;
        a.reason = reason.trim().to_owned();
    }
    if let Some(status) = req.status
        && status != a.status
    {
        set_status_checked(&mut a, status)?;
    }
    if a == before {
        return Ok((a, false));
    }
    save(conn, tenant, &mut a, now)?;
    Ok((a, true))
}

/// Changes status if the transition table allows it.
pub fn set_status_checked(a: &mut Appointment, status: AppointmentStatus) -> Result<(), ApiError> {
    if !a.status.can_transition_to(status) {
        return Err(ApiError::InvalidTransition(format!(
            "appointment cannot go from {} to {}",
            a.status, status
        )));
    }
    a.status = status;
    Ok(())
}

/// Writes back a changed appointment, bumping its version.
pub fn save(
    conn: &Connection,
    tenant: &str,
    a: &mut Appointment,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    a.version += 1;
    a.updated_at = now;
    super::exec(conn,
        "UPDATE appointments SET room_id = ?3, start = ?4, \"end\" = ?5, status = ?6, reason = ?7, version = ?8, updated_at = ?9,
             overbook_reason = ?10, provider_id = ?11
         WHERE tenant = ?1 AND id = ?2",
        params![
            tenant,
            a.id,
            a.room_id,
            fmt_ts(&a.start),
            fmt_ts(&a.end),
            a.status.as_str(),
            a.reason,
            a.version,
            fmt_ts(&a.updated_at),
            a.overbook_reason,
            a.provider_id
        ],
    )?;
    Ok(())
}
