//! Unlocking a locked desk with the user's password, also offline.
//!
//! At sign-in the engine keeps an Argon2id verifier of the password in the
//! OS keyring beside the refresh token (never the password), and forgets it
//! with the session: a desk whose session ended cannot be unlocked, only
//! signed in to again. [`UnlockGuard`] slows guessing at an unattended PC:
//! after [`FREE_TRIES`] wrong passwords each further try waits, doubling
//! from one second to [`MAX_WAIT`]; a right one clears it.

use crate::error::{EngineError, Result};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::time::{Duration, Instant};

/// Wrong passwords allowed before tries have to wait.
pub const FREE_TRIES: u32 = 3;
/// The longest wait between tries.
pub const MAX_WAIT: Duration = Duration::from_secs(5 * 60);

/// A verifier of `password` (Argon2id, fresh salt, PHC string).
pub fn verifier(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| EngineError::Invalid(format!("could not derive the unlock verifier: {e}")))
}

/// Whether `password` is the one `verifier` was made from (a damaged
/// verifier matches nothing).
pub fn matches(verifier: &str, password: &str) -> bool {
    PasswordHash::new(verifier).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Wrong tries so far, and when the next may be made.
#[derive(Debug, Clone, Default)]
pub struct UnlockGuard {
    failures: u32,
    next_try: Option<Instant>,
}

impl UnlockGuard {
    /// `Err(wait)` if a try at `now` must wait that long first.
    pub fn check(&self, now: Instant) -> std::result::Result<(), Duration> {
        match self.next_try {
            Some(at) if at > now => Err(at - now),
            _ => Ok(()),
        }
    }

    /// A wrong password at `now`.
    pub fn failed(&mut self, now: Instant) {
        self.failures += 1;
        if self.failures >= FREE_TRIES {
            let doublings = (self.failures - FREE_TRIES).min(16);
            let wait = Duration::from_secs(1 << doublings).min(MAX_WAIT);
            self.next_try = Some(now + wait);
        }
    }

    /// The right password: tries start over.
    pub fn succeeded(&mut self) {
        *self = UnlockGuard::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verifier_matches_its_password_only() {
        let v = verifier("correct horse battery").unwrap();
        assert!(v.starts_with("$argon2id$"));
        assert!(!v.contains("correct horse"));
        assert!(matches(&v, "correct horse battery"));
        assert!(!matches(&v, "correct horse batterY"));
        assert!(!matches(&v, ""));
        assert!(!matches("not a verifier", "correct horse battery"));
        assert_ne!(v, verifier("correct horse battery").unwrap(), "salted");
    }

    #[test]
    fn wrong_tries_wait_longer_and_longer_after_the_free_ones() {
        let t0 = Instant::now();
        let mut g = UnlockGuard::default();
        for i in 1..FREE_TRIES {
            g.failed(t0);
            assert_eq!(g.check(t0), Ok(()), "try {i} is free");
        }
        g.failed(t0);
        assert_eq!(g.check(t0), Err(Duration::from_secs(1)));
        assert_eq!(g.check(t0 + Duration::from_secs(1)), Ok(()));
        let t1 = t0 + Duration::from_secs(1);
        g.failed(t1);
        assert_eq!(g.check(t1), Err(Duration::from_secs(2)));
        for _ in 0..30 {
            g.failed(t1);
        }
        assert_eq!(g.check(t1), Err(MAX_WAIT), "capped");
        g.succeeded();
        assert_eq!(g.check(t1), Ok(()));
        g.failed(t1);
        assert_eq!(g.check(t1), Ok(()), "free tries again after a success");
    }
}
