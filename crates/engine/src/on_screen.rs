//! The day on the desk's screen, when it lies outside the sync window: the
//! server is asked to keep it live (`watch`, protocol §8.7a) and it is
//! fetched whole once per link, so what the desk shows of it is current
//! while live and "as of" its fetch while offline. Days inside the window
//! need neither: the window is always live.
//!
//! Pure: [`OnScreen::next`] says what to do given the window and the link;
//! the desk core does it and reports back.

use chrono::{DateTime, NaiveDate, Utc};
use frontdesk_protocol::window::SyncWindow;
use std::time::Instant;

/// What the desk should do next for the day on screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Tell the server which days to keep live (empty: none).
    Watch(Vec<NaiveDate>),
    /// Fetch this day whole.
    Fetch(NaiveDate),
}

/// A day fetch under way: call `id` for `day`, the ids its pages held so
/// far, and when it started (the "as of" once done).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetching {
    pub id: u64,
    pub day: NaiveDate,
    pub ids: Vec<String>,
    pub started: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Fetch {
    Idle,
    Calling(Fetching),
    /// The last fetch of `day` failed; not again before then.
    Wait {
        day: NaiveDate,
        until: Instant,
    },
}

/// The day on screen and what the server and the cache have of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnScreen {
    shown: Option<NaiveDate>,
    /// The days the server watches for us on this link.
    told: Vec<NaiveDate>,
    fetch: Fetch,
    /// The day fetched whole on this link (kept live since by the watch).
    fresh: Option<NaiveDate>,
}

impl Default for OnScreen {
    fn default() -> Self {
        OnScreen {
            shown: None,
            told: Vec::new(),
            fetch: Fetch::Idle,
            fresh: None,
        }
    }
}

impl OnScreen {
    /// The user moved to `day` (or left the schedule: `None`).
    pub fn show(&mut self, day: Option<NaiveDate>) {
        self.shown = day;
    }

    /// The day on screen.
    pub fn shown(&self) -> Option<NaiveDate> {
        self.shown
    }

    /// Whether the day on screen is outside `window` and current: fetched
    /// on this link and watched since.
    pub fn is_live(&self, day: NaiveDate) -> bool {
        self.fresh == Some(day) && self.told.contains(&day)
    }

    /// The link went down: the server forgot the watch, and what was
    /// fetched is only "as of" now.
    pub fn link_down(&mut self) {
        self.told.clear();
        self.fresh = None;
        if matches!(self.fetch, Fetch::Calling(_)) {
            self.fetch = Fetch::Idle;
        }
    }

    /// What to do next, if anything: call until `None`. `synced`: live and
    /// caught up (watching or fetching before would race the sync).
    pub fn next(&mut self, window: Option<SyncWindow>, synced: bool, now: Instant) -> Option<Step> {
        if !synced {
            return None;
        }
        let outside = self
            .shown
            .filter(|d| window.is_some_and(|w| !w.includes(*d)));
        let want: Vec<NaiveDate> = outside.into_iter().collect();
        if want != self.told {
            self.told = want.clone();
            if self.fresh.is_some_and(|d| !want.contains(&d)) {
                self.fresh = None;
            }
            return Some(Step::Watch(want));
        }
        let day = outside?;
        if self.fresh == Some(day) {
            return None;
        }
        match &self.fetch {
            Fetch::Calling(f) if f.day == day => None,
            Fetch::Wait { day: d, until } if *d == day && *until > now => None,
            _ => Some(Step::Fetch(day)),
        }
    }

    /// The wake-up a failed fetch waits for.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.fetch {
            Fetch::Wait { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// A fetch is under way.
    pub fn calling(&mut self, f: Fetching) {
        self.fetch = Fetch::Calling(f);
    }

    /// The fetch under way if it is call `id` (taken out of the state).
    pub fn answer(&mut self, id: u64) -> Option<Fetching> {
        match &self.fetch {
            Fetch::Calling(f) if f.id == id => {
                let Fetch::Calling(f) = std::mem::replace(&mut self.fetch, Fetch::Idle) else {
                    return None;
                };
                Some(f)
            }
            _ => None,
        }
    }

    /// An appointment of `day` arrived live: if `day` is being fetched, it
    /// belongs to what the fetch keeps (it may have been moved there after
    /// the fetch read the day).
    pub fn saw_live(&mut self, day: NaiveDate, id: &str) {
        if let Fetch::Calling(f) = &mut self.fetch
            && f.day == day
            && !f.ids.iter().any(|i| i == id)
        {
            f.ids.push(id.to_owned());
        }
    }

    /// `day` is in the cache whole.
    pub fn fetched(&mut self, day: NaiveDate) {
        self.fetch = Fetch::Idle;
        self.fresh = Some(day);
    }

    /// Fetching `day` failed: try again at `until`.
    pub fn failed(&mut self, day: NaiveDate, until: Instant) {
        self.fetch = Fetch::Wait { day, until };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn window() -> Option<SyncWindow> {
        Some(SyncWindow {
            from: d("2026-11-24"),
            to: d("2026-12-31"),
        })
    }

    fn fetching(id: u64, day: &str) -> Fetching {
        Fetching {
            id,
            day: d(day),
            ids: Vec::new(),
            started: "2026-12-01T09:42:00Z".parse().unwrap(),
        }
    }

    /// 2027-03-01 on screen, watched, its fetch (call 1) under way.
    fn fetching_far_day(now: Instant) -> OnScreen {
        let mut s = OnScreen::default();
        s.show(Some(d("2027-03-01")));
        s.next(window(), true, now);
        s.next(window(), true, now);
        s.calling(fetching(1, "2027-03-01"));
        s
    }

    #[test]
    fn a_day_inside_the_window_needs_nothing() {
        let now = Instant::now();
        let mut s = OnScreen::default();
        s.show(Some(d("2026-12-02")));
        assert_eq!(s.next(window(), true, now), None);
    }

    #[test]
    fn a_day_outside_is_watched_then_fetched_once_per_link() {
        let now = Instant::now();
        let mut s = OnScreen::default();
        s.show(Some(d("2027-03-01")));
        assert_eq!(s.next(window(), false, now), None, "not before synced");
        assert_eq!(
            s.next(window(), true, now),
            Some(Step::Watch(vec![d("2027-03-01")]))
        );
        assert_eq!(
            s.next(window(), true, now),
            Some(Step::Fetch(d("2027-03-01")))
        );
        s.calling(fetching(7, "2027-03-01"));
        assert_eq!(s.next(window(), true, now), None, "one fetch at a time");
        assert!(s.answer(6).is_none(), "another call's answer");
        assert_eq!(s.answer(7).map(|f| f.day), Some(d("2027-03-01")));
        s.fetched(d("2027-03-01"));
        assert!(s.is_live(d("2027-03-01")));
        assert_eq!(s.next(window(), true, now), None, "live by the watch now");

        // The link drops: offline it is "as of"; back, watched and fetched again.
        s.link_down();
        assert!(!s.is_live(d("2027-03-01")));
        assert_eq!(
            s.next(window(), true, now),
            Some(Step::Watch(vec![d("2027-03-01")]))
        );
        assert_eq!(
            s.next(window(), true, now),
            Some(Step::Fetch(d("2027-03-01")))
        );
    }

    #[test]
    fn moving_back_into_the_window_stops_the_watch() {
        let now = Instant::now();
        let mut s = fetching_far_day(now);
        s.show(Some(d("2026-12-02")));
        assert_eq!(s.next(window(), true, now), Some(Step::Watch(vec![])));
        assert_eq!(s.next(window(), true, now), None);
        // The late answer of the old day is still taken (it is stored).
        assert!(s.answer(1).is_some());
    }

    #[test]
    fn an_appointment_arriving_live_during_the_fetch_is_kept_with_the_day() {
        let now = Instant::now();
        let mut s = fetching_far_day(now);
        s.saw_live(d("2027-03-01"), "moved-in");
        s.saw_live(d("2027-03-01"), "moved-in");
        s.saw_live(d("2027-03-02"), "another-day");
        assert_eq!(s.answer(1).unwrap().ids, ["moved-in"]);
        s.saw_live(d("2027-03-01"), "after");
        assert_eq!(s.answer(1), None, "nothing in flight to add to");
    }

    #[test]
    fn a_failed_fetch_waits_before_trying_again() {
        let now = Instant::now();
        let mut s = fetching_far_day(now);
        s.answer(1);
        s.failed(d("2027-03-01"), now + Duration::from_secs(60));
        assert_eq!(s.deadline(), Some(now + Duration::from_secs(60)));
        assert_eq!(s.next(window(), true, now + Duration::from_secs(59)), None);
        assert_eq!(
            s.next(window(), true, now + Duration::from_secs(60)),
            Some(Step::Fetch(d("2027-03-01")))
        );
    }

    #[test]
    fn the_window_moving_over_the_day_on_screen_ends_its_watch() {
        let now = Instant::now();
        let mut s = OnScreen::default();
        s.show(Some(d("2027-01-01")));
        assert_eq!(
            s.next(window(), true, now),
            Some(Step::Watch(vec![d("2027-01-01")]))
        );
        let moved = Some(SyncWindow {
            from: d("2026-11-25"),
            to: d("2027-01-01"),
        });
        assert_eq!(s.next(moved, true, now), Some(Step::Watch(vec![])));
        assert_eq!(s.next(moved, true, now), None);
    }
}
