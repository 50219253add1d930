//! Access tokens: HS256 JWTs, short-lived for staff, long-lived for display boards.
//!
//! Verification pins the algorithm (a token claiming `none` or RS256 is refused),
//! requires `exp`, `iss`, `sub` and `tenant`, and allows no clock leeway: this
//! server both issues and checks them, so there is no skew to forgive.

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use frontdesk_protocol::records::Role;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};

/// The `iss` of every token this server issues.
pub const ISSUER: &str = "frontdesk-clinic-server";

/// What an access token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// User id, or display id for a board token.
    pub sub: String,
    pub tenant: String,
    pub role: Role,
    pub name: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The login (one sign-in on one device) this token was issued for;
    /// absent on display tokens. Sockets of a revoked login are closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
}

/// The authenticated caller of a request or socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User id (or display id when `role` is `Display`).
    pub id: String,
    pub tenant: String,
    pub role: Role,
    pub name: String,
    /// The login the token belongs to (staff), if it says.
    pub login: Option<String>,
    /// Where the request or socket came from (the audit trail keeps it).
    pub address: Option<std::net::IpAddr>,
}

impl Caller {
    /// Refuses unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "a {} may not {action}",
                self.role.as_str()
            )))
        }
    }

    /// Refuses display boards, which may only read their board.
    pub fn require_staff(&self, action: &str) -> Result<(), ApiError> {
        self.require(&[Role::Admin, Role::Receptionist, Role::Doctor], action)
    }
}

/// Signing and verification keys derived from the server secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    /// Keys for an HS256 secret (at least 32 bytes is enforced by the config).
    pub fn new(secret: &[u8]) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 0;
        // Expiry is checked against the server's injected clock in `verify`,
        // not the machine's (jsonwebtoken would read the system time).
        validation.validate_exp = false;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Issues a token for `caller`, valid for `ttl_secs` from `now`.
    pub fn issue(
        &self,
        caller: &Caller,
        ttl_secs: u64,
        now: DateTime<Utc>,
    ) -> Result<String, ApiError> {
        let now = now.timestamp();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: caller.id.clone(),
            tenant: caller.tenant.clone(),
            role: caller.role,
            name: caller.name.clone(),
            iat: now,
            exp: now.saturating_add(ttl_secs as i64),
            jti: uuid::Uuid::new_v4().to_string(),
            login: caller.login.clone(),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims. Tests use it to make expired or odd tokens.
    pub fn sign(&self, claims: &Claims) -> Result<String, ApiError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(|e| ApiError::internal(format!("signing token: {e}")))
    }

    /// Checks signature, algorithm, issuer and expiry (at `now`), and returns the caller.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Caller, ApiError> {
        self.verify_until(token, now).map(|(caller, _)| caller)
    }

    /// Like [`TokenKeys::verify`], also saying when the token expires (a
    /// socket must show a fresher one by then).
    pub fn verify_until(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<(Caller, DateTime<Utc>), ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                ApiError::Unauthorized(match e.kind() {
                    ErrorKind::ExpiredSignature => "access token expired".to_owned(),
                    ErrorKind::InvalidIssuer => "access token from another issuer".to_owned(),
                    ErrorKind::InvalidAlgorithm => "access token algorithm not accepted".to_owned(),
                    ErrorKind::InvalidSignature => "access token signature invalid".to_owned(),
                    _ => format!("access token invalid ({e})"),
                })
            })?;
        let c = data.claims;
        if c.exp <= now.timestamp() {
            return Err(ApiError::Unauthorized("access token expired".into()));
        }
        if c.tenant.is_empty() || c.sub.is_empty() {
            return Err(ApiError::Unauthorized(
                "access token lacks tenant or subject".into(),
            ));
        }
        let expires = DateTime::from_timestamp(c.exp, 0)
            .ok_or_else(|| ApiError::Unauthorized("access token expiry out of range".into()))?;
        Ok((
            Caller {
                id: c.sub,
                tenant: c.tenant,
                role: c.role,
                name: c.name,
                login: c.login,
                address: None,
            },
            expires,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> Caller {
        Caller {
            id: "u_1".into(),
            tenant: "demo".into(),
            role: Role::Receptionist,
            name: "R".into(),
            login: Some("login_1".into()),
            address: None,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let keys = TokenKeys::new(&[7u8; 32]);
        let at: DateTime<Utc> = "2026-11-22T09:00:00Z".parse().unwrap();
        let t = keys.issue(&caller(), 60, at).unwrap();
        assert_eq!(keys.verify(&t, at).unwrap(), caller());
        // Expiry is judged on the clock handed in: valid for 59 s, not at 60.
        let later = |s| at + chrono::Duration::seconds(s);
        assert!(keys.verify(&t, later(59)).is_ok());
        assert!(
            keys.verify(&t, later(60))
                .unwrap_err()
                .to_string()
                .contains("expired")
        );

        // Another secret: forged.
        let other = TokenKeys::new(&[8u8; 32]);
        assert!(
            other
                .verify(&t, at)
                .unwrap_err()
                .to_string()
                .contains("signature")
        );

        // Expired by one second.
        let now = at.timestamp();
        let mut c = Claims {
            iss: ISSUER.into(),
            sub: "u_1".into(),
            tenant: "demo".into(),
            role: Role::Admin,
            name: "A".into(),
            iat: now - 100,
            exp: now - 1,
            jti: "j".into(),
            login: None,
        };
        assert!(
            keys.verify(&keys.sign(&c).unwrap(), at)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );

        // Wrong issuer.
        c.exp = now + 100;
        c.iss = "someone-else".into();
        assert!(
            keys.verify(&keys.sign(&c).unwrap(), at)
                .unwrap_err()
                .to_string()
                .contains("issuer")
        );

        // alg=none with the same claims.
        c.iss = ISSUER.into();
        let signed = keys.sign(&c).unwrap();
        let mut parts = signed.split('.');
        let _header = parts.next();
        let payload = parts.next().unwrap();
        let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        assert!(
            keys.verify(&format!("{none_header}.{payload}."), at)
                .is_err()
        );
        assert!(keys.verify("garbage", at).is_err());
    }
}
