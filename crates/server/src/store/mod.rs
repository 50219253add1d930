//! Storage: each module reads and writes one kind of record with plain SQL.
//!
//! Functions here take a `&Connection` (a transaction derefs to one) and do no
//! locking of their own: the caller decides the transaction, so a mutation and
//! the event that announces it always commit together. Nothing here reads the
//! clock: a function that stamps a record takes `now` (the request's time,
//! from the server's injected clock).

pub mod appointments;
pub mod audit;
pub mod directory;
pub mod events;
pub mod hours;
pub mod idempotency;
pub mod messages;
pub mod patients;
pub mod queue;
pub mod scope;
pub mod sessions;
pub mod snapshot;

use chrono::{DateTime, SecondsFormat, Utc};

/// Runs a statement through the connection's prepared-statement cache: the
/// mutation path runs the same few statements thousands of times a second,
/// and compiling SQL each time would cost more than running it.
pub fn exec<P: rusqlite::Params>(
    conn: &rusqlite::Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// Reads one row through the prepared-statement cache (see [`exec`]).
pub fn one<T, P, F>(conn: &rusqlite::Connection, sql: &str, params: P, f: F) -> rusqlite::Result<T>
where
    P: rusqlite::Params,
    F: FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
{
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// A new opaque id with a short prefix saying what it names (`apt_…`).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// `t` truncated to whole milliseconds, the precision the database keeps.
pub fn to_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// The clinic's calendar day for `t` in its time zone `zone`: tickets are
/// numbered per day and the queue shows the day's tickets.
pub fn clinic_day(t: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    t.with_timezone(&zone).date_naive().to_string()
}

/// Database and wire form of a timestamp.
pub fn fmt_ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a stored timestamp inside a row mapper.
pub fn parse_ts(s: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })
}

/// Reads a stored enum (status, role) by its serde name inside a row mapper.
pub fn parse_enum<T: serde::de::DeserializeOwned>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Initials of a name, for places a full name must not appear (`Maria Kowalski` → `M.K.`).
pub fn initials(name: &str) -> String {
    let letters: Vec<String> = name
        .split_whitespace()
        .filter_map(|w| w.chars().next())
        .filter(|c| c.is_alphabetic())
        .map(|c| format!("{}.", c.to_uppercase()))
        .collect();
    match letters.len() {
        0 => "?".to_owned(),
        1 => letters[0].clone(),
        n => format!("{}{}", letters[0], letters[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn initials_use_first_and_last_name() {
        assert_eq!(super::initials("Maria Anna Kowalski"), "M.K.");
        assert_eq!(super::initials("cher"), "C.");
        assert_eq!(super::initials("  "), "?");
        assert_eq!(super::initials("Łucja Żak"), "Ł.Ż.");
    }
}
