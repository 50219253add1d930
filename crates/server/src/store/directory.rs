//! The slow-changing records: tenants, users, rooms, providers and display
//! boards.

use super::{fmt_ts, new_id, parse_enum, parse_ts};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use frontdesk_protocol::records::{Display, Provider, Role, Room, Tenant, User};
use frontdesk_protocol::schedule::WorkingDay;
use rusqlite::{Connection, OptionalExtension, Row, params};

/// A user with the fields login needs.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// Creates a tenant (used by seeding and tests) in time zone `zone` (IANA).
pub fn create_tenant(
    conn: &Connection,
    id: &str,
    name: &str,
    zone: &str,
) -> Result<Tenant, ApiError> {
    if zone.parse::<Tz>().is_err() {
        return Err(ApiError::invalid(format!("{zone:?} is not a time zone")));
    }
    super::exec(
        conn,
        "INSERT INTO tenants (id, name, time_zone) VALUES (?1, ?2, ?3)",
        params![id, name, zone],
    )?;
    tenant(conn, id)?.ok_or_else(|| ApiError::internal(format!("tenant {id} vanished")))
}

/// Stores a tenant's settings (name, lock time, sync window); its id and
/// time zone stay.
pub fn update_tenant(conn: &Connection, t: &Tenant) -> Result<(), ApiError> {
    super::exec(
        conn,
        "UPDATE tenants SET name = ?2, lock_after_seconds = ?3, window_days_back = ?4, window_days_ahead = ?5 WHERE id = ?1",
        params![
            t.id,
            t.name,
            t.lock_after_seconds,
            t.window_days_back,
            t.window_days_ahead
        ],
    )?;
    Ok(())
}

/// Looks up a tenant.
pub fn tenant(conn: &Connection, id: &str) -> Result<Option<Tenant>, ApiError> {
    Ok(super::one(
        conn,
        "SELECT id, name, time_zone, window_days_back, window_days_ahead, lock_after_seconds FROM tenants WHERE id = ?1",
        [id],
        |r| {
            Ok(Tenant {
                id: r.get(0)?,
                name: r.get(1)?,
                time_zone: r.get(2)?,
                window_days_back: r.get(3)?,
                window_days_ahead: r.get(4)?,
                lock_after_seconds: r.get(5)?,
            })
        },
    )
    .optional()?)
}

/// The tenant's time zone (UTC if the stored name is not one this build knows).
pub fn zone(conn: &Connection, tenant: &str) -> Result<Tz, ApiError> {
    let name: String = super::one(
        conn,
        "SELECT time_zone FROM tenants WHERE id = ?1",
        [tenant],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))?;
    Ok(name.parse().unwrap_or(Tz::UTC))
}

/// Creates a staff user with an already-hashed password.
pub fn create_user(
    conn: &Connection,
    tenant: &str,
    username: &str,
    name: &str,
    role: Role,
    password_hash: &str,
) -> Result<User, ApiError> {
    let id = new_id("u");
    super::exec(
        conn,
        "INSERT INTO users (id, tenant, username, name, role, password_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, tenant, username, name, role.as_str(), password_hash],
    )?;
    Ok(User {
        id,
        username: username.to_owned(),
        name: name.to_owned(),
        role,
    })
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        username: r.get(1)?,
        name: r.get(2)?,
        role: parse_enum(&r.get::<_, String>(3)?)?,
    })
}

/// The user and password hash for a login attempt.
pub fn credentials(
    conn: &Connection,
    tenant: &str,
    username: &str,
) -> Result<Option<Credentials>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT id, username, name, role, password_hash FROM users WHERE tenant = ?1 AND username = ?2 AND active = 1",
            params![tenant, username],
            |r| Ok(Credentials { user: user_row(r)?, password_hash: r.get(4)? }),
        )
        .optional()?)
}

/// An active user of a tenant by id; `None` if absent, deactivated or in
/// another tenant.
pub fn user(conn: &Connection, tenant: &str, id: &str) -> Result<Option<User>, ApiError> {
    Ok(conn
        .query_row(
            "SELECT id, username, name, role FROM users WHERE tenant = ?1 AND id = ?2 AND active = 1",
            params![tenant, id],
            user_row,
        )
        .optional()?)
}

/// All active staff of a tenant.
pub fn users(conn: &Connection, tenant: &str) -> Result<Vec<User>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, username, name, role FROM users WHERE tenant = ?1 AND active = 1 ORDER BY name",
    )?;
    let rows = stmt.query_map([tenant], user_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every staff account of a tenant with whether it is active (the admin's list).
pub fn accounts(conn: &Connection, tenant: &str) -> Result<Vec<Account>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.username, u.name, u.role, u.active, p.id FROM users u
         LEFT JOIN providers p ON p.user_id = u.id AND p.tenant = u.tenant
         WHERE u.tenant = ?1 ORDER BY u.name, u.id",
    )?;
    let rows = stmt.query_map([tenant], |r| {
        Ok(Account {
            user: user_row(r)?,
            active: r.get(4)?,
            provider_id: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Makes `user` the account provider `provider` works as; refused if the
/// provider is not the tenant's or another account works as it already.
pub fn link_provider(
    conn: &Connection,
    tenant: &str,
    provider: &str,
    user: &str,
) -> Result<(), ApiError> {
    let holder: Option<Option<String>> = super::one(
        conn,
        "SELECT user_id FROM providers WHERE tenant = ?1 AND id = ?2",
        params![tenant, provider],
        |r| r.get(0),
    )
    .optional()?;
    match holder {
        None => Err(ApiError::NotFound(format!("provider {provider}"))),
        Some(Some(other)) => Err(ApiError::invalid(format!(
            "provider {provider} already works as account {other}"
        ))),
        Some(None) => {
            super::exec(
                conn,
                "UPDATE providers SET user_id = ?3 WHERE tenant = ?1 AND id = ?2",
                params![tenant, provider, user],
            )?;
            Ok(())
        }
    }
}

/// A staff account as an admin sees it.
pub struct Account {
    pub user: User,
    pub active: bool,
    /// The provider this account works as.
    pub provider_id: Option<String>,
}

/// Deactivates (or reactivates) a staff account; `NotFound` if there is none.
pub fn set_active(conn: &Connection, tenant: &str, id: &str, active: bool) -> Result<(), ApiError> {
    let n = super::exec(
        conn,
        "UPDATE users SET active = ?3 WHERE tenant = ?1 AND id = ?2",
        params![tenant, id, active],
    )?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("user {id}")));
    }
    Ok(())
}

/// Replaces a user's password hash; `NotFound` if there is no such user.
pub fn set_password_hash(
    conn: &Connection,
    tenant: &str,
    id: &str,
    hash: &str,
) -> Result<(), ApiError> {
    let n = super::exec(
        conn,
        "UPDATE users SET password_hash = ?3 WHERE tenant = ?1 AND id = ?2",
        params![tenant, id, hash],
    )?;
    if n == 0 {
        return Err(ApiError::NotFound(format!("user {id}")));
    }
    Ok(())
}

/// A user's password hash (active or not), for a change of one's own password.
pub fn password_hash(conn: &Connection, tenant: &str, id: &str) -> Result<String, ApiError> {
    super::one(
        conn,
        "SELECT password_hash FROM users WHERE tenant = ?1 AND id = ?2 AND active = 1",
        params![tenant, id],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("user {id}")))
}

/// Creates a room.
pub fn create_room(conn: &Connection, tenant: &str, name: &str) -> Result<Room, ApiError> {
    let id = new_id("room");
    super::exec(
        conn,
        "INSERT INTO rooms (id, tenant, name) VALUES (?1, ?2, ?3)",
        params![id, tenant, name],
    )?;
    Ok(Room {
        id,
        name: name.to_owned(),
    })
}

/// All rooms of a tenant.
pub fn rooms(conn: &Connection, tenant: &str) -> Result<Vec<Room>, ApiError> {
    let mut stmt =
        conn.prepare_cached("SELECT id, name FROM rooms WHERE tenant = ?1 ORDER BY name")?;
    let rows = stmt.query_map([tenant], |r| {
        Ok(Room {
            id: r.get(0)?,
            name: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Refuses a room id that is not this tenant's.
pub fn check_room(conn: &Connection, tenant: &str, id: &str) -> Result<(), ApiError> {
    let found: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM rooms WHERE tenant = ?1 AND id = ?2",
            params![tenant, id],
            |r| r.get(0),
        )
        .optional()?;
    found
        .map(|_| ())
        .ok_or_else(|| ApiError::NotFound(format!("room {id}")))
}

/// A new provider's details.
pub struct NewProvider<'a> {
    pub name: &'a str,
    pub user_id: Option<&'a str>,
    pub ticket_prefix: &'a str,
    pub default_room_id: Option<&'a str>,
    /// When they work (see `hours::default_weekly`).
    pub weekly: &'a [WorkingDay],
}

/// Creates a provider with their weekly hours.
pub fn create_provider(
    conn: &Connection,
    tenant: &str,
    new: &NewProvider<'_>,
) -> Result<Provider, ApiError> {
    let id = new_id("prov");
    let NewProvider {
        name,
        user_id,
        ticket_prefix,
        default_room_id,
        weekly,
    } = *new;
    super::exec(
        conn,
        "INSERT INTO providers (id, tenant, name, user_id, ticket_prefix, default_room_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, tenant, name, user_id, ticket_prefix, default_room_id],
    )?;
    super::hours::insert_weekly(conn, tenant, &id, weekly)?;
    Ok(Provider {
        id,
        name: name.to_owned(),
        user_id: user_id.map(str::to_owned),
        ticket_prefix: ticket_prefix.to_owned(),
        default_room_id: default_room_id.map(str::to_owned),
    })
}

fn provider_row(r: &Row<'_>) -> rusqlite::Result<Provider> {
    Ok(Provider {
        id: r.get(0)?,
        name: r.get(1)?,
        user_id: r.get(2)?,
        ticket_prefix: r.get(3)?,
        default_room_id: r.get(4)?,
    })
}

/// All providers of a tenant.
pub fn providers(conn: &Connection, tenant: &str) -> Result<Vec<Provider>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, user_id, ticket_prefix, default_room_id FROM providers WHERE tenant = ?1 ORDER BY name",
    )?;
    let rows = stmt.query_map([tenant], provider_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One provider of a tenant, or `NotFound`.
pub fn provider(conn: &Connection, tenant: &str, id: &str) -> Result<Provider, ApiError> {
    super::one(conn,
        "SELECT id, name, user_id, ticket_prefix, default_room_id FROM providers WHERE tenant = ?1 AND id = ?2",
        params![tenant, id],
        provider_row,
    )
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("provider {id}")))
}

/// Creates a display board.
pub fn create_display(
    conn: &Connection,
    tenant: &str,
    name: &str,
    provider_ids: &[String],
    now: DateTime<Utc>,
) -> Result<Display, ApiError> {
    let display = Display {
        id: new_id("disp"),
        name: name.to_owned(),
        provider_ids: provider_ids.to_vec(),
        created_at: now,
    };
    super::exec(
        conn,
        "INSERT INTO displays (id, tenant, name, provider_ids, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            display.id,
            tenant,
            display.name,
            serde_json::to_string(&display.provider_ids)?,
            fmt_ts(&display.created_at)
        ],
    )?;
    Ok(display)
}

/// Revokes a display board; false if there was no such (unrevoked) board.
pub fn revoke_display(
    conn: &Connection,
    tenant: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, ApiError> {
    let n = super::exec(
        conn,
        "UPDATE displays SET revoked_at = ?3 WHERE tenant = ?1 AND id = ?2 AND revoked_at IS NULL",
        params![tenant, id, fmt_ts(&now)],
    )?;
    Ok(n == 1)
}

/// The boards that have not been revoked, by name.
pub fn displays(conn: &Connection, tenant: &str) -> Result<Vec<Display>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id FROM displays WHERE tenant = ?1 AND revoked_at IS NULL ORDER BY name, id",
    )?;
    let ids: Vec<String> = stmt
        .query_map([tenant], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.extend(display(conn, tenant, &id)?);
    }
    Ok(out)
}

/// Renames a board that has not been revoked; `None` if there is none.
pub fn rename_display(
    conn: &Connection,
    tenant: &str,
    id: &str,
    name: &str,
) -> Result<Option<Display>, ApiError> {
    super::exec(
        conn,
        "UPDATE displays SET name = ?3 WHERE tenant = ?1 AND id = ?2 AND revoked_at IS NULL",
        params![tenant, id, name],
    )?;
    display(conn, tenant, id)
}

/// A display board that has not been revoked.
pub fn display(conn: &Connection, tenant: &str, id: &str) -> Result<Option<Display>, ApiError> {
    let row = conn
        .query_row(
            "SELECT id, name, provider_ids, created_at FROM displays WHERE tenant = ?1 AND id = ?2 AND revoked_at IS NULL",
            params![tenant, id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    parse_ts(&r.get::<_, String>(3)?)?,
                ))
            },
        )
        .optional()?;
    row.map(|(id, name, providers, created_at)| {
        Ok(Display {
            id,
            name,
            provider_ids: serde_json::from_str(&providers)?,
            created_at,
        })
    })
    .transpose()
}
