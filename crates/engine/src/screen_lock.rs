//! The shared PC's lock, with time passed in.
//!
//! A desk left alone on a reception PC shows patients' names to whoever walks
//! up. [`ScreenLock`] locks after the clinic's idle time without input
//! (`Tenant::lock_after_seconds`, 5 minutes unless the clinic set another),
//! or at once when the user asks. While locked, input does not count (typing
//! at the lock screen is not using the desk) and nothing is due; only
//! [`ScreenLock::unlock`], called once the user's password was checked,
//! ends it. The engine stays live throughout: it is the screen and the
//! notifications that hide, not the desk that stops.

use serde::Serialize;
use std::time::{Duration, Instant};

/// Idle time before a desk locks when the clinic has not set one.
pub const LOCK_AFTER: Duration = Duration::from_secs(5 * 60);

/// Why the desk is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum LockReason {
    /// Nobody touched it for the clinic's idle time.
    Idle,
    /// The user locked it (shortcut, tray).
    Asked,
    /// The app started on a stored sign-in: whoever started it must show
    /// they are that user before the desk opens.
    Started,
}

/// Locked or not, and when idleness locks it.
#[derive(Debug, Clone)]
pub struct ScreenLock {
    idle_after: Duration,
    last_input: Instant,
    locked: Option<LockReason>,
}

impl ScreenLock {
    /// Unlocked, the user active as of `now`.
    pub fn new(idle_after: Duration, now: Instant) -> ScreenLock {
        ScreenLock {
            idle_after,
            last_input: now,
            locked: None,
        }
    }

    /// Why it is locked, if it is.
    pub fn locked(&self) -> Option<LockReason> {
        self.locked
    }

    /// The user did something at the desk. Ignored while locked.
    pub fn input(&mut self, now: Instant) {
        if self.locked.is_none() {
            self.last_input = self.last_input.max(now);
        }
    }

    /// The clinic changed its idle time; it counts from the last input.
    pub fn set_idle_after(&mut self, idle_after: Duration) {
        self.idle_after = idle_after;
    }

    /// Locks now; `false` if it already was.
    pub fn lock(&mut self, reason: LockReason) -> bool {
        if self.locked.is_some() {
            return false;
        }
        self.locked = Some(reason);
        true
    }

    /// Unlocks (the password was checked); the idle time starts again at
    /// `now`. `false` if it was not locked.
    pub fn unlock(&mut self, now: Instant) -> bool {
        if self.locked.take().is_none() {
            return false;
        }
        self.last_input = now;
        true
    }

    /// When idleness locks it, unless input comes first (none while locked).
    pub fn deadline(&self) -> Option<Instant> {
        match self.locked {
            Some(_) => None,
            None => Some(self.last_input + self.idle_after),
        }
    }

    /// Locks it if the idle time has run out by `now`; `true` if it just did.
    pub fn tick(&mut self, now: Instant) -> bool {
        match self.deadline() {
            Some(at) if now >= at => self.lock(LockReason::Idle),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn idleness_locks_at_the_deadline_and_not_a_moment_before() {
        let t0 = Instant::now();
        let mut l = ScreenLock::new(LOCK_AFTER, t0);
        assert_eq!(l.deadline(), Some(t0 + LOCK_AFTER));
        assert!(!l.tick(t0 + LOCK_AFTER - Duration::from_millis(1)));
        assert_eq!(l.locked(), None);
        assert!(l.tick(t0 + LOCK_AFTER));
        assert_eq!(l.locked(), Some(LockReason::Idle));
        assert!(!l.tick(t0 + LOCK_AFTER * 2), "locks once");
        assert_eq!(l.deadline(), None, "nothing is due while locked");
    }

    #[test]
    fn input_postpones_the_lock_but_not_while_locked() {
        let t0 = Instant::now();
        let mut l = ScreenLock::new(secs(60), t0);
        l.input(t0 + secs(50));
        assert!(!l.tick(t0 + secs(100)));
        assert_eq!(l.deadline(), Some(t0 + secs(110)));
        l.input(t0 + secs(40)); // a late report of older input moves nothing back
        assert_eq!(l.deadline(), Some(t0 + secs(110)));
        assert!(l.tick(t0 + secs(110)));
        l.input(t0 + secs(111));
        assert_eq!(l.locked(), Some(LockReason::Idle), "input does not unlock");
    }

    #[test]
    fn asked_locks_at_once_and_unlock_restarts_the_idle_time() {
        let t0 = Instant::now();
        let mut l = ScreenLock::new(secs(300), t0);
        assert!(l.lock(LockReason::Asked));
        assert!(!l.lock(LockReason::Idle), "the first reason stays");
        assert_eq!(l.locked(), Some(LockReason::Asked));
        assert!(l.unlock(t0 + secs(1000)));
        assert_eq!(l.locked(), None);
        assert_eq!(l.deadline(), Some(t0 + secs(1300)));
        assert!(
            !l.unlock(t0 + secs(1001)),
            "unlocking an open desk is nothing"
        );
    }

    #[test]
    fn a_new_idle_time_counts_from_the_last_input() {
        let t0 = Instant::now();
        let mut l = ScreenLock::new(secs(300), t0);
        l.input(t0 + secs(100));
        l.set_idle_after(secs(60));
        assert_eq!(l.deadline(), Some(t0 + secs(160)));
        assert!(
            l.tick(t0 + secs(200)),
            "already past the shorter time: locks"
        );
    }
}
