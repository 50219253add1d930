//! When providers work (weekly hours, date exceptions), the kinds of visit,
//! and the free slots they leave. The slot arithmetic itself is
//! `frontdesk_protocol::schedule`; this module loads its inputs.

use super::{fmt_ts, new_id, parse_enum, parse_ts};
use crate::error::ApiError;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use frontdesk_protocol::api::{NewAppointmentType, NewException, SetHours, UpdateAppointmentType};
use frontdesk_protocol::records::Appointment;
use frontdesk_protocol::schedule::{
    AppointmentType, HoursException, Interval, ProviderHours, Slot, TimeOfDay, Weekday, WorkingDay,
};
use frontdesk_protocol::window::clinic_day;
use rusqlite::{Connection, OptionalExtension, Row, params};

/// Exceptions older than this many days before today are left out of the
/// hours record (a desk has no use for last year's leave).
pub const EXCEPTIONS_BACK_DAYS: i64 = 7;

/// Most days one slot search covers.
pub const SLOT_DAYS_MAX: i64 = 62;

/// How far ahead "the next free slot" looks before saying there is none.
pub const NEXT_SLOT_DAYS: i64 = 90;

/// Statuses that keep a provider busy: a cancelled or missed appointment frees its slot.
const OCCUPYING: &str = "status NOT IN ('cancelled', 'no_show')";

/// The hours a provider gets until an admin sets theirs: Monday to Friday, 08:00–18:00.
pub fn default_weekly() -> Vec<WorkingDay> {
    let (open, close) = (TimeOfDay::hm(8, 0), TimeOfDay::hm(18, 0));
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ]
    .into_iter()
    .filter_map(|weekday| {
        Some(WorkingDay {
            weekday,
            open: open?,
            close: close?,
            breaks: Vec::new(),
        })
    })
    .collect()
}

/// Stores a provider's weekly hours as a new record (version 1).
pub fn insert_weekly(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    weekly: &[WorkingDay],
) -> Result<(), ApiError> {
    super::exec(
        conn,
        "INSERT INTO provider_hours (provider_id, tenant, weekly, version) VALUES (?1, ?2, ?3, 1)",
        params![provider, tenant, serde_json::to_string(weekly)?],
    )?;
    Ok(())
}

/// Gives every provider without hours the default ones (the migration).
pub fn give_default_hours_to_all(conn: &Connection) -> Result<(), ApiError> {
    let mut stmt = conn.prepare(
        "SELECT id, tenant FROM providers WHERE id NOT IN (SELECT provider_id FROM provider_hours)",
    )?;
    let bare: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (provider, tenant) in bare {
        insert_weekly(conn, &tenant, &provider, &default_weekly())?;
    }
    Ok(())
}

fn exception_row(r: &Row<'_>) -> rusqlite::Result<HoursException> {
    let time = |s: Option<String>| s.and_then(|s| s.parse::<TimeOfDay>().ok());
    Ok(HoursException {
        id: r.get(0)?,
        day: r.get::<_, String>(1)?.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?,
        kind: parse_enum(&r.get::<_, String>(2)?)?,
        start: time(r.get(3)?),
        end: time(r.get(4)?),
        note: r.get(5)?,
    })
}

/// A provider's hours with the exceptions on days `first..=last`.
pub fn between(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    (first, last): (NaiveDate, NaiveDate),
) -> Result<ProviderHours, ApiError> {
    let (weekly, version): (String, u64) = super::one(
        conn,
        "SELECT weekly, version FROM provider_hours WHERE tenant = ?1 AND provider_id = ?2",
        params![tenant, provider],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("provider {provider}")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, day, kind, start, \"end\", note FROM hours_exceptions
         WHERE tenant = ?1 AND provider_id = ?2 AND day >= ?3 AND day <= ?4 ORDER BY day, id",
    )?;
    let exceptions = stmt
        .query_map(
            params![tenant, provider, first.to_string(), last.to_string()],
            exception_row,
        )?
        .collect::<Result<_, _>>()?;
    Ok(ProviderHours {
        provider_id: provider.to_owned(),
        weekly: serde_json::from_str(&weekly)?,
        exceptions,
        version,
    })
}

/// A provider's hours as desks hold them: exceptions from a week before `today` on.
pub fn current(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    today: NaiveDate,
) -> Result<ProviderHours, ApiError> {
    let first = today - Duration::days(EXCEPTIONS_BACK_DAYS);
    // The last day stored days compare as text with (`NaiveDate::MAX` prints with a sign).
    let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(today);
    between(conn, tenant, provider, (first, last))
}

/// Every provider's current hours, by provider name.
pub fn all_current(
    conn: &Connection,
    tenant: &str,
    today: NaiveDate,
) -> Result<Vec<ProviderHours>, ApiError> {
    super::directory::providers(conn, tenant)?
        .iter()
        .map(|p| current(conn, tenant, &p.id, today))
        .collect()
}

fn check_version(current: &ProviderHours, version: u64) -> Result<(), ApiError> {
    if current.version != version {
        return Err(ApiError::Conflict {
            current: serde_json::to_value(current)?,
        });
    }
    Ok(())
}

fn bump(conn: &Connection, tenant: &str, provider: &str) -> Result<(), ApiError> {
    super::exec(
        conn,
        "UPDATE provider_hours SET version = version + 1 WHERE tenant = ?1 AND provider_id = ?2",
        params![tenant, provider],
    )?;
    Ok(())
}

/// Replaces a provider's weekly hours (version-checked).
pub fn set_weekly(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    req: &SetHours,
    today: NaiveDate,
) -> Result<ProviderHours, ApiError> {
    let before = current(conn, tenant, provider, today)?;
    check_version(&before, req.version)?;
    if req.weekly.len() > 21 {
        return Err(ApiError::invalid("at most 21 working stretches a week"));
    }
    for day in &req.weekly {
        day.check().map_err(|e| ApiError::invalid(e.0))?;
        if day.breaks.len() > 8 {
            return Err(ApiError::invalid("at most 8 breaks a day"));
        }
    }
    super::exec(
        conn,
        "UPDATE provider_hours SET weekly = ?3, version = version + 1 WHERE tenant = ?1 AND provider_id = ?2",
        params![tenant, provider, serde_json::to_string(&req.weekly)?],
    )?;
    current(conn, tenant, provider, today)
}

/// Adds leave or an extra clinic on one date.
pub fn add_exception(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    req: &NewException,
    today: NaiveDate,
) -> Result<ProviderHours, ApiError> {
    current(conn, tenant, provider, today)?;
    let x = HoursException {
        id: new_id("hx"),
        day: req.day,
        kind: req.kind,
        start: req.start,
        end: req.end,
        note: req.note.trim().to_owned(),
    };
    x.check().map_err(|e| ApiError::invalid(e.0))?;
    if x.note.chars().count() > 200 {
        return Err(ApiError::invalid("note must be at most 200 characters"));
    }
    frontdesk_protocol::text::check("note", &x.note, frontdesk_protocol::text::Lines::One)?;
    if req.day > today + Duration::days(3 * 366) {
        return Err(ApiError::invalid(format!(
            "{} is more than three years ahead",
            req.day
        )));
    }
    if req.day < today - Duration::days(EXCEPTIONS_BACK_DAYS) {
        return Err(ApiError::invalid(format!(
            "{} is more than {EXCEPTIONS_BACK_DAYS} days ago",
            req.day
        )));
    }
    super::exec(
        conn,
        "INSERT INTO hours_exceptions (id, tenant, provider_id, day, kind, start, \"end\", note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            x.id,
            tenant,
            provider,
            x.day.to_string(),
            serde_json::to_value(x.kind)?.as_str(),
            x.start.map(|t| t.to_string()),
            x.end.map(|t| t.to_string()),
            x.note
        ],
    )?;
    bump(conn, tenant, provider)?;
    current(conn, tenant, provider, today)
}

/// Removes an exception; `NotFound` if the provider has no such one.
pub fn remove_exception(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    id: &str,
    today: NaiveDate,
) -> Result<ProviderHours, ApiError> {
    let n = super::exec(
        conn,
        "DELETE FROM hours_exceptions WHERE tenant = ?1 AND provider_id = ?2 AND id = ?3",
        params![tenant, provider, id],
    )?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("exception {id}")));
    }
    bump(conn, tenant, provider)?;
    current(conn, tenant, provider, today)
}

fn type_row(r: &Row<'_>) -> rusqlite::Result<AppointmentType> {
    Ok(AppointmentType {
        id: r.get(0)?,
        name: r.get(1)?,
        minutes: r.get(2)?,
        active: r.get(3)?,
        version: r.get(4)?,
    })
}

/// The clinic's appointment types, by name.
pub fn types(conn: &Connection, tenant: &str) -> Result<Vec<AppointmentType>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, minutes, active, version FROM appointment_types WHERE tenant = ?1 ORDER BY name, id",
    )?;
    let rows = stmt.query_map([tenant], type_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One appointment type, or `NotFound`.
pub fn appointment_type(
    conn: &Connection,
    tenant: &str,
    id: &str,
) -> Result<AppointmentType, ApiError> {
    super::one(
        conn,
        "SELECT id, name, minutes, active, version FROM appointment_types WHERE tenant = ?1 AND id = ?2",
        params![tenant, id],
        type_row,
    )
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("appointment type {id}")))
}

fn check_type(name: &str, minutes: u32) -> Result<(), ApiError> {
    if name.is_empty() || name.chars().count() > 80 {
        return Err(ApiError::invalid(
            "a type's name must be 1 to 80 characters",
        ));
    }
    frontdesk_protocol::text::check("name", name, frontdesk_protocol::text::Lines::One)?;
    if !(5..=720).contains(&minutes) || !minutes.is_multiple_of(5) {
        return Err(ApiError::invalid(
            "a type lasts 5 to 720 minutes, in steps of 5",
        ));
    }
    Ok(())
}

/// Adds an appointment type.
pub fn add_type(
    conn: &Connection,
    tenant: &str,
    req: &NewAppointmentType,
) -> Result<AppointmentType, ApiError> {
    let t = AppointmentType {
        id: new_id("atype"),
        name: req.name.trim().to_owned(),
        minutes: req.minutes,
        active: true,
        version: 1,
    };
    check_type(&t.name, t.minutes)?;
    super::exec(
        conn,
        "INSERT INTO appointment_types (id, tenant, name, minutes, active, version) VALUES (?1, ?2, ?3, ?4, 1, 1)",
        params![t.id, tenant, t.name, t.minutes],
    )?;
    Ok(t)
}

/// Renames, re-times, retires or restores a type (version-checked); whether it changed.
pub fn update_type(
    conn: &Connection,
    tenant: &str,
    id: &str,
    req: &UpdateAppointmentType,
) -> Result<(AppointmentType, bool), ApiError> {
    let before = appointment_type(conn, tenant, id)?;
    if before.version != req.version {
        return Err(ApiError::Conflict {
            current: serde_json::to_value(&before)?,
        });
    }
    let mut t = before.clone();
    if let Some(name) = &req.name {
        t.name = name.trim().to_owned();
    }
    if let Some(minutes) = req.minutes {
        t.minutes = minutes;
    }
    if let Some(active) = req.active {
        t.active = active;
    }
    check_type(&t.name, t.minutes)?;
    if t == before {
        return Ok((t, false));
    }
    t.version += 1;
    super::exec(
        conn,
        "UPDATE appointment_types SET name = ?3, minutes = ?4, active = ?5, version = ?6 WHERE tenant = ?1 AND id = ?2",
        params![tenant, id, t.name, t.minutes, t.active, t.version],
    )?;
    Ok((t, true))
}

/// The times a provider is booked in `[from, to)` (appointments last at
/// most 12 hours, which bounds the index scan), leaving out `except`.
pub fn busy(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    except: Option<&str>,
) -> Result<Vec<Interval>, ApiError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT start, \"end\" FROM appointments
         WHERE tenant = ?1 AND provider_id = ?2 AND start >= ?3 AND start < ?4 AND \"end\" > ?5
           AND {OCCUPYING} AND (?6 IS NULL OR id != ?6)
         ORDER BY start"
    ))?;
    let rows = stmt.query_map(
        params![
            tenant,
            provider,
            fmt_ts(&(from - Duration::hours(12))),
            fmt_ts(&to),
            fmt_ts(&from),
            except
        ],
        |r| {
            Ok((
                parse_ts(&r.get::<_, String>(0)?)?,
                parse_ts(&r.get::<_, String>(1)?)?,
            ))
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The first appointment of `provider` overlapping `[start, end)`, other than `except`.
pub fn in_the_way(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    except: Option<&str>,
) -> Result<Option<Appointment>, ApiError> {
    let id: Option<String> = super::one(
        conn,
        &format!(
            "SELECT id FROM appointments
             WHERE tenant = ?1 AND provider_id = ?2 AND start >= ?3 AND start < ?4 AND \"end\" > ?5
               AND {OCCUPYING} AND (?6 IS NULL OR id != ?6)
             ORDER BY start, id LIMIT 1"
        ),
        params![
            tenant,
            provider,
            fmt_ts(&(start - Duration::hours(12))),
            fmt_ts(&end),
            fmt_ts(&start),
            except
        ],
        |r| r.get(0),
    )
    .optional()?;
    id.map(|id| super::appointments::get(conn, tenant, &id))
        .transpose()
}

/// A provider's free slots of `length` in `[from, to)`, none before `now`.
pub fn free_slots(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    length: Duration,
    now: DateTime<Utc>,
    zone: Tz,
) -> Result<Vec<Slot>, ApiError> {
    let days = (clinic_day(from, zone), clinic_day(to, zone));
    let hours = between(conn, tenant, provider, days)?;
    let busy = busy(conn, tenant, provider, (from, to), None)?;
    Ok(hours.free_slots(zone, &busy, (from, to), length, now))
}

/// The earliest `limit` free slots of `length` from `after` among
/// `providers`, looking up to [`NEXT_SLOT_DAYS`] ahead a fortnight at a time.
pub fn next_free(
    conn: &Connection,
    tenant: &str,
    providers: &[String],
    after: DateTime<Utc>,
    length: Duration,
    limit: usize,
    zone: Tz,
) -> Result<Vec<Slot>, ApiError> {
    let mut found: Vec<Slot> = Vec::new();
    let mut from = after;
    let horizon = after + Duration::days(NEXT_SLOT_DAYS);
    while from < horizon {
        let to = (from + Duration::days(14)).min(horizon);
        // Every slot of this fortnight is earlier than any of the next, so
        // the earliest `limit` so far are final once there are that many.
        let mut fortnight = Vec::new();
        for p in providers {
            let mut slots = free_slots(conn, tenant, p, (from, to), length, after, zone)?;
            slots.truncate(limit);
            fortnight.extend(slots);
        }
        fortnight.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then_with(|| a.provider_id.cmp(&b.provider_id))
        });
        found.extend(fortnight);
        if found.len() >= limit {
            break;
        }
        from = to;
    }
    found.truncate(limit);
    Ok(found)
}
