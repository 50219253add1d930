//! The local cache: one SQLCipher-encrypted SQLite file per server + tenant +
//! user, holding the records the desk shows, the last applied `seq`, and the
//! outbox of actions not yet confirmed by the server.
//!
//! Records are stored as the JSON the server sent, keyed by kind and id: the
//! cache mirrors the server, it does not reinterpret it. Applying events is
//! idempotent (a `seq` already applied is skipped) and refuses to skip ahead
//! (a gap is reported, so the caller replays instead).

mod apply;
pub(crate) mod day;
pub mod outbox;

pub use apply::{Applied, FETCHED_DAYS_KEPT};
pub use day::{DayHeld, DayView};

use crate::error::{EngineError, Result};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// The 32-byte key that encrypts a cache file (kept in the OS keyring).
#[derive(Clone)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    /// A new random key.
    pub fn generate() -> CacheKey {
        CacheKey(rand::random())
    }

    /// Lowercase hex, the form stored in the keyring.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses [`CacheKey::to_hex`] output.
    pub fn from_hex(s: &str) -> Option<CacheKey> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(chunk).ok()?;
            out[i] = u8::from_str_radix(hex, 16).ok()?;
        }
        Some(CacheKey(out))
    }
}

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(…)")
    }
}

/// The kinds of record the cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    User,
    Provider,
    Room,
    Patient,
    Appointment,
    Queue,
    Thread,
    Message,
    ReadMarker,
    Notification,
    Presence,
    /// A provider's hours (keyed by provider id).
    Hours,
    AppointmentType,
}

impl Kind {
    /// Every kind, for exports and wipes.
    pub const ALL: [Kind; 13] = [
        Kind::User,
        Kind::Provider,
        Kind::Room,
        Kind::Patient,
        Kind::Appointment,
        Kind::Queue,
        Kind::Thread,
        Kind::Message,
        Kind::ReadMarker,
        Kind::Notification,
        Kind::Presence,
        Kind::Hours,
        Kind::AppointmentType,
    ];

    /// The name stored in the `records.kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Provider => "provider",
            Kind::Room => "room",
            Kind::Patient => "patient",
            Kind::Appointment => "appointment",
            Kind::Queue => "queue",
            Kind::Thread => "thread",
            Kind::Message => "message",
            Kind::ReadMarker => "read_marker",
            Kind::Notification => "notification",
            Kind::Presence => "presence",
            Kind::Hours => "hours",
            Kind::AppointmentType => "appointment_type",
        }
    }
}

const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE records (
    kind  TEXT NOT NULL,
    id    TEXT NOT NULL,
    -- ordering key within a kind (start time, created_at, …) so lists come out sorted
    sort  TEXT NOT NULL,
    data  TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX records_by_sort ON records (kind, sort, id);
CREATE TABLE outbox (
    n            INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL UNIQUE,
    action       TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    error        TEXT,
    conflict     TEXT
);
"#,
    r#"
-- Clinic days outside the sync window fetched for the screen: their UTC
-- range (appointments whose start falls in it belong to the day) and when
-- they were fetched ("as of 09:42" offline).
CREATE TABLE fetched_days (
    day        TEXT PRIMARY KEY,
    start      TEXT NOT NULL,
    end        TEXT NOT NULL,
    fetched_at TEXT NOT NULL
) WITHOUT ROWID;
"#,
];

/// Schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// An open cache.
pub struct Cache {
    conn: Connection,
}

impl Cache {
    /// Opens (creating if needed) the cache at `path` with `key`, checks it,
    /// and migrates it. A wrong key or a file that is not a cache gives
    /// [`EngineError::CacheKey`]; a damaged one [`EngineError::CacheCorrupt`].
    pub fn open(path: &Path, key: &CacheKey) -> Result<Cache> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        )?;
        // The key must be set before anything else touches the file.
        conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.to_hex()))?;
        // The first read is where a wrong key shows.
        match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        }) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::NotADatabase) =>
            {
                return Err(EngineError::CacheKey);
            }
            Err(e) => return Err(e.into()),
        }
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .map_err(|e| EngineError::CacheCorrupt(e.to_string()))?;
        if check != "ok" {
            return Err(EngineError::CacheCorrupt(check));
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // Room for every statement the cache runs (see `run`).
        conn.set_prepared_statement_cache_capacity(64);
        // What leaves the cache (logout, records out of the sync window) is
        // overwritten on disk, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let mut cache = Cache { conn };
        cache.migrate()?;
        Ok(cache)
    }

    fn migrate(&mut self) -> Result<()> {
        let current: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if current > SCHEMA_VERSION {
            return Err(EngineError::CacheTooNew {
                found: current,
                known: SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Deletes a cache file and its WAL and shared-memory files (logout).
    pub fn wipe(path: &Path) -> Result<()> {
        for suffix in ["", "-wal", "-shm"] {
            let p = path.with_file_name(format!(
                "{}{suffix}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default()
            ));
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// A metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        meta(&self.conn, key)
    }

    /// Sets a metadata value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        set_meta(&self.conn, key, value)
    }

    /// The last applied `seq`, or `None` if no snapshot was ever taken.
    pub fn last_seq(&self) -> Result<Option<u64>> {
        self.meta(META_LAST_SEQ)?
            .map(|s| {
                s.parse()
                    .map_err(|_| EngineError::CacheCorrupt(format!("last_seq = {s:?}")))
            })
            .transpose()
    }

    /// The id of the event at [`Cache::last_seq`], if known.
    pub fn last_event_id(&self) -> Result<Option<String>> {
        self.meta(META_LAST_EVENT_ID)
    }

    /// One record by id.
    pub fn get<T: DeserializeOwned>(&self, kind: Kind, id: &str) -> Result<Option<T>> {
        let data: Option<String> = row(
            &self.conn,
            "SELECT data FROM records WHERE kind = ?1 AND id = ?2",
            params![kind.as_str(), id],
            |r| r.get(0),
        )
        .optional()?;
        data.map(|d| serde_json::from_str(&d).map_err(|e| EngineError::CacheCorrupt(e.to_string())))
            .transpose()
    }

    /// Every record of a kind, in its natural order.
    pub fn list<T: DeserializeOwned>(&self, kind: Kind) -> Result<Vec<T>> {
        self.records(
            "SELECT data FROM records WHERE kind = ?1 ORDER BY sort, id",
            params![kind.as_str()],
        )
    }

    /// The records a `SELECT data …` finds, decoded.
    pub(crate) fn records<T: DeserializeOwned>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(args, |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(
                serde_json::from_str(&row?)
                    .map_err(|e| EngineError::CacheCorrupt(e.to_string()))?,
            );
        }
        Ok(out)
    }

    /// The appointments starting in `[start, end)`, by start: one day's
    /// schedule read without the rest of the cache.
    pub fn appointments_between(
        &self,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<frontdesk_protocol::records::Appointment>> {
        self.records(
            "SELECT data FROM records WHERE kind = ?1 AND sort >= ?2 AND sort < ?3 ORDER BY sort, id",
            params![
                Kind::Appointment.as_str(),
                apply::ts(&start),
                apply::ts(&end)
            ],
        )
    }

    /// The messages of one thread the cache holds, oldest first.
    pub fn messages_in(&self, thread: &str) -> Result<Vec<frontdesk_protocol::records::Message>> {
        self.records(
            "SELECT data FROM records WHERE kind = ?1 AND json_extract(data, '$.thread_id') = ?2
             ORDER BY sort, id",
            params![Kind::Message.as_str(), thread],
        )
    }

    /// How many records of a kind the cache holds.
    pub fn count(&self, kind: Kind) -> Result<u64> {
        Ok(row(
            &self.conn,
            "SELECT count(*) FROM records WHERE kind = ?1",
            [kind.as_str()],
            |r| r.get(0),
        )?)
    }

    /// Stores presence as last seen (ephemeral events have no `seq`).
    pub fn put_presence(&self, p: &frontdesk_protocol::records::Presence) -> Result<()> {
        upsert(&self.conn, Kind::Presence, &p.user, &p.user, p)
    }
}

/// Meta key of the last applied `seq`.
pub const META_LAST_SEQ: &str = "last_seq";
/// Meta key of the id of the event at `last_seq`, sent back on replay so a
/// server restored from a backup is recognised.
pub const META_LAST_EVENT_ID: &str = "last_event_id";
/// Meta keys of the clinic days of the sync window whose appointments the
/// cache holds (a run of days): the days of the window outside it are
/// fetched (after a snapshot, which holds today only; after a midnight,
/// perhaps while offline).
pub const META_WINDOW_FROM: &str = "window_from";
pub const META_WINDOW_TO: &str = "window_to";
/// Meta key of when the cache was last known to match the server (RFC 3339).
pub const META_SYNCED_AT: &str = "synced_at";

/// Runs one statement through the connection's statement cache. The same
/// few statements run for every event, and parsing them again each time was
/// a third of what applying an event cost.
pub(crate) fn run(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(args)
}

/// One row of a query, through the statement cache (see [`run`]).
pub(crate) fn row<T>(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(args, f)
}

fn meta(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(
        row(conn, "SELECT value FROM meta WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?,
    )
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    run(
        conn,
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

fn upsert<T: Serialize>(
    conn: &Connection,
    kind: Kind,
    id: &str,
    sort: &str,
    record: &T,
) -> Result<()> {
    run(
        conn,
        "INSERT INTO records (kind, id, sort, data) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, id) DO UPDATE SET sort = excluded.sort, data = excluded.data",
        params![kind.as_str(), id, sort, serde_json::to_string(record)?],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
