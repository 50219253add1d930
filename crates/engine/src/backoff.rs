//! Reconnect delays: exponential backoff with *full jitter*.
//!
//! Each delay is drawn uniformly from `[0, min(cap, base · 2^attempt)]`. At the
//! cap it stays uniform over `[0, cap]`: after a server restart, a clinic's
//! desks spread their reconnects over the whole window instead of arriving in
//! lockstep (Node's socket.io client loses its randomness at the cap).
//!
//! A clinic server restart is usually over in seconds, so the first retries
//! use a low cap (the *fast phase*: 1.5 s by default, for about the first
//! 30 s of failures) and the desk is back within moments of the server;
//! after that the cap rises (30 s by default) so a long outage does not keep
//! every desk knocking. Delays are uniform at either cap.
//!
//! The random source is passed in, so tests are deterministic.

use rand::Rng;
use std::time::Duration;

/// Backoff state for one connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    fast_cap: Duration,
    fast_attempts: u32,
    attempt: u32,
}

impl Backoff {
    /// Delays start around `base` and never exceed `cap`.
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        let cap = cap.max(base);
        Backoff {
            base,
            cap,
            fast_cap: cap,
            fast_attempts: 0,
            attempt: 0,
        }
    }

    /// For the first `attempts` retries the ceiling stops at `fast_cap`.
    pub fn with_fast_phase(mut self, fast_cap: Duration, attempts: u32) -> Backoff {
        self.fast_cap = fast_cap.clamp(self.base, self.cap);
        self.fast_attempts = attempts;
        self
    }

    /// The ceiling of the next delay, before jitter.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        let cap = if self.attempt < self.fast_attempts {
            self.fast_cap
        } else {
            self.cap
        };
        self.base.saturating_mul(factor).min(cap)
    }

    /// The next delay, drawn from `[0, ceiling]`, and one more attempt counted.
    pub fn next_delay(&mut self, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
        Duration::from_nanos(rng.random_range(0..=nanos))
    }

    /// Attempts made since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// A connection succeeded: start again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn ceiling_doubles_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut rng = StdRng::seed_from_u64(1);
        let mut ceilings = Vec::new();
        for _ in 0..10 {
            ceilings.push(b.ceiling().as_millis());
            let d = b.next_delay(&mut rng);
            assert!(d <= Duration::from_secs(30));
        }
        assert_eq!(
            ceilings,
            [
                500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000
            ]
        );
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(500));
        assert_eq!(b.attempts(), 0);
    }

    #[test]
    fn stays_random_at_the_cap() {
        // Far past the cap, delays still spread over the whole [0, cap] window.
        let cap = Duration::from_secs(30);
        let mut b = Backoff::new(Duration::from_millis(500), cap);
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..100 {
            b.next_delay(&mut rng);
        }
        let delays: Vec<f64> = (0..2000)
            .map(|_| b.next_delay(&mut rng).as_secs_f64())
            .collect();
        let mean = delays.iter().sum::<f64>() / delays.len() as f64;
        let below_a_third = delays.iter().filter(|d| **d < 10.0).count();
        let above_two_thirds = delays.iter().filter(|d| **d > 20.0).count();
        assert!(
            (13.5..16.5).contains(&mean),
            "uniform over [0, 30] has mean 15, got {mean}"
        );
        assert!(
            below_a_third > 550 && above_two_thirds > 550,
            "{below_a_third} {above_two_thirds}"
        );
        assert!(delays.iter().all(|d| *d <= 30.0));
        // Never two identical runs of delays: distinct values.
        let mut distinct = delays.clone();
        distinct.sort_by(|a, b| a.partial_cmp(b).unwrap());
        distinct.dedup();
        assert!(distinct.len() > 1990);
    }

    #[test]
    fn a_fast_phase_keeps_early_retries_short() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(30))
            .with_fast_phase(Duration::from_millis(1500), 4);
        let mut rng = StdRng::seed_from_u64(5);
        let mut ceilings = Vec::new();
        for _ in 0..9 {
            ceilings.push(b.ceiling().as_millis());
            b.next_delay(&mut rng);
        }
        assert_eq!(
            ceilings,
            [250, 500, 1000, 1500, 4000, 8000, 16000, 30000, 30000]
        );
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(250));
    }

    #[test]
    fn survives_huge_attempt_counts() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..10_000 {
            assert!(b.next_delay(&mut rng) <= Duration::from_secs(60));
        }
    }
}
