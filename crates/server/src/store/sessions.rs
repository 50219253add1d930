//! Logins and their rotating refresh tokens.
//!
//! A login is one sign-in on one device. Each refresh spends its token and
//! issues the next; the token is stored only as a SHA-256 hash. Presenting a
//! token that was already spent means it leaked (or a client replayed it), so
//! the whole login is revoked and every token of it stops working.

use super::{fmt_ts, new_id, parse_ts};
use crate::error::ApiError;
use base64::Engine;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// A new token; the old one is spent.
    Rotated {
        tenant: String,
        user_id: String,
        login: String,
        refresh_token: String,
    },
    /// The token was already spent; the login is now revoked.
    Reused { tenant: String, login: String },
}

fn hash(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

fn mint(
    conn: &Connection,
    login_id: &str,
    ttl_secs: u64,
    now: DateTime<Utc>,
) -> Result<String, ApiError> {
    let raw: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let expires = now + chrono::Duration::seconds(ttl_secs as i64);
    super::exec(
        conn,
        "INSERT INTO refresh_tokens (hash, login_id, expires_at) VALUES (?1, ?2, ?3)",
        params![hash(&token), login_id, fmt_ts(&expires)],
    )?;
    Ok(token)
}

/// Starts a login and returns its id and first refresh token.
pub fn start(
    conn: &Connection,
    tenant: &str,
    user_id: &str,
    ttl_secs: u64,
    now: DateTime<Utc>,
) -> Result<(String, String), ApiError> {
    let login = new_id("login");
    super::exec(
        conn,
        "INSERT INTO logins (id, tenant, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![login, tenant, user_id, fmt_ts(&now)],
    )?;
    let token = mint(conn, &login, ttl_secs, now)?;
    Ok((login, token))
}

/// Whether a login is still good (not revoked, not pruned).
pub fn is_active(conn: &Connection, login: &str) -> Result<bool, ApiError> {
    let found: Option<i64> = super::one(
        conn,
        "SELECT 1 FROM logins WHERE id = ?1 AND revoked_at IS NULL",
        [login],
        |r| r.get(0),
    )
    .optional()?;
    Ok(found.is_some())
}

/// A stored refresh token joined with its login.
struct TokenRow {
    login: String,
    expires: String,
    spent: Option<String>,
    tenant: String,
    user_id: String,
    revoked: Option<String>,
}

/// Spends a refresh token. Commit the transaction whatever the outcome: a
/// `Reused` revocation must stick.
pub fn rotate(
    conn: &Connection,
    token: &str,
    ttl_secs: u64,
    now: DateTime<Utc>,
) -> Result<Rotation, ApiError> {
    let row = conn
        .query_row(
            "SELECT t.login_id, t.expires_at, t.spent_at, l.tenant, l.user_id, l.revoked_at
             FROM refresh_tokens t JOIN logins l ON l.id = t.login_id WHERE t.hash = ?1",
            [hash(token)],
            |r| {
                Ok(TokenRow {
                    login: r.get(0)?,
                    expires: r.get(1)?,
                    spent: r.get(2)?,
                    tenant: r.get(3)?,
                    user_id: r.get(4)?,
                    revoked: r.get(5)?,
                })
            },
        )
        .optional()?;
    let Some(TokenRow {
        login,
        expires,
        spent,
        tenant,
        user_id,
        revoked,
    }) = row
    else {
        return Err(ApiError::Unauthorized("refresh token unknown".into()));
    };
    if revoked.is_some() {
        return Err(ApiError::Unauthorized(
            "this login has been revoked; sign in again".into(),
        ));
    }
    if spent.is_some() {
        revoke(conn, &login, "refresh token reused", now)?;
        return Ok(Rotation::Reused { tenant, login });
    }
    if parse_ts(&expires)? <= now {
        return Err(ApiError::Unauthorized(
            "refresh token expired; sign in again".into(),
        ));
    }
    super::exec(
        conn,
        "UPDATE refresh_tokens SET spent_at = ?2 WHERE hash = ?1",
        params![hash(token), fmt_ts(&now)],
    )?;
    let refresh_token = mint(conn, &login, ttl_secs, now)?;
    Ok(Rotation::Rotated {
        tenant,
        user_id,
        login,
        refresh_token,
    })
}

/// Revokes a login: none of its refresh tokens work any more.
pub fn revoke(
    conn: &Connection,
    login_id: &str,
    why: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    super::exec(
        conn,
        "UPDATE logins SET revoked_at = ?2, revoked_why = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        params![login_id, fmt_ts(&now), why],
    )?;
    Ok(())
}

/// Revokes every login of a user but `keep` (deactivation, a new password);
/// returns the revoked login ids, whose sockets must close.
pub fn revoke_all_of(
    conn: &Connection,
    tenant: &str,
    user: &str,
    keep: Option<&str>,
    why: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM logins WHERE tenant = ?1 AND user_id = ?2 AND revoked_at IS NULL
           AND (?3 IS NULL OR id != ?3)",
    )?;
    let ids: Vec<String> = stmt
        .query_map(params![tenant, user, keep], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in &ids {
        revoke(conn, id, why, now)?;
    }
    Ok(ids)
}

/// Revokes the login a (current) refresh token belongs to: sign-out.
/// Returns the login's tenant and id, if the token was known.
pub fn revoke_by_token(
    conn: &Connection,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, String)>, ApiError> {
    let login: Option<(String, String)> = conn
        .query_row(
            "SELECT l.tenant, l.id FROM refresh_tokens t JOIN logins l ON l.id = t.login_id
             WHERE t.hash = ?1",
            [hash(token)],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((_, l)) = &login {
        revoke(conn, l, "signed out", now)?;
    }
    Ok(login)
}

/// Deletes refresh tokens that expired more than a day ago (spent or not) and
/// the logins left without any: they can no longer be used, and reuse
/// detection does not need them.
pub fn prune_expired(conn: &Connection, now: DateTime<Utc>) -> Result<usize, ApiError> {
    let cut = now - chrono::Duration::days(1);
    let tokens = super::exec(
        conn,
        "DELETE FROM refresh_tokens WHERE expires_at < ?1",
        [fmt_ts(&cut)],
    )?;
    // Logins with no token left are over (expired, or revoked and pruned).
    super::exec(
        conn,
        "DELETE FROM logins WHERE NOT EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.login_id = logins.id)",
        [],
    )?;
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::directory;
    use frontdesk_protocol::records::Role;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&mut c).unwrap();
        directory::create_tenant(&c, "t", "T", "UTC").unwrap();
        c
    }

    fn at() -> DateTime<Utc> {
        "2026-11-22T09:00:00Z".parse().unwrap()
    }

    #[test]
    fn rotation_reuse_and_pruning() {
        let c = db();
        let u = directory::create_user(&c, "t", "a", "A", Role::Admin, "x").unwrap();
        let (login, first) = start(&c, "t", &u.id, 3600, at()).unwrap();
        assert!(is_active(&c, &login).unwrap());
        let Rotation::Rotated {
            refresh_token: second,
            ..
        } = rotate(&c, &first, 3600, at()).unwrap()
        else {
            panic!("rotates")
        };
        match rotate(&c, &first, 3600, at()).unwrap() {
            Rotation::Reused { tenant, login: l } => {
                assert_eq!((tenant.as_str(), l), ("t", login.clone()))
            }
            other => panic!("a reuse, not {other:?}"),
        }
        assert!(
            !is_active(&c, &login).unwrap(),
            "the reuse revoked the login"
        );
        assert!(
            rotate(&c, &second, 3600, at())
                .unwrap_err()
                .to_string()
                .contains("revoked")
        );
        // An already-expired token is refused, then pruned with its login.
        let (_, old) = start(&c, "t", &u.id, 0, at()).unwrap();
        assert!(
            rotate(&c, &old, 0, at())
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
        c.execute(
            "UPDATE refresh_tokens SET expires_at = '2000-01-01T00:00:00.000Z'",
            [],
        )
        .unwrap();
        assert_eq!(prune_expired(&c, at()).unwrap(), 3);
        let logins: i64 = c
            .query_row("SELECT COUNT(*) FROM logins", [], |r| r.get(0))
            .unwrap();
        assert_eq!(logins, 0);
    }

    #[test]
    fn idempotency_keys_expire() {
        let c = db();
        let answer = crate::store::idempotency::StoredAnswer {
            status: 201,
            body: "{}".into(),
        };
        crate::store::idempotency::store(&c, "t", "u", "k", "fp", &answer, at()).unwrap();
        assert_eq!(crate::store::idempotency::prune(&c, 7, at()).unwrap(), 0);
        c.execute(
            "UPDATE idempotency SET created_at = '2000-01-01T00:00:00.000Z'",
            [],
        )
        .unwrap();
        assert_eq!(crate::store::idempotency::prune(&c, 7, at()).unwrap(), 1);
    }
}
