//! Which staff clients receive an event in full (protocol §8.7): events about
//! appointments inside the tenant's sync window arrive whole; one that moves
//! an appointment out of the window arrives redacted with an `evict` for it;
//! any other event about an appointment outside the window arrives redacted.
//! Every client's `seq` stays gap-free, as with audiences. Decided with the
//! window of the moment of delivery: at commit for live events, at replay
//! for replayed ones.

use super::directory;
use crate::error::ApiError;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use frontdesk_protocol::envelope::{Envelope, Evict, kind as kinds};
use frontdesk_protocol::window::{SyncWindow, clinic_day, zone_of};
use rusqlite::{Connection, OptionalExtension};

/// How an event reaches staff clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Whole (subject to its audience).
    Full,
    /// Redacted, telling clients to delete this record.
    Evict(Evict),
    /// Redacted.
    Redacted,
}

/// A tenant's window at one moment, with its zone.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub window: SyncWindow,
    pub zone: Tz,
    /// The clinic's day at that moment.
    pub today: NaiveDate,
}

impl Scope {
    /// The tenant's scope at `now`.
    pub fn of(conn: &Connection, tenant: &str, now: DateTime<Utc>) -> Result<Scope, ApiError> {
        let t = directory::tenant(conn, tenant)?
            .ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))?;
        Ok(Scope {
            window: SyncWindow::for_tenant(&t, now),
            zone: zone_of(&t),
            today: clinic_day(now, zone_of(&t)),
        })
    }

    /// How `env` reaches staff; `moved_from` is the appointment's start
    /// before the change, when the change moved it.
    pub fn reach(&self, env: &Envelope, moved_from: Option<DateTime<Utc>>) -> Reach {
        if !is_about_an_appointment(&env.kind) {
            return Reach::Full;
        }
        let start = env.data["start"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        let Some(start) = start else {
            return Reach::Full; // not an appointment record after all
        };
        if self.window.contains(start, self.zone) {
            Reach::Full
        } else if moved_from.is_some_and(|from| self.window.contains(from, self.zone)) {
            Reach::Evict(Evict {
                kind: "appointment".into(),
                id: env.data["id"].as_str().unwrap_or_default().to_owned(),
            })
        } else {
            Reach::Redacted
        }
    }
}

impl Scope {
    /// The clinic days an appointment event is about (where it starts now,
    /// and where it started before a move) when it reaches staff less than
    /// whole: the desks watching those days get it whole instead (§8.7a).
    pub fn watched_days(
        &self,
        env: &Envelope,
        moved_from: Option<DateTime<Utc>>,
        reach: &Reach,
    ) -> Vec<NaiveDate> {
        if *reach == Reach::Full || !is_about_an_appointment(&env.kind) {
            return Vec::new();
        }
        let start = env.data["start"]
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc));
        let mut days: Vec<NaiveDate> = start
            .into_iter()
            .chain(moved_from)
            .map(|t| clinic_day(t, self.zone))
            .collect();
        days.dedup();
        days
    }
}

/// Days of a patient's appointments whose watchers get a correction to them
/// whole (the most recent this many).
const PATIENT_DAYS_WATCHED: u32 = 50;

impl Scope {
    /// How a patient record (`patient.*`) reaches staff: whole while the
    /// patient is one desks hold — an appointment in the window or a ticket
    /// the queue shows — redacted otherwise, with the days of their
    /// appointments outside the window, whose watchers get it whole (§7.3).
    pub fn patient_reach(
        &self,
        conn: &Connection,
        tenant: &str,
        patient: &str,
    ) -> Result<(Reach, Vec<NaiveDate>), ApiError> {
        let (from, to) = self.window.instants(self.zone);
        let held: Option<i64> = super::one(
            conn,
            "SELECT 1 FROM appointments WHERE tenant = ?1 AND patient_id = ?2 AND start >= ?3 AND start < ?4
             UNION ALL
             SELECT 1 FROM queue_entries WHERE tenant = ?1 AND patient_id = ?2
               AND (day = ?5 OR status IN ('waiting', 'called', 'in_service'))
             LIMIT 1",
            rusqlite::params![
                tenant,
                patient,
                super::fmt_ts(&from),
                super::fmt_ts(&to),
                self.today.to_string()
            ],
            |r| r.get(0),
        )
        .optional()?;
        if held.is_some() {
            return Ok((Reach::Full, Vec::new()));
        }
        let mut stmt = conn.prepare_cached(
            "SELECT start FROM appointments WHERE tenant = ?1 AND patient_id = ?2
             ORDER BY start DESC LIMIT ?3",
        )?;
        let starts = stmt.query_map(
            rusqlite::params![tenant, patient, PATIENT_DAYS_WATCHED],
            |r| super::parse_ts(&r.get::<_, String>(0)?),
        )?;
        let mut days = Vec::new();
        for start in starts {
            days.push(clinic_day(start?, self.zone));
        }
        days.sort();
        days.dedup();
        Ok((Reach::Redacted, days))
    }
}

/// Whether `kind` carries a patient record (scoped by [`Scope::patient_reach`]).
pub fn is_about_a_patient(kind: &str) -> bool {
    matches!(kind, kinds::PATIENT_CREATED | kinds::PATIENT_UPDATED)
}

fn is_about_an_appointment(kind: &str) -> bool {
    matches!(
        kind,
        kinds::APPOINTMENT_CREATED | kinds::APPOINTMENT_UPDATED | kinds::APPOINTMENT_CANCELLED
    )
}

/// `env` as it reaches staff with `reach`.
pub fn present(env: &Envelope, reach: &Reach) -> Envelope {
    match reach {
        Reach::Full => env.clone(),
        Reach::Evict(e) => env.evicting(e.clone()),
        Reach::Redacted => env.redact(),
    }
}
