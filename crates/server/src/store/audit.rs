//! The audit trail of access to patient data: who (user and login), which
//! patients, how (a snapshot or day fetch with the patients it held, a
//! record opened, a record on screen, a change), when and from where.
//! Append-only and hash-chained: each row's hash covers the row and the
//! hash before it, so [`verify`] finds a row edited or deleted after the
//! fact. Message bodies never go in; patient ids do, names do not.

use super::{fmt_ts, parse_ts};
use crate::error::ApiError;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

/// How patient data was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A snapshot, with the patients it held.
    Snapshot,
    /// Appointments of some days (`GET /api/appointments`), with their patients.
    DayFetch,
    /// Events replayed (`GET /api/events`), with the patients whole in them.
    Replay,
    /// A patient's record read (`GET /api/patients/{id}`).
    RecordOpened,
    /// A patient's record shown on screen (the `viewing` signal).
    OnScreen,
    /// A patient's details registered or changed.
    Changed,
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshot",
            Self::DayFetch => "day_fetch",
            Self::Replay => "replay",
            Self::RecordOpened => "record_opened",
            Self::OnScreen => "on_screen",
            Self::Changed => "changed",
        }
    }
}

/// Who reached it, from where.
#[derive(Debug, Clone)]
pub struct Who<'a> {
    pub tenant: &'a str,
    pub user: &'a str,
    pub login: Option<&'a str>,
    pub address: Option<std::net::IpAddr>,
}

pub use frontdesk_protocol::api::AuditRow;

/// The hash that starts the chain.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[allow(clippy::too_many_arguments)]
fn row_hash(
    prev: &str,
    seq: i64,
    tenant: &str,
    at: &str,
    user: &str,
    login: Option<&str>,
    address: Option<&str>,
    access: &str,
    patients: &str,
    detail: &str,
) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        tenant,
        at,
        user,
        login.unwrap_or(""),
        address.unwrap_or(""),
        access,
        patients,
        detail,
    ] {
        // Length-prefixed, so no two rows hash alike by moving a separator.
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    format!("{:x}", h.finalize())
}

/// Appends one access to the chain (nothing when no patient was reached).
pub fn record(
    conn: &Connection,
    who: &Who<'_>,
    access: Access,
    patients: &[String],
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if patients.is_empty() {
        return Ok(());
    }
    let last: Option<(i64, String)> = super::one(
        conn,
        "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_owned()),
    };
    let at = fmt_ts(&now);
    let list = serde_json::to_string(patients)?;
    let address = who.address.map(|a| a.to_string());
    let hash = row_hash(
        &prev,
        seq,
        who.tenant,
        &at,
        who.user,
        who.login,
        address.as_deref(),
        access.as_str(),
        &list,
        detail,
    );
    super::exec(
        conn,
        "INSERT INTO audit (seq, tenant, at, user_id, login_id, address, access, patient_ids, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![seq, who.tenant, at, who.user, who.login, address, access.as_str(), list, detail, prev, hash],
    )?;
    let mut each = conn.prepare_cached(
        "INSERT INTO audit_patients (seq, tenant, patient_id) VALUES (?1, ?2, ?3)",
    )?;
    for p in patients {
        each.execute(params![seq, who.tenant, p])?;
    }
    Ok(())
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every row is as written, none missing: `rows` of them.
    Intact { rows: u64 },
    /// The first row that does not match what was written (edited), or
    /// whose predecessor is gone (a row deleted).
    Broken { seq: i64, why: String },
}

/// Walks the whole chain, recomputing each hash.
pub fn verify(conn: &Connection) -> Result<Verdict, ApiError> {
    let mut stmt = conn.prepare(
        "SELECT seq, tenant, at, user_id, login_id, address, access, patient_ids, detail, prev_hash, hash
         FROM audit ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let (mut expected_seq, mut prev) = (1i64, GENESIS.to_owned());
    let mut count = 0u64;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let (tenant, at, user): (String, String, String) = (r.get(1)?, r.get(2)?, r.get(3)?);
        let (login, address): (Option<String>, Option<String>) = (r.get(4)?, r.get(5)?);
        let (access, patients, detail): (String, String, String) =
            (r.get(6)?, r.get(7)?, r.get(8)?);
        let (stored_prev, stored_hash): (String, String) = (r.get(9)?, r.get(10)?);
        if seq != expected_seq {
            return Ok(Verdict::Broken {
                seq,
                why: format!("row {expected_seq} is missing"),
            });
        }
        if stored_prev != prev {
            return Ok(Verdict::Broken {
                seq,
                why: "it does not follow the row before it".into(),
            });
        }
        let again = row_hash(
            &prev,
            seq,
            &tenant,
            &at,
            &user,
            login.as_deref(),
            address.as_deref(),
            &access,
            &patients,
            &detail,
        );
        if again != stored_hash {
            return Ok(Verdict::Broken {
                seq,
                why: "it was changed after it was written".into(),
            });
        }
        prev = stored_hash;
        expected_seq += 1;
        count += 1;
    }
    Ok(Verdict::Intact { rows: count })
}

/// A tenant's rows about `patient` (or all) in `[from, to)`, oldest first, at most `limit`.
pub fn query(
    conn: &Connection,
    tenant: &str,
    patient: Option<&str>,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    limit: u32,
) -> Result<Vec<AuditRow>, ApiError> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.seq, a.at, a.user_id, a.login_id, a.address, a.access, a.patient_ids, a.detail
         FROM audit a
         WHERE a.tenant = ?1 AND a.at >= ?2 AND a.at < ?3
           AND (?4 IS NULL OR a.seq IN (SELECT seq FROM audit_patients WHERE tenant = ?1 AND patient_id = ?4))
         ORDER BY a.seq LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![tenant, fmt_ts(&from), fmt_ts(&to), patient, limit],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                parse_ts(&r.get::<_, String>(1)?)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
            ))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (seq, at, user_id, login_id, address, access, patients, detail) = row?;
        out.push(AuditRow {
            seq,
            at,
            user_id,
            login_id,
            address,
            access,
            patient_ids: serde_json::from_str(&patients)?,
            detail,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&mut c).unwrap();
        c
    }

    fn who() -> Who<'static> {
        Who {
            tenant: "t",
            user: "u1",
            login: Some("login_1"),
            address: "10.0.0.5".parse().ok(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn the_chain_verifies_and_an_edited_or_deleted_row_is_found() {
        let c = db();
        let now = at("2026-12-01T09:00:00Z");
        record(
            &c,
            &who(),
            Access::Snapshot,
            &["p1".into(), "p2".into()],
            "GET /api/snapshot",
            now,
        )
        .unwrap();
        record(
            &c,
            &who(),
            Access::RecordOpened,
            &["p2".into()],
            "GET /api/patients/p2",
            now,
        )
        .unwrap();
        record(&c, &who(), Access::OnScreen, &["p2".into()], "viewing", now).unwrap();
        record(&c, &who(), Access::Snapshot, &[], "GET /api/snapshot", now).unwrap();
        assert_eq!(
            verify(&c).unwrap(),
            Verdict::Intact { rows: 3 },
            "an access to nobody is not a row"
        );
        // Someone with the database file hides who opened the record…
        c.execute(
            "UPDATE audit SET user_id = 'someone else' WHERE seq = 2",
            [],
        )
        .unwrap();
        assert!(matches!(
            verify(&c).unwrap(),
            Verdict::Broken { seq: 2, .. }
        ));
        c.execute("UPDATE audit SET user_id = 'u1' WHERE seq = 2", [])
            .unwrap();
        assert_eq!(verify(&c).unwrap(), Verdict::Intact { rows: 3 });
        // …or deletes the row.
        c.execute("DELETE FROM audit WHERE seq = 2", []).unwrap();
        match verify(&c).unwrap() {
            Verdict::Broken { seq, why } => {
                assert_eq!((seq, why.as_str()), (3, "row 2 is missing"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rows_are_found_by_patient_and_time() {
        let c = db();
        record(
            &c,
            &who(),
            Access::Snapshot,
            &["p1".into(), "p2".into()],
            "GET /api/snapshot",
            at("2026-12-01T09:00:00Z"),
        )
        .unwrap();
        record(
            &c,
            &who(),
            Access::RecordOpened,
            &["p2".into()],
            "GET /api/patients/p2",
            at("2026-12-02T09:00:00Z"),
        )
        .unwrap();
        let all = (at("2026-01-01T00:00:00Z"), at("2027-01-01T00:00:00Z"));
        assert_eq!(query(&c, "t", Some("p2"), all, 100).unwrap().len(), 2);
        assert_eq!(query(&c, "t", Some("p1"), all, 100).unwrap().len(), 1);
        let first_day = (at("2026-12-01T00:00:00Z"), at("2026-12-02T00:00:00Z"));
        assert_eq!(
            query(&c, "t", Some("p2"), first_day, 100).unwrap()[0].access,
            "snapshot"
        );
        assert!(query(&c, "other", None, all, 100).unwrap().is_empty());
    }
}
