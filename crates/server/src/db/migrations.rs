//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! Each entry of [`MIGRATIONS`] moves the schema one version forward and runs
//! in its own transaction; a database newer than this binary is refused rather
//! than guessed at.

use crate::error::ApiError;
use rusqlite::Connection;

/// A migration's SQL, and the Rust step that fills what SQL cannot compute.
type Migration = (
    &'static str,
    Option<fn(&Connection) -> Result<(), ApiError>>,
);

/// Migration `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    (
        r#"
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    next_seq    INTEGER NOT NULL DEFAULT 1,
    -- events with seq below this have been pruned; replay from before it gets 410
    oldest_seq  INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants(id),
    username      TEXT NOT NULL,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    UNIQUE (tenant, username)
);
CREATE TABLE patients (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    initials    TEXT NOT NULL,
    birth_date  TEXT,
    phone       TEXT
);
CREATE TABLE rooms (
    id      TEXT PRIMARY KEY,
    tenant  TEXT NOT NULL REFERENCES tenants(id),
    name    TEXT NOT NULL
);
CREATE TABLE providers (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL REFERENCES tenants(id),
    name            TEXT NOT NULL,
    user_id         TEXT REFERENCES users(id),
    ticket_prefix   TEXT NOT NULL,
    default_room_id TEXT REFERENCES rooms(id)
);
CREATE TABLE appointments (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    patient_id  TEXT NOT NULL REFERENCES patients(id),
    provider_id TEXT NOT NULL REFERENCES providers(id),
    room_id     TEXT REFERENCES rooms(id),
    start       TEXT NOT NULL,
    "end"       TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX appointments_by_day ON appointments (tenant, start);
CREATE TABLE queue_entries (
    id              TEXT PRIMARY KEY,
    tenant          TEXT NOT NULL REFERENCES tenants(id),
    day             TEXT NOT NULL,
    ticket          TEXT NOT NULL,
    provider_id     TEXT NOT NULL REFERENCES providers(id),
    room_id         TEXT REFERENCES rooms(id),
    patient_id      TEXT NOT NULL REFERENCES patients(id),
    appointment_id  TEXT REFERENCES appointments(id),
    status          TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    arrived_at      TEXT NOT NULL,
    called_at       TEXT,
    version         INTEGER NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (tenant, provider_id, day, ticket)
);
CREATE INDEX queue_by_provider ON queue_entries (tenant, provider_id, status);
CREATE TABLE threads (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    title       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE thread_members (
    thread_id   TEXT NOT NULL REFERENCES threads(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (thread_id, user_id)
) WITHOUT ROWID;
CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    thread_id   TEXT NOT NULL REFERENCES threads(id),
    client_id   TEXT NOT NULL,
    author_id   TEXT NOT NULL REFERENCES users(id),
    body        TEXT NOT NULL,
    urgent      INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (thread_id, author_id, client_id)
);
CREATE INDEX messages_by_thread ON messages (thread_id, created_at);
CREATE TABLE read_markers (
    thread_id   TEXT NOT NULL REFERENCES threads(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    message_id  TEXT NOT NULL REFERENCES messages(id),
    at          TEXT NOT NULL,
    PRIMARY KEY (thread_id, user_id)
) WITHOUT ROWID;
CREATE TABLE notifications (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    kind          TEXT NOT NULL,
    title         TEXT NOT NULL,
    body          TEXT NOT NULL,
    urgency       TEXT NOT NULL,
    subject_kind  TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX notifications_by_user ON notifications (user_id, created_at);
CREATE TABLE events (
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    seq         INTEGER NOT NULL,
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    data        TEXT NOT NULL,
    -- JSON array of user ids allowed to see data; NULL = the whole tenant
    audience    TEXT,
    PRIMARY KEY (tenant, seq)
) WITHOUT ROWID;
CREATE TABLE logins (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    revoked_why TEXT
);
CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    login_id    TEXT NOT NULL REFERENCES logins(id),
    expires_at  TEXT NOT NULL,
    spent_at    TEXT
) WITHOUT ROWID;
CREATE TABLE idempotency (
    tenant      TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (tenant, user_id, key)
) WITHOUT ROWID;
CREATE TABLE displays (
    id            TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL REFERENCES tenants(id),
    name          TEXT NOT NULL,
    provider_ids  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
);
"#,
        None,
    ),
    (
        r#"
-- The clinic's own time zone (IANA name): its calendar day numbers tickets
-- and bounds today's queue, whatever zone the server machine runs in.
ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
-- The desk's sync window, in clinic-local days around today: what a desk
-- caches and is kept live about (protocol "sync scope").
ALTER TABLE tenants ADD COLUMN window_days_back INTEGER NOT NULL DEFAULT 7;
ALTER TABLE tenants ADD COLUMN window_days_ahead INTEGER NOT NULL DEFAULT 30;
-- For an event that moved an appointment: where it started before, so a
-- replay can tell the clients that held it that it left their window.
ALTER TABLE events ADD COLUMN moved_from TEXT;
"#,
        None,
    ),
    (
        r#"
-- Patient search and duplicate detection (store/patients.rs): the folded
-- name's sorted words, and an index of name words and phone-digit endings.
ALTER TABLE patients ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
ALTER TABLE patients ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE INDEX patients_by_name_key ON patients (tenant, name_key, birth_date);
CREATE INDEX patients_by_birth ON patients (tenant, birth_date);
CREATE TABLE patient_terms (
    tenant      TEXT NOT NULL,
    term        TEXT NOT NULL,
    patient_id  TEXT NOT NULL REFERENCES patients(id),
    PRIMARY KEY (tenant, term, patient_id)
) WITHOUT ROWID;
CREATE INDEX patient_terms_by_patient ON patient_terms (patient_id);
-- A patient's appointments, and a provider's day, without a scan.
CREATE INDEX appointments_by_patient ON appointments (tenant, patient_id, start);
CREATE INDEX appointments_by_provider ON appointments (tenant, provider_id, start);
CREATE INDEX queue_by_patient ON queue_entries (tenant, patient_id);
-- Staff accounts an admin deactivated: they cannot sign in, their logins
-- are revoked and their sockets closed.
ALTER TABLE users ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
-- The audit trail of access to patient data (store/audit.rs): append-only,
-- each row's hash covering the row and the hash before it.
CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY,
    tenant       TEXT NOT NULL,
    at           TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    login_id     TEXT,
    address      TEXT,
    access       TEXT NOT NULL,
    patient_ids  TEXT NOT NULL,
    detail       TEXT NOT NULL,
    prev_hash    TEXT NOT NULL,
    hash         TEXT NOT NULL
);
CREATE INDEX audit_by_time ON audit (tenant, at);
CREATE TABLE audit_patients (
    seq         INTEGER NOT NULL,
    tenant      TEXT NOT NULL,
    patient_id  TEXT NOT NULL,
    PRIMARY KEY (tenant, patient_id, seq)
) WITHOUT ROWID;
-- Who started a conversation (new conversations per user are capped).
ALTER TABLE threads ADD COLUMN created_by TEXT;
CREATE INDEX threads_by_creator ON threads (tenant, created_by, created_at);
-- Booking rules: when each provider works, and the kinds of visit.
CREATE TABLE provider_hours (
    provider_id TEXT PRIMARY KEY REFERENCES providers(id),
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    -- JSON array of WorkingDay
    weekly      TEXT NOT NULL,
    version     INTEGER NOT NULL
);
CREATE TABLE hours_exceptions (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    provider_id TEXT NOT NULL REFERENCES providers(id),
    day         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    start       TEXT,
    "end"       TEXT,
    note        TEXT NOT NULL
);
CREATE INDEX hours_exceptions_by_day ON hours_exceptions (provider_id, day);
CREATE TABLE appointment_types (
    id          TEXT PRIMARY KEY,
    tenant      TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    minutes     INTEGER NOT NULL,
    active      INTEGER NOT NULL,
    version     INTEGER NOT NULL
);
ALTER TABLE appointments ADD COLUMN type_id TEXT REFERENCES appointment_types(id);
ALTER TABLE appointments ADD COLUMN overbook_reason TEXT;
"#,
        Some(upgrade_to_booking_rules),
    ),
    (
        r#"
-- A desk locks itself after this long without input (the shared PC).
ALTER TABLE tenants ADD COLUMN lock_after_seconds INTEGER NOT NULL DEFAULT 300;
"#,
        None,
    ),
];

/// Indexes the patients already stored, and gives the providers already
/// there the default hours (an admin sets their real ones).
fn upgrade_to_booking_rules(conn: &Connection) -> Result<(), ApiError> {
    crate::store::patients::index_all(conn)?;
    crate::store::hours::give_default_hours_to_all(conn)
}

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the schema up to [`SCHEMA_VERSION`].
pub fn migrate(conn: &mut Connection) -> Result<(), ApiError> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(ApiError::internal(format!(
            "database schema version {current} is newer than this server ({SCHEMA_VERSION}); refusing to open it"
        )));
    }
    for (i, (sql, step)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if let Some(step) = step {
            step(&tx)?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c).unwrap();
        migrate(&mut c).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(migrate(&mut c).is_err());
    }
}
