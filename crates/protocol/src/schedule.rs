//! When providers work and what can still be booked: weekly hours with
//! breaks, date exceptions (leave, extra clinics), appointment types, and
//! the free slots they leave. The slot computation is pure (hours, the
//! clinic's zone, the busy times and the time in; slots out) so that the
//! server's booking rules, its slot search and a desk working offline all
//! compute the same thing.
//!
//! Hours are in the clinic's local time; a local time that a daylight-saving
//! change skips counts from the moment the clock jumps to, and one it repeats
//! counts from its first occurrence.

use crate::window::clinic_day;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use ts_rs::TS;

/// A stretch of time, `[start, end)`.
pub type Interval = (DateTime<Utc>, DateTime<Utc>);

/// Minutes in a day: the latest a working day may close (`24:00`).
const DAY_MINUTES: u16 = 24 * 60;

/// A clinic-local time of day, on the wire as `"HH:MM"` (`"24:00"` closes at midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, TS)]
#[ts(type = "string")]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    /// `hour:minute`, or `None` past `24:00`.
    pub fn hm(hour: u16, minute: u16) -> Option<TimeOfDay> {
        let m = hour.checked_mul(60)?.checked_add(minute)?;
        (minute < 60 && m <= DAY_MINUTES).then_some(TimeOfDay(m))
    }

    /// Minutes since midnight.
    pub fn minutes(self) -> u16 {
        self.0
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl std::str::FromStr for TimeOfDay {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a time of day (HH:MM, 00:00 to 24:00)");
        let (h, m) = s.split_once(':').ok_or_else(bad)?;
        if h.is_empty() || h.len() > 2 || m.len() != 2 {
            return Err(bad());
        }
        let h: u16 = h.parse().map_err(|_| bad())?;
        let m: u16 = m.parse().map_err(|_| bad())?;
        TimeOfDay::hm(h, m).ok_or_else(bad)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A day of the week, as the wire spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    /// The weekday of a date.
    pub fn of(day: NaiveDate) -> Weekday {
        use chrono::Weekday as W;
        match day.weekday() {
            W::Mon => Self::Mon,
            W::Tue => Self::Tue,
            W::Wed => Self::Wed,
            W::Thu => Self::Thu,
            W::Fri => Self::Fri,
            W::Sat => Self::Sat,
            W::Sun => Self::Sun,
        }
    }
}

/// A stretch of a local day, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Span {
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

/// One working stretch of a weekday, with its breaks (a weekday may have
/// several, for a split shift).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct WorkingDay {
    pub weekday: Weekday,
    pub open: TimeOfDay,
    pub close: TimeOfDay,
    /// Lunch, a team meeting: not bookable.
    #[serde(default)]
    pub breaks: Vec<Span>,
}

/// What a date exception does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    /// Not working (the whole day, or `start`–`end` of it).
    Leave,
    /// Working `start`–`end` on top of the weekly hours (an extra clinic).
    Extra,
}

/// A change to one date's hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct HoursException {
    pub id: String,
    pub day: NaiveDate,
    pub kind: ExceptionKind,
    /// Both or neither; an `extra` needs both.
    #[serde(default)]
    #[ts(optional = nullable)]
    pub start: Option<TimeOfDay>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub end: Option<TimeOfDay>,
    #[serde(default)]
    pub note: String,
}

/// A provider's bookable time: the weekly pattern and the exceptions to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ProviderHours {
    pub provider_id: String,
    pub weekly: Vec<WorkingDay>,
    /// From a week before today on (older ones no longer matter to a desk).
    pub exceptions: Vec<HoursException>,
    #[ts(type = "number")]
    pub version: u64,
}

/// A kind of visit and how long it takes by default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AppointmentType {
    pub id: String,
    pub name: String,
    pub minutes: u32,
    /// Retired types stay on old appointments but are not offered.
    pub active: bool,
    #[ts(type = "number")]
    pub version: u64,
}

/// A free time a provider can be booked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Slot {
    pub provider_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Why some hours cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HoursError(pub String);

impl WorkingDay {
    /// Opens before it closes; breaks lie inside and do not overlap.
    pub fn check(&self) -> Result<(), HoursError> {
        let day = format!("{:?}", self.weekday).to_lowercase();
        if self.open >= self.close {
            return Err(HoursError(format!(
                "{day}: opening {} is not before closing {}",
                self.open, self.close
            )));
        }
        let mut breaks = self.breaks.clone();
        breaks.sort_by_key(|b| b.start);
        let mut previous_end: Option<TimeOfDay> = None;
        for b in &breaks {
            if b.start >= b.end || b.start < self.open || b.end > self.close {
                return Err(HoursError(format!(
                    "{day}: break {}–{} is not inside {}–{}",
                    b.start, b.end, self.open, self.close
                )));
            }
            if previous_end.is_some_and(|end| b.start < end) {
                return Err(HoursError(format!("{day}: breaks overlap at {}", b.start)));
            }
            previous_end = Some(b.end);
        }
        Ok(())
    }
}

impl HoursException {
    /// Times come in pairs and in order; an extra clinic has times.
    pub fn check(&self) -> Result<(), HoursError> {
        match (self.start, self.end, self.kind) {
            (Some(s), Some(e), _) if s < e => Ok(()),
            (Some(s), Some(e), _) => Err(HoursError(format!("{s} is not before {e}"))),
            (None, None, ExceptionKind::Leave) => Ok(()),
            (None, None, ExceptionKind::Extra) => Err(HoursError(
                "an extra clinic needs a start and an end".into(),
            )),
            _ => Err(HoursError("give both start and end, or neither".into())),
        }
    }

    fn span(&self) -> (u16, u16) {
        match (self.start, self.end) {
            (Some(s), Some(e)) => (s.0, e.0),
            _ => (0, DAY_MINUTES),
        }
    }
}

/// Local minutes of one day, sorted and disjoint.
type Minutes = Vec<(u16, u16)>;

fn union(mut spans: Minutes) -> Minutes {
    spans.retain(|(s, e)| s < e);
    spans.sort();
    let mut out: Minutes = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

fn subtract(spans: &Minutes, cut: &Minutes) -> Minutes {
    let mut out = Vec::new();
    for &(mut s, e) in spans {
        for &(cs, ce) in cut {
            if ce <= s || cs >= e {
                continue;
            }
            if cs > s {
                out.push((s, cs));
            }
            s = s.max(ce);
        }
        if s < e {
            out.push((s, e));
        }
    }
    out
}

/// `minutes` after local midnight of `day` in `zone`, as an instant: a
/// skipped local time maps to the moment the clock jumped to, a repeated one
/// to its first occurrence.
fn instant(day: NaiveDate, minutes: u16, zone: Tz) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minutes));
    for skip in 0..=24 * 60 {
        if let Some(t) = zone
            .from_local_datetime(&(local + Duration::minutes(skip)))
            .earliest()
        {
            return t.with_timezone(&Utc);
        }
    }
    // No zone skips a whole day; fall back to reading it as UTC.
    local.and_utc()
}

impl ProviderHours {
    /// Local minutes open on `day`: weekly stretches minus their breaks,
    /// plus extra clinics, minus leave.
    fn open_minutes(&self, day: NaiveDate) -> Minutes {
        let weekday = Weekday::of(day);
        let mut open = Vec::new();
        let mut breaks = Vec::new();
        for w in self.weekly.iter().filter(|w| w.weekday == weekday) {
            open.push((w.open.0, w.close.0));
            breaks.extend(w.breaks.iter().map(|b| (b.start.0, b.end.0)));
        }
        let open = subtract(&union(open), &union(breaks));
        let todays = || self.exceptions.iter().filter(move |x| x.day == day);
        let extra = todays()
            .filter(|x| x.kind == ExceptionKind::Extra)
            .map(HoursException::span);
        let leave: Minutes = todays()
            .filter(|x| x.kind == ExceptionKind::Leave)
            .map(HoursException::span)
            .collect();
        subtract(
            &union(open.into_iter().chain(extra).collect()),
            &union(leave),
        )
    }

    /// The instants the provider is open on clinic-local `day`, in order.
    pub fn open_on(&self, day: NaiveDate, zone: Tz) -> Vec<Interval> {
        self.open_minutes(day)
            .into_iter()
            .map(|(s, e)| (instant(day, s, zone), instant(day, e, zone)))
            .filter(|(s, e)| s < e)
            .collect()
    }

    /// Whether `[start, end)` lies inside one open stretch.
    pub fn covers(&self, start: DateTime<Utc>, end: DateTime<Utc>, zone: Tz) -> bool {
        let day = clinic_day(start, zone);
        self.open_on(day, zone)
            .iter()
            .any(|&(s, e)| s <= start && end <= e)
    }

    /// Free slots of `length` in `[from, to)`, none starting before
    /// `not_before`: each open stretch minus `busy` (any order, any
    /// overlap), cut into `length`s from the start of each free stretch.
    pub fn free_slots(
        &self,
        zone: Tz,
        busy: &[Interval],
        (from, to): Interval,
        length: Duration,
        not_before: DateTime<Utc>,
    ) -> Vec<Slot> {
        if length <= Duration::zero() || from >= to {
            return Vec::new();
        }
        let mut busy = busy.to_vec();
        busy.sort();
        let first = clinic_day(from, zone);
        let last = clinic_day(to, zone);
        let mut out = Vec::new();
        for day in first.iter_days().take_while(|d| *d <= last) {
            for (open, close) in self.open_on(day, zone) {
                let mut free_from = open.max(from);
                let until = close.min(to);
                let stretch_start = free_from;
                let mut cuts = busy
                    .iter()
                    .filter(|(s, e)| *e > stretch_start && *s < until);
                loop {
                    let next = cuts.next();
                    let free_to = next.map_or(until, |(s, _)| (*s).min(until));
                    cut(
                        &self.provider_id,
                        (free_from, free_to),
                        length,
                        not_before,
                        &mut out,
                    );
                    match next {
                        Some((_, e)) => free_from = free_from.max(*e),
                        None => break,
                    }
                }
            }
        }
        out
    }
}

/// Cuts one free stretch into slots of `length`, starting at its start, or
/// at `not_before` rounded up to five minutes if that is later.
fn cut(
    provider: &str,
    (from, to): Interval,
    length: Duration,
    not_before: DateTime<Utc>,
    out: &mut Vec<Slot>,
) {
    let mut start = from;
    if start < not_before {
        let five = 5 * 60_000;
        let ms = not_before.timestamp_millis();
        let rounded = ms + (five - ms.rem_euclid(five)) % five;
        start = DateTime::from_timestamp_millis(rounded).unwrap_or(not_before);
    }
    while start + length <= to {
        out.push(Slot {
            provider_id: provider.to_owned(),
            start,
            end: start + length,
        });
        start += length;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TimeOfDay {
        s.parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn day(weekday: Weekday, open: &str, close: &str, breaks: &[(&str, &str)]) -> WorkingDay {
        WorkingDay {
            weekday,
            open: t(open),
            close: t(close),
            breaks: breaks
                .iter()
                .map(|(s, e)| Span {
                    start: t(s),
                    end: t(e),
                })
                .collect(),
        }
    }

    fn hours(weekly: Vec<WorkingDay>, exceptions: Vec<HoursException>) -> ProviderHours {
        ProviderHours {
            provider_id: "prov".into(),
            weekly,
            exceptions,
            version: 1,
        }
    }

    fn exception(d: &str, kind: ExceptionKind, span: Option<(&str, &str)>) -> HoursException {
        HoursException {
            id: format!("x-{d}"),
            day: d.parse().unwrap(),
            kind,
            start: span.map(|s| t(s.0)),
            end: span.map(|s| t(s.1)),
            note: String::new(),
        }
    }

    fn starts(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.start.format("%m-%d %H:%M").to_string())
            .collect()
    }

    fn whole_days(h: &ProviderHours, zone: Tz, from: &str, to: &str, minutes: i64) -> Vec<Slot> {
        h.free_slots(
            zone,
            &[],
            (at(from), at(to)),
            Duration::minutes(minutes),
            at("2000-01-01T00:00:00Z"),
        )
    }

    #[test]
    fn times_of_day_read_and_print_as_hh_mm() {
        assert_eq!(t("09:05").minutes(), 545);
        assert_eq!(t("9:05").to_string(), "09:05");
        assert_eq!(t("24:00").minutes(), 1440);
        for bad in [
            "24:01", "9", "09:5", "09:60", "-1:00", "ab:cd", "", "123:00",
        ] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&Span {
            start: t("08:00"),
            end: t("12:30"),
        })
        .unwrap();
        assert_eq!(json, r#"{"start":"08:00","end":"12:30"}"#);
        assert!(serde_json::from_str::<Span>(r#"{"start":"8am","end":"12:30"}"#).is_err());
    }

    #[test]
    fn working_days_and_exceptions_are_checked() {
        assert!(
            day(Weekday::Mon, "09:00", "17:00", &[("12:00", "13:00")])
                .check()
                .is_ok()
        );
        assert!(day(Weekday::Mon, "17:00", "09:00", &[]).check().is_err());
        assert!(
            day(Weekday::Mon, "09:00", "17:00", &[("08:00", "10:00")])
                .check()
                .is_err()
        );
        assert!(
            day(
                Weekday::Mon,
                "09:00",
                "17:00",
                &[("12:00", "13:00"), ("12:30", "14:00")]
            )
            .check()
            .is_err()
        );
        assert!(
            day(Weekday::Mon, "09:00", "17:00", &[("13:00", "12:00")])
                .check()
                .is_err()
        );
        assert!(
            exception("2026-12-24", ExceptionKind::Leave, None)
                .check()
                .is_ok()
        );
        assert!(
            exception("2026-12-24", ExceptionKind::Extra, None)
                .check()
                .is_err()
        );
        assert!(
            exception("2026-12-24", ExceptionKind::Extra, Some(("10:00", "09:00")))
                .check()
                .is_err()
        );
    }

    #[test]
    fn slots_skip_breaks_and_busy_times_and_the_past() {
        let h = hours(
            vec![day(Weekday::Tue, "09:00", "12:00", &[("10:00", "10:30")])],
            vec![],
        );
        let utc = Tz::UTC;
        let busy = [
            (at("2026-12-01T09:20:00Z"), at("2026-12-01T09:40:00Z")),
            // Overlapping busy times, and one reaching past closing.
            (at("2026-12-01T11:00:00Z"), at("2026-12-01T11:20:00Z")),
            (at("2026-12-01T11:10:00Z"), at("2026-12-01T11:30:00Z")),
            (at("2026-12-01T11:50:00Z"), at("2026-12-01T12:30:00Z")),
        ];
        let range = (at("2026-12-01T00:00:00Z"), at("2026-12-02T00:00:00Z"));
        let slots = h.free_slots(
            utc,
            &busy,
            range,
            Duration::minutes(20),
            at("2026-11-30T00:00:00Z"),
        );
        assert_eq!(
            starts(&slots),
            ["12-01 09:00", "12-01 09:40", "12-01 10:30", "12-01 11:30"]
        );
        // From 09:43 on: the next start is rounded up to 09:45.
        let later = h.free_slots(
            utc,
            &busy,
            range,
            Duration::minutes(15),
            at("2026-12-01T09:43:10Z"),
        );
        assert_eq!(
            starts(&later),
            ["12-01 09:45", "12-01 10:30", "12-01 10:45", "12-01 11:30"]
        );
        // Wednesday: no hours.
        assert!(whole_days(&h, utc, "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z", 15).is_empty());
        assert!(h.covers(at("2026-12-01T10:30:00Z"), at("2026-12-01T12:00:00Z"), utc));
        assert!(!h.covers(at("2026-12-01T09:50:00Z"), at("2026-12-01T10:10:00Z"), utc));
        assert!(!h.covers(at("2026-12-06T03:00:00Z"), at("2026-12-06T03:20:00Z"), utc));
    }

    #[test]
    fn leave_and_extra_clinics_change_one_date() {
        let weekly = vec![
            day(Weekday::Mon, "09:00", "11:00", &[]),
            day(Weekday::Tue, "09:00", "11:00", &[]),
        ];
        let h = hours(
            weekly,
            vec![
                exception("2026-11-30", ExceptionKind::Leave, None),
                exception("2026-12-01", ExceptionKind::Leave, Some(("09:00", "10:00"))),
                exception("2026-12-01", ExceptionKind::Extra, Some(("14:00", "15:00"))),
                exception("2026-12-05", ExceptionKind::Extra, Some(("10:00", "11:00"))),
            ],
        );
        let week = whole_days(
            &h,
            Tz::UTC,
            "2026-11-30T00:00:00Z",
            "2026-12-08T00:00:00Z",
            60,
        );
        assert_eq!(
            starts(&week),
            [
                "12-01 10:00",
                "12-01 14:00",
                "12-05 10:00",
                "12-07 09:00",
                "12-07 10:00"
            ]
        );
    }

    #[test]
    fn hours_are_local_to_the_clinic_across_daylight_saving_changes() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let sun = |o, c| hours(vec![day(Weekday::Sun, o, c, &[])], vec![]);
        // An ordinary Sunday in winter: 09:00 local is 08:00 UTC.
        let winter = whole_days(
            &sun("09:00", "12:00"),
            berlin,
            "2026-12-06T00:00:00Z",
            "2026-12-07T00:00:00Z",
            60,
        );
        assert_eq!(
            starts(&winter),
            ["12-06 08:00", "12-06 09:00", "12-06 10:00"]
        );
        // Summer: 09:00 local is 07:00 UTC.
        let summer = whole_days(
            &sun("09:00", "12:00"),
            berlin,
            "2026-06-07T00:00:00Z",
            "2026-06-08T00:00:00Z",
            60,
        );
        assert_eq!(
            starts(&summer),
            ["06-07 07:00", "06-07 08:00", "06-07 09:00"]
        );
        // 29 March 2026: 02:00 becomes 03:00. 01:00–05:00 local is 3 real hours.
        let spring = whole_days(
            &sun("01:00", "05:00"),
            berlin,
            "2026-03-28T12:00:00Z",
            "2026-03-29T12:00:00Z",
            60,
        );
        assert_eq!(
            starts(&spring),
            ["03-29 00:00", "03-29 01:00", "03-29 02:00"]
        );
        // Opening inside the skipped hour opens when the clock jumps to 03:00.
        let gap = whole_days(
            &sun("02:30", "04:00"),
            berlin,
            "2026-03-28T12:00:00Z",
            "2026-03-29T12:00:00Z",
            30,
        );
        assert_eq!(starts(&gap), ["03-29 01:00", "03-29 01:30"]);
        // 25 October 2026: 03:00 becomes 02:00 again. 01:00–05:00 local is 5 real hours.
        let autumn = whole_days(
            &sun("01:00", "05:00"),
            berlin,
            "2026-10-24T12:00:00Z",
            "2026-10-25T12:00:00Z",
            60,
        );
        assert_eq!(
            starts(&autumn),
            [
                "10-24 23:00",
                "10-25 00:00",
                "10-25 01:00",
                "10-25 02:00",
                "10-25 03:00"
            ]
        );
        // And a day's hours stay on that local day in a zone far from UTC.
        let auckland: Tz = "Pacific/Auckland".parse().unwrap();
        let tue = hours(vec![day(Weekday::Tue, "08:00", "09:00", &[])], vec![]);
        let nz = whole_days(
            &tue,
            auckland,
            "2026-11-30T00:00:00Z",
            "2026-12-02T00:00:00Z",
            30,
        );
        assert_eq!(starts(&nz), ["11-30 19:00", "11-30 19:30"]);
        assert!(tue.covers(
            at("2026-11-30T19:00:00Z"),
            at("2026-11-30T20:00:00Z"),
            auckland
        ));
    }

    #[test]
    fn overlapping_weekly_stretches_merge_and_nothing_comes_of_empty_input() {
        let h = hours(
            vec![
                day(Weekday::Tue, "09:00", "10:00", &[]),
                day(Weekday::Tue, "09:30", "11:00", &[]),
            ],
            vec![],
        );
        let slots = whole_days(
            &h,
            Tz::UTC,
            "2026-12-01T00:00:00Z",
            "2026-12-02T00:00:00Z",
            60,
        );
        assert_eq!(starts(&slots), ["12-01 09:00", "12-01 10:00"]);
        assert!(
            whole_days(
                &h,
                Tz::UTC,
                "2026-12-01T00:00:00Z",
                "2026-12-02T00:00:00Z",
                0
            )
            .is_empty()
        );
        assert!(
            whole_days(
                &h,
                Tz::UTC,
                "2026-12-02T00:00:00Z",
                "2026-12-01T00:00:00Z",
                15
            )
            .is_empty()
        );
    }
}
