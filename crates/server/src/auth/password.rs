//! Argon2id password hashes in PHC string form.

use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes a password with a fresh random salt and the crate's default
/// (OWASP-recommended) Argon2id parameters.
pub fn hash(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("hashing password: {e}")))
}

/// Whether `password` matches a stored PHC hash. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of no real password, verified against when the user does not exist,
/// so that a login for an unknown user takes as long as one with a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash("decoy password that matches nothing").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn verifies_only_the_right_password() {
        let h = super::hash("demo").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("demo", &h));
        assert!(!super::verify("Demo", &h));
        assert!(!super::verify("demo", "not a hash"));
    }
}
