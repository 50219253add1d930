//! Rate limiting with the time passed in, so it is tested without sleeping.
//!
//! [`LoginGuard`] decides whether a login attempt may be made: per user *and*
//! address, attempts back off once the free ones are used (so a stranger
//! cannot lock a colleague out from elsewhere), and per address a cap stops
//! a spray across users. [`FailureLimiter`] counts failures per key in a
//! fixed window; [`TokenBucket`] caps the steady rate of requests or socket
//! events.

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

    /// Takes back one counted failure of `key` (it turned out a success).
    pub fn refund(&mut self, key: &str) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.1 = entry.1.saturating_sub(1);
        }
    }
}

/// Login attempts: each is reserved (counted as a failure) *before* the
/// password is checked, under one lock, so concurrent attempts cannot slip
/// past the count; a success gives the reservation back.
///
/// Per (user, address): `free` attempts, then each next one waits
/// `base × 2^(failures − free)` after the last (at most `cap`); the count is
/// forgotten after `forget_after` without attempts, or on success. Per
/// address: at most `per_address` failures in `window`, whatever the users.
#[derive(Debug)]
pub struct LoginGuard {
    free: u32,
    base: Duration,
    cap: Duration,
    forget_after: Duration,
    /// (user, address) → (failures, last attempt)
    pairs: HashMap<(String, String), (u32, Instant)>,
    addresses: FailureLimiter,
}

impl LoginGuard {
    /// `free` attempts per user and address, then backing off from `base` up
    /// to `cap` (forgotten after `cap` of quiet); `per_address` failures per
    /// `cap` from one address.
    pub fn new(free: u32, per_address: u32, base: Duration, cap: Duration) -> LoginGuard {
        LoginGuard {
            free,
            base,
            cap,
            forget_after: cap,
            pairs: HashMap::new(),
            addresses: FailureLimiter::new(per_address, cap),
        }
    }

    /// Reserves an attempt for `user` from `address` at `now`, or says how
    /// many seconds to wait.
    pub fn reserve(&mut self, user: &str, address: &str, now: Instant) -> Result<(), u64> {
        self.addresses.check(address, now)?;
        let key = (user.to_owned(), address.to_owned());
        let (failures, last) = match self.pairs.get(&key) {
            Some(&(n, last)) if now.duration_since(last) < self.forget_after => (n, last),
            _ => (0, now),
        };
        if failures >= self.free {
            let doublings = (failures - self.free).min(30);
            let wait = self.base.saturating_mul(1u32 << doublings).min(self.cap);
            let ready = last + wait;
            if now < ready {
                return Err((ready - now).as_secs().max(1));
            }
        }
        self.pairs.insert(key, (failures + 1, now));
        self.addresses.record_failure(address, now);
        // Keep memory bounded under a spray of distinct keys.
        if self.pairs.len() > 100_000 {
            let forget = self.forget_after;
            self.pairs
                .retain(|_, (_, last)| now.duration_since(*last) < forget);
        }
        Ok(())
    }

    /// The reserved attempt succeeded: the pair starts afresh, and the
    /// address gets its reservation back.
    pub fn succeeded(&mut self, user: &str, address: &str) {
        self.pairs.remove(&(user.to_owned(), address.to_owned()));
        self.addresses.refund(address);
    }
}

/// A token bucket per key (a user, an address); buckets that have refilled
/// completely are forgotten once there are many, which changes nothing for
/// their keys (a new bucket starts full).
#[derive(Debug)]
pub struct Buckets {
    capacity: u32,
    per_second: u32,
    map: HashMap<String, TokenBucket>,
}

impl Buckets {
    /// Buckets of `capacity` burst, refilled at `per_second`.
    pub fn new(capacity: u32, per_second: u32) -> Buckets {
        Buckets {
            capacity,
            per_second,
            map: HashMap::new(),
        }
    }

    /// Takes a token from `key`'s bucket if it has one.
    pub fn take(&mut self, key: &str, now: Instant) -> bool {
        let (capacity, per_second) = (self.capacity, self.per_second);
        let allowed = self
            .map
            .entry(key.to_owned())
            .or_insert_with(|| TokenBucket::new(capacity, per_second, now))
            .try_take(now);
        if self.map.len() > 10_000 {
            self.map.retain(|_, b| !b.is_idle(now));
        }
        allowed
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
    fn concurrent_attempts_cannot_slip_past_the_reservation() {
        let t0 = Instant::now();
        let mut g = LoginGuard::new(5, 30, Duration::from_secs(1), Duration::from_secs(900));
        // Fifty attempts at once, none answered yet: five get to check a password.
        let let_through = (0..50)
            .filter(|_| g.reserve("u", "1.2.3.4", t0).is_ok())
            .count();
        assert_eq!(let_through, 5);
    }

    #[test]
    fn a_stranger_elsewhere_cannot_lock_a_user_out() {
        let t0 = Instant::now();
        let mut g = LoginGuard::new(5, 30, Duration::from_secs(1), Duration::from_secs(900));
        for _ in 0..5 {
            g.reserve("doctor", "6.6.6.6", t0).unwrap();
        }
        assert!(
            g.reserve("doctor", "6.6.6.6", t0).is_err(),
            "the guesser waits"
        );
        // The doctor at the front desk PC signs in at once.
        assert!(g.reserve("doctor", "10.0.0.5", t0).is_ok());
        g.succeeded("doctor", "10.0.0.5");
        assert!(g.reserve("doctor", "10.0.0.5", t0).is_ok());
    }

    #[test]
    fn attempts_back_off_doubling_then_are_forgotten() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut g = LoginGuard::new(2, 1000, s(1), s(60));
        g.reserve("u", "a", t0).unwrap();
        g.reserve("u", "a", t0).unwrap();
        // Third: 1 s after the last, fourth: 2 s after that, fifth: 4 s…
        assert_eq!(g.reserve("u", "a", t0), Err(1));
        g.reserve("u", "a", t0 + s(1)).unwrap();
        assert_eq!(g.reserve("u", "a", t0 + s(2)), Err(1));
        g.reserve("u", "a", t0 + s(3)).unwrap();
        assert_eq!(g.reserve("u", "a", t0 + s(4)), Err(3));
        g.reserve("u", "a", t0 + s(7)).unwrap();
        // …never more than the cap (60 s here), however many failures…
        let mut t = t0 + s(7);
        let mut waits = Vec::new();
        for _ in 0..12 {
            match g.reserve("u", "a", t) {
                Ok(()) => {}
                Err(w) => {
                    waits.push(w);
                    t += s(w);
                }
            }
        }
        assert!(waits.iter().all(|w| *w <= 60), "{waits:?}");
        assert!(waits.contains(&60), "it reaches the cap: {waits:?}");
        // …and forgotten after a quiet cap.
        assert!(g.reserve("u", "a", t + s(61)).is_ok());
        assert!(g.reserve("u", "a", t + s(61)).is_ok());
        // A success starts the pair afresh.
        assert!(g.reserve("u", "a", t + s(61)).is_err());
        g.succeeded("u", "a");
        assert!(g.reserve("u", "a", t + s(61)).is_ok());
    }

    #[test]
    fn one_address_cannot_spray_across_users() {
        let t0 = Instant::now();
        let mut g = LoginGuard::new(5, 3, Duration::from_secs(1), Duration::from_secs(900));
        for user in ["a", "b", "c"] {
            g.reserve(user, "6.6.6.6", t0).unwrap();
        }
        assert!(g.reserve("d", "6.6.6.6", t0).is_err());
        assert!(g.reserve("d", "7.7.7.7", t0).is_ok());
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
