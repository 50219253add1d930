//! The server's time, handed in: every handler and store function that needs
//! "now" gets it from the [`Clock`] in the config, so tests choose the time of
//! day (a clinic's midnight, a token's expiry) instead of waiting for it.

use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where the server reads the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Wall time: timestamps, token lifetimes, the clinic's day.
    fn now(&self) -> DateTime<Utc>;
    /// Monotonic time: rate limits and presence grace.
    fn instant(&self) -> Instant;
}

/// The machine's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn instant(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that stands still until a test moves it (both halves together).
#[derive(Debug)]
pub struct ManualClock {
    start: DateTime<Utc>,
    start_instant: Instant,
    elapsed: Mutex<Duration>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            start,
            start_instant: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Moves the clock on by `d`.
    pub fn advance(&self, d: Duration) {
        let mut e = self.elapsed.lock().unwrap_or_else(|p| p.into_inner());
        *e += d;
    }

    fn elapsed(&self) -> Duration {
        *self.elapsed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(self.elapsed()).unwrap_or_default()
    }
    fn instant(&self) -> Instant {
        self.start_instant + self.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start: DateTime<Utc> = "2026-11-22T23:59:00Z".parse().unwrap();
        let c = ManualClock::new(start);
        let i = c.instant();
        assert_eq!(c.now(), start);
        c.advance(Duration::from_secs(120));
        assert_eq!(c.now(), start + chrono::Duration::seconds(120));
        assert_eq!(c.instant() - i, Duration::from_secs(120));
    }
}
