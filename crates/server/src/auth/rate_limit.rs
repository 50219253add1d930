//! Rate limiting with the time passed in, so it is tested without sleeping.
//!
//! [`FailureLimiter`] counts failed logins per key (user, address) in a fixed
//! window; [`TokenBucket`] caps the steady rate of requests or socket events.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Allows `max` failures per key within `window`; past that, refuses until the
/// window that began at the first failure has passed.
#[derive(Debug)]
pub struct FailureLimiter {
    max: u32,
    window: Duration,
    entries: HashMap<String, (Instant, u32)>,
}

impl FailureLimiter {
    /// A limiter allowing `max` failures per `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            entries: HashMap::new(),
        }
    }

    /// `Err(seconds to wait)` if `key` has used up its failures.
    pub fn check(&mut self, key: &str, now: Instant) -> Result<(), u64> {
        match self.entries.get(key) {
            Some(&(start, count)) if now.duration_since(start) < self.window => {
                if count >= self.max {
                    let left = self.window - now.duration_since(start);
                    Err(left.as_secs().max(1))
                } else {
                    Ok(())
                }
            }
            Some(_) => {
                self.entries.remove(key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts one failure for `key`.
    pub fn record_failure(&mut self, key: &str, now: Instant) {
        let window = self.window;
        let entry = self.entries.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        // Keep memory bounded under a spray of distinct keys.
        if self.entries.len() > 100_000 {
            self.entries
                .retain(|_, (start, _)| now.duration_since(*start) < window);
        }
    }

    /// Forgets `key`'s failures (after a successful login).
    pub fn reset(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

/// A classic token bucket: `capacity` burst, refilled at `per_second`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: u32, per_second: u32, now: Instant) -> Self {
        Self {
            capacity: capacity as f64,
            per_second: per_second as f64,
            tokens: capacity as f64,
            last: now,
        }
    }

    /// Whether the bucket has refilled completely (its user can be forgotten).
    pub fn is_idle(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.per_second >= self.capacity
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_until_the_window_passes() {
        let t0 = Instant::now();
        let mut l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check("u", t0).is_ok());
            l.record_failure("u", t0);
        }
        assert_eq!(l.check("u", t0 + Duration::from_secs(10)), Err(50));
        assert!(l.check("other", t0).is_ok());
        assert!(l.check("u", t0 + Duration::from_secs(60)).is_ok());
        l.record_failure("u", t0 + Duration::from_secs(61));
        assert!(l.check("u", t0 + Duration::from_secs(62)).is_ok());
        l.reset("u");
        assert!(l.check("u", t0 + Duration::from_secs(62)).is_ok());
    }

    #[test]
    fn bucket_allows_burst_then_steady_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3, 2, t0);
        assert!(b.try_take(t0) && b.try_take(t0) && b.try_take(t0));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_millis(400)));
        assert!(b.try_take(t0 + Duration::from_millis(500)));
        assert!(!b.try_take(t0 + Duration::from_millis(500)));
        // Never more than capacity, however long it idles.
        let later = t0 + Duration::from_secs(100);
        assert!(b.try_take(later) && b.try_take(later) && b.try_take(later));
        assert!(!b.try_take(later));
    }
}
