//! The per-tenant event log: every durable change appends one envelope with the
//! tenant's next `seq`, inside the transaction that made the change.

use super::scope::{self, Reach, Scope};
use super::{fmt_ts, parse_ts, patients};
use crate::error::ApiError;
use chrono::{DateTime, NaiveDate, Utc};
use frontdesk_protocol::envelope::{Envelope, EventData};
use frontdesk_protocol::records::Patient;
use rusqlite::{Connection, OptionalExtension, params};

/// A committed event and who may see its content.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub envelope: Envelope,
    /// `None`: the whole tenant. `Some(users)`: only these users see `data`;
    /// everyone else gets the envelope redacted, so their `seq` stays gap-free.
    pub audience: Option<Vec<String>>,
    /// How it reaches staff given the sync window (§8.7).
    pub reach: Reach,
    /// When it reaches staff less than whole: the clinic days it is about,
    /// whose watchers get it whole (§8.7a). Empty otherwise.
    pub watched_days: Vec<NaiveDate>,
}

impl Outgoing {
    /// The envelope as `user` may see it.
    pub fn visible_to(&self, user: &str) -> Envelope {
        match &self.audience {
            Some(users) if !users.iter().any(|u| u == user) => self.envelope.redact(),
            _ => self.for_staff(),
        }
    }

    /// The envelope as staff see it when it is not for some users only.
    pub fn for_staff(&self) -> Envelope {
        scope::present(&self.envelope, &self.reach)
    }
}

/// Appends `data` as the tenant's next event. Must run inside the mutation's transaction.
pub fn append(
    conn: &Connection,
    tenant: &str,
    actor: &str,
    data: &EventData,
    audience: Option<Vec<String>>,
    now: DateTime<Utc>,
) -> Result<Outgoing, ApiError> {
    append_moved(conn, tenant, actor, data, audience, None, now)
}

/// Like [`append`], for a change that moved an appointment from `moved_from`
/// (its start before): clients that held it are told when it leaves their window.
pub fn append_moved(
    conn: &Connection,
    tenant: &str,
    actor: &str,
    data: &EventData,
    audience: Option<Vec<String>>,
    moved_from: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Outgoing, ApiError> {
    let seq: u64 = conn
        .query_row(
            "UPDATE tenants SET next_seq = next_seq + 1 WHERE id = ?1 RETURNING next_seq - 1",
            [tenant],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))?;
    let mut envelope = Envelope {
        seq,
        id: uuid::Uuid::new_v4().to_string(),
        kind: data.kind().to_owned(),
        tenant: tenant.to_owned(),
        at: now,
        actor: actor.to_owned(),
        data: data.to_value(),
        redacted: false,
        evict: None,
        patient: None,
    };
    let audience_json = audience.as_ref().map(serde_json::to_string).transpose()?;
    super::exec(
        conn,
        "INSERT INTO events (tenant, seq, id, kind, at, actor, data, audience, moved_from) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            tenant,
            seq,
            envelope.id,
            envelope.kind,
            fmt_ts(&envelope.at),
            actor,
            serde_json::to_string(&envelope.data)?,
            audience_json,
            moved_from.as_ref().map(fmt_ts)
        ],
    )?;
    let scope = Scope::of(conn, tenant, now)?;
    // Not stored: a replay attaches the patient's record as it is then.
    envelope.patient = named_patient(conn, &scope, &envelope)?;
    let (reach, watched_days) = reach_of(conn, &scope, &envelope, moved_from)?;
    Ok(Outgoing {
        envelope,
        audience,
        reach,
        watched_days,
    })
}

/// The whole record of the patient an appointment or ticket event names
/// ([`Envelope::patient`]), for the desks that hold the patient by it; none
/// for any other event. An appointment reaches a desk whole only where it is
/// held (redaction removes the patient with the data); a ticket reaches every
/// desk whole, so its patient goes only while the desks hold them by the
/// window's rule (a ticket of today or still active), not with a replay of
/// an old ticket.
fn named_patient(
    conn: &Connection,
    scope: &Scope,
    env: &Envelope,
) -> Result<Option<Patient>, ApiError> {
    let Some(id) = env.data["patient"]["id"].as_str() else {
        return Ok(None);
    };
    let held = if env.kind.starts_with("appointment.") {
        true
    } else if env.kind.starts_with("queue.") {
        matches!(scope.patient_reach(conn, &env.tenant, id)?.0, Reach::Full)
    } else {
        false
    };
    if held {
        patients::find(conn, &env.tenant, id)
    } else {
        Ok(None)
    }
}

/// How `env` reaches staff in `scope`, and the days whose watchers get it
/// whole when it reaches others less than whole (§8.7, §8.7a).
fn reach_of(
    conn: &Connection,
    scope: &Scope,
    env: &Envelope,
    moved_from: Option<DateTime<Utc>>,
) -> Result<(Reach, Vec<NaiveDate>), ApiError> {
    if scope::is_about_a_patient(&env.kind)
        && let Some(patient) = env.data["id"].as_str()
    {
        return scope.patient_reach(conn, &env.tenant, patient);
    }
    let reach = scope.reach(env, moved_from);
    let days = scope.watched_days(env, moved_from, &reach);
    Ok((reach, days))
}

/// The newest `seq` of a tenant (0 before any event).
pub fn latest_seq(conn: &Connection, tenant: &str) -> Result<u64, ApiError> {
    super::one(
        conn,
        "SELECT next_seq - 1 FROM tenants WHERE id = ?1",
        [tenant],
        |r| r.get(0),
    )
    .optional()?
    .ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))
}

/// The id of event `seq`, if it is still kept.
pub fn id_at(conn: &Connection, tenant: &str, seq: u64) -> Result<Option<String>, ApiError> {
    Ok(super::one(
        conn,
        "SELECT id FROM events WHERE tenant = ?1 AND seq = ?2",
        params![tenant, seq],
        |r| r.get(0),
    )
    .optional()?)
}

/// Up to `limit` events after `after`, as `viewer` may see them.
///
/// Refuses with `ReplayGone` when events after `after` have been pruned, when
/// `after` is beyond anything this server has issued (the client's cache is
/// from another database), or when the client's event `after` (`after_id`)
/// is not this server's (its database was restored from a backup and has
/// committed a different history since): in each case only a snapshot can help.
pub fn page(
    conn: &mut Connection,
    tenant: &str,
    viewer: &str,
    after: u64,
    after_id: Option<&str>,
    limit: u32,
    now: DateTime<Utc>,
) -> Result<(Vec<Envelope>, u64), ApiError> {
    // One read transaction: `latest_seq` and the page come from the same moment.
    let tx = conn.transaction()?;
    let (latest, oldest): (u64, u64) = tx
        .query_row(
            "SELECT next_seq - 1, oldest_seq FROM tenants WHERE id = ?1",
            [tenant],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?
        .ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))?;
    if after.saturating_add(1) < oldest || after > latest {
        return Err(ApiError::ReplayGone { after });
    }
    if let Some(expected) = after_id
        && let Some(held) = id_at(&tx, tenant, after)?
        && held != expected
    {
        return Err(ApiError::ReplayGone { after });
    }
    // Scoped by the window of now, not of when each event was committed.
    let scope = Scope::of(&tx, tenant, now)?;
    let mut stmt = tx.prepare_cached(
        "SELECT seq, id, kind, at, actor, data, audience, moved_from FROM events
         WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![tenant, after, limit], |r| {
        let data: String = r.get(5)?;
        let audience: Option<String> = r.get(6)?;
        let moved_from = r
            .get::<_, Option<String>>(7)?
            .map(|t| parse_ts(&t))
            .transpose()?;
        Ok((
            Envelope {
                seq: r.get(0)?,
                id: r.get(1)?,
                kind: r.get(2)?,
                tenant: tenant.to_owned(),
                at: parse_ts(&r.get::<_, String>(3)?)?,
                actor: r.get(4)?,
                data: serde_json::Value::Null,
                redacted: false,
                evict: None,
                patient: None,
            },
            data,
            audience,
            moved_from,
        ))
    })?;
    let mut events = Vec::new();
    for row in rows {
        let (mut envelope, data, audience, moved_from) = row?;
        envelope.data = serde_json::from_str(&data)?;
        let audience: Option<Vec<String>> =
            audience.map(|a| serde_json::from_str(&a)).transpose()?;
        let (reach, _) = reach_of(&tx, &scope, &envelope, moved_from)?;
        let out = Outgoing {
            envelope,
            audience,
            reach,
            watched_days: Vec::new(),
        };
        let mut shown = out.visible_to(viewer);
        if !shown.redacted {
            shown.patient = named_patient(&tx, &scope, &shown)?;
        }
        events.push(shown);
    }
    drop(stmt);
    tx.commit()?;
    Ok((events, latest))
}

/// Drops events so that at most `keep` remain per tenant; replay from before
/// the cut then answers `410`.
pub fn prune(conn: &Connection, tenant: &str, keep: u64) -> Result<(), ApiError> {
    let latest = latest_seq(conn, tenant)?;
    if latest <= keep {
        return Ok(());
    }
    let cut = latest - keep + 1;
    super::exec(
        conn,
        "DELETE FROM events WHERE tenant = ?1 AND seq < ?2",
        params![tenant, cut],
    )?;
    super::exec(
        conn,
        "UPDATE tenants SET oldest_seq = MAX(oldest_seq, ?2) WHERE id = ?1",
        params![tenant, cut],
    )?;
    Ok(())
}
