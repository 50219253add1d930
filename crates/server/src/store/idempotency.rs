//! Idempotency keys: the first answer to a mutation is stored with its key, and
//! a repeat of the same request gets that answer again instead of a second change.

use super::fmt_ts;
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// A stored answer: HTTP status and JSON body.
#[derive(Debug, Clone)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
}

/// Checks a key's shape: 1–200 visible ASCII characters.
pub fn validate_key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "Idempotency-Key must be 1 to 200 visible ASCII characters",
        ));
    }
    Ok(())
}

/// A digest of what was asked, so the same key with another request is caught.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update([0]);
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    format!("{:x}", h.finalize())
}

/// The earlier answer for this key, if any; `IdempotencyKeyReused` if the key
/// was used for a different request.
pub fn lookup(
    conn: &Connection,
    tenant: &str,
    user: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Option<StoredAnswer>, ApiError> {
    let row: Option<(String, u16, String)> = conn
        .query_row(
            "SELECT fingerprint, status, body FROM idempotency WHERE tenant = ?1 AND user_id = ?2 AND key = ?3",
            params![tenant, user, key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    match row {
        None => Ok(None),
        Some((fp, _, _)) if fp != fingerprint => Err(ApiError::IdempotencyKeyReused),
        Some((_, status, body)) => Ok(Some(StoredAnswer { status, body })),
    }
}

/// Remembers the answer given for this key.
pub fn store(
    conn: &Connection,
    tenant: &str,
    user: &str,
    key: &str,
    fingerprint: &str,
    answer: &StoredAnswer,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    super::exec(
        conn,
        "INSERT INTO idempotency (tenant, user_id, key, fingerprint, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            tenant,
            user,
            key,
            fingerprint,
            answer.status,
            answer.body,
            fmt_ts(&now)
        ],
    )?;
    Ok(())
}

/// Forgets keys older than `days`; a client retrying after that long gets a fresh attempt.
pub fn prune(conn: &Connection, days: i64, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let cut = now - chrono::Duration::days(days);
    Ok(super::exec(
        conn,
        "DELETE FROM idempotency WHERE created_at < ?1",
        [fmt_ts(&cut)],
    )?)
}
