//! One clinic day as the cache holds it: what a schedule on screen reads
//! (one day, never the whole cache), and how current it is.

use super::Cache;
use crate::error::Result;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use frontdesk_protocol::records::{Appointment, Tenant, UserSummary};
use frontdesk_protocol::window::{day_start, zone_of};
use serde::Serialize;

/// How the cache came to hold a day.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DayHeld {
    /// A day of the sync window: kept live whenever the desk is.
    Window,
    /// Outside the window, fetched for the screen at `at` (live again only
    /// while on screen and online).
    Fetched { at: DateTime<Utc> },
    /// Outside the window and never fetched: not available offline.
    NotHeld,
    /// Outside the window and not kept: read from the clinic at `at` for a
    /// view of several days (the week view) while live, so the desk holds no
    /// more PHI than it shows one day at a time.
    Asked { at: DateTime<Utc> },
}

/// How many days a week view shows.
pub const WEEK_DAYS: usize = 7;

/// How long a week view's answer from the clinic is shown again rather than
/// asked for anew: the view reads again at every schedule change, and a far
/// week changes rarely (each ask is also a read in the clinic's audit trail).
pub const ASKED_FRESH: chrono::Duration = chrono::Duration::seconds(30);

/// The clinic's last answer for the days a week view asked about, kept in
/// memory only.
#[derive(Debug, Clone)]
pub struct AskedWeek {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub at: DateTime<Utc>,
    pub found: Vec<Appointment>,
}

impl AskedWeek {
    /// Whether this answer serves a view asking about `from..=to` at `now`.
    pub fn serves(&self, (from, to): (NaiveDate, NaiveDate), now: DateTime<Utc>) -> bool {
        (self.from, self.to) == (from, to) && now >= self.at && now - self.at < ASKED_FRESH
    }
}

/// The first and last of the days in `days` the cache does not hold: what a
/// week view asks the clinic for. `None` when it holds them all.
pub fn not_held(days: &[DayView]) -> Option<(NaiveDate, NaiveDate)> {
    let mut missing = days.iter().filter(|d| d.held == DayHeld::NotHeld);
    let first = missing.next()?.day;
    let last = missing.next_back().map_or(first, |d| d.day);
    Some((first, last))
}

/// Fills the days the cache does not hold with the clinic's answer for them
/// (`found`: the appointments of those days, by start), read at `at`.
pub fn fill_not_held(days: &mut [DayView], found: &[Appointment], at: DateTime<Utc>) {
    for d in days.iter_mut().filter(|d| d.held == DayHeld::NotHeld) {
        d.held = DayHeld::Asked { at };
        d.appointments = found
            .iter()
            .filter(|a| a.start >= d.start && a.start < d.end)
            .cloned()
            .collect();
    }
}

/// One clinic day's schedule.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct DayView {
    pub day: NaiveDate,
    /// The day as UTC instants, `[start, end)` (an appointment belongs to
    /// the day its start falls in).
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub held: DayHeld,
    /// By start.
    pub appointments: Vec<Appointment>,
}

impl Cache {
    /// The clinic (zone and window settings), once a snapshot was taken.
    pub fn tenant(&self) -> Result<Option<Tenant>> {
        Ok(self
            .meta("tenant")?
            .and_then(|m| serde_json::from_str::<Tenant>(&m).ok()))
    }

    /// Who is signed in, once a snapshot was taken.
    pub fn signed_in_as(&self) -> Result<Option<UserSummary>> {
        Ok(self
            .meta("me")?
            .and_then(|m| serde_json::from_str::<UserSummary>(&m).ok()))
    }

    /// The clinic's time zone (UTC before the first snapshot).
    pub fn zone(&self) -> Result<Tz> {
        Ok(self.tenant()?.as_ref().map_or(Tz::UTC, zone_of))
    }

    /// `day`'s appointments and how current they are.
    pub fn day(&self, day: NaiveDate) -> Result<DayView> {
        let zone = self.zone()?;
        let start = day_start(day, zone);
        let end = day_start(day.succ_opt().unwrap_or(day), zone);
        let held = if self.covered()?.is_some_and(|w| w.includes(day)) {
            DayHeld::Window
        } else if let Some(at) = self.fetched_at(day)? {
            DayHeld::Fetched { at }
        } else {
            DayHeld::NotHeld
        };
        Ok(DayView {
            day,
            start,
            end,
            held,
            appointments: self.appointments_between(start, end)?,
        })
    }

    /// [`WEEK_DAYS`] days from `first`, as [`Cache::day`] reads each.
    pub fn week(&self, first: NaiveDate) -> Result<Vec<DayView>> {
        first
            .iter_days()
            .take(WEEK_DAYS)
            .map(|d| self.day(d))
            .collect()
    }
}
