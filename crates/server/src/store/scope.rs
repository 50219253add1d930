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
use rusqlite::Connection;

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
}

impl Scope {
    /// The tenant's scope at `now`.
    pub fn of(conn: &Connection, tenant: &str, now: DateTime<Utc>) -> Result<Scope, ApiError> {
        let t = directory::tenant(conn, tenant)?
            .ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))?;
        Ok(Scope {
            window: SyncWindow::for_tenant(&t, now),
            zone: zone_of(&t),
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
