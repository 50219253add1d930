//! The sync window: the clinic-local days a desk caches and is kept live
//! about (protocol §8.7). Server and client compute it the same way from the
//! tenant's settings and the time, so both agree which records are in scope.

use crate::records::Tenant;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A run of clinic-local days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct SyncWindow {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The tenant's time zone (UTC if its name is not one this build knows).
pub fn zone_of(tenant: &Tenant) -> Tz {
    tenant.time_zone.parse().unwrap_or(Tz::UTC)
}

/// The clinic-local day of `t` in `zone`.
pub fn clinic_day(t: DateTime<Utc>, zone: Tz) -> NaiveDate {
    t.with_timezone(&zone).date_naive()
}

/// 00:00 of `day` in `zone`, in UTC (the earliest one on a day that starts
/// with a daylight-saving jump).
pub fn day_start(day: NaiveDate, zone: Tz) -> DateTime<Utc> {
    let midnight = day.and_time(NaiveTime::MIN);
    zone.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            // No 00:00 that day (a zone that jumps at midnight): the first
            // hour that exists.
            (1..=3)
                .filter_map(|h| {
                    zone.from_local_datetime(&(midnight + chrono::Duration::hours(h)))
                        .earliest()
                })
                .next()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| midnight.and_utc())
}

impl SyncWindow {
    /// `back` days before `today` to `ahead` days after it.
    pub fn around(today: NaiveDate, back: u32, ahead: u32) -> SyncWindow {
        SyncWindow {
            from: today
                .checked_sub_days(Days::new(back.into()))
                .unwrap_or(today),
            to: today
                .checked_add_days(Days::new(ahead.into()))
                .unwrap_or(today),
        }
    }

    /// The tenant's window at `now`.
    pub fn for_tenant(tenant: &Tenant, now: DateTime<Utc>) -> SyncWindow {
        let today = clinic_day(now, zone_of(tenant));
        SyncWindow::around(today, tenant.window_days_back, tenant.window_days_ahead)
    }

    /// The window as UTC instants: `[start of from, start of the day after to)`.
    pub fn instants(&self, zone: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let after = self.to.succ_opt().unwrap_or(self.to);
        (day_start(self.from, zone), day_start(after, zone))
    }

    /// Whether `day` is one of the window's days.
    pub fn includes(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }

    /// Whether an appointment starting at `start` is in the window.
    pub fn contains(&self, start: DateTime<Utc>, zone: Tz) -> bool {
        self.includes(clinic_day(start, zone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(zone: &str) -> Tenant {
        Tenant {
            id: "demo".into(),
            name: "Demo".into(),
            time_zone: zone.into(),
            window_days_back: 7,
            window_days_ahead: 30,
            lock_after_seconds: 300,
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn seven_days_back_to_thirty_ahead_in_the_clinics_days() {
        // 23:30 UTC on the 22nd is already the 23rd in Berlin.
        let w = SyncWindow::for_tenant(&tenant("Europe/Berlin"), t("2026-11-22T23:30:00Z"));
        assert_eq!(w.from.to_string(), "2026-11-16");
        assert_eq!(w.to.to_string(), "2026-12-23");
        let zone = zone_of(&tenant("Europe/Berlin"));
        let (start, end) = w.instants(zone);
        assert_eq!(start, t("2026-11-15T23:00:00Z"));
        assert_eq!(end, t("2026-12-23T23:00:00Z"));
        assert!(
            w.contains(t("2026-11-15T23:00:00Z"), zone),
            "first minute of the first day"
        );
        assert!(!w.contains(t("2026-11-15T22:59:59Z"), zone));
        assert!(
            w.contains(t("2026-12-23T22:59:59Z"), zone),
            "last second of the last day"
        );
        assert!(!w.contains(t("2026-12-23T23:00:00Z"), zone));
    }

    #[test]
    fn days_across_daylight_saving_changes_keep_their_local_midnights() {
        let zone: Tz = "Europe/Berlin".parse().unwrap();
        // 2026-03-29: clocks go from 02:00 to 03:00; the day is 23 hours long.
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        assert_eq!(day_start(d, zone), t("2026-03-28T23:00:00Z"));
        assert_eq!(
            day_start(d.succ_opt().unwrap(), zone),
            t("2026-03-29T22:00:00Z")
        );
        // A zone that skips midnight itself (Santiago, 2026-09-06 at 00:00).
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 9, 6).unwrap();
        assert_eq!(day_start(d, santiago), t("2026-09-06T04:00:00Z"));
        // An unknown zone is UTC.
        assert_eq!(zone_of(&tenant("Mars/Olympus")), Tz::UTC);
    }
}
