//! Time, handed in: the pure cores never read a clock, their drivers do.
//!
//! A reading carries both clocks because they answer different questions:
//! the monotonic one schedules timers (retry in 1.2 s, typing stops in 6 s);
//! the wall clock judges what must survive a laptop's sleep (a link silent
//! for an hour, a token that expired meanwhile), which a monotonic clock
//! frozen during suspend would not notice.

use chrono::{DateTime, Utc};
use std::time::{Duration, Instant, SystemTime};

/// One reading of both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// For timers.
    pub mono: Instant,
    /// For liveness, token lifetimes and timestamps shown to people.
    pub wall: SystemTime,
}

impl Now {
    /// The wall time as a UTC timestamp.
    pub fn utc(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.wall)
    }

    /// This reading moved on by `d` on both clocks (virtual time in tests).
    pub fn after(&self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            wall: self.wall + d,
        }
    }

    /// When the wall-clock moment `at` falls on the monotonic clock, as seen
    /// from this reading (at once if it is already past).
    pub fn mono_at(&self, at: SystemTime) -> Instant {
        self.mono + at.duration_since(self.wall).unwrap_or(Duration::ZERO)
    }
}

/// Where a driver reads the time. The monotonic half must be the real
/// `Instant` (drivers sleep on it); the wall half may be skewed.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Now;
}

/// The machine's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        Now {
            mono: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// The machine's clocks with the wall clock set off by a fixed amount, as on
/// a PC whose clock is wrong (tests: a desk two hours fast still works).
#[derive(Debug, Clone, Copy)]
pub struct SkewedClock {
    pub ahead: bool,
    pub by: Duration,
}

impl Clock for SkewedClock {
    fn now(&self) -> Now {
        let real = SystemClock.now();
        let wall = if self.ahead {
            real.wall + self.by
        } else {
            real.wall.checked_sub(self.by).unwrap_or(real.wall)
        };
        Now { wall, ..real }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_deadlines_map_onto_the_monotonic_clock() {
        let now = SystemClock.now();
        let later = now.wall + Duration::from_secs(5);
        assert_eq!(now.mono_at(later), now.mono + Duration::from_secs(5));
        assert_eq!(now.mono_at(now.wall - Duration::from_secs(5)), now.mono);
        let next = now.after(Duration::from_secs(2));
        assert_eq!(next.mono - now.mono, Duration::from_secs(2));
        let skewed = SkewedClock {
            ahead: true,
            by: Duration::from_secs(7200),
        }
        .now();
        assert!(skewed.wall > SystemTime::now() + Duration::from_secs(7100));
    }
}
