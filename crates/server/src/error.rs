//! The server's one error type, and how it becomes a problem+json answer.
//!
//! Every variant maps to a stable `type` string that clients match on (listed in
//! `docs/protocol.md`); `detail` is for people and may change.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use frontdesk_protocol::api::Problem;
use serde_json::Value;

/// Anything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request body or parameters are malformed or out of range.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// No, a malformed, an expired or a forged credential.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Wrong tenant, user or password (deliberately not saying which).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A refresh token that was already used: the whole login is revoked.
    #[error("refresh token reused; the login has been revoked")]
    RefreshReused,
    /// The caller's role may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The record changed since the caller read it; `current` is how it is now.
    #[error("version conflict")]
    Conflict { current: Value },
    /// The booking overlaps another of the provider's appointments.
    #[error("slot taken by appointment {}", appointment.id)]
    SlotTaken {
        appointment: Box<frontdesk_protocol::records::Appointment>,
        next_slots: Vec<frontdesk_protocol::schedule::Slot>,
    },
    /// The booking is outside the provider's hours.
    #[error("outside hours: {detail}")]
    OutsideHours {
        detail: String,
        next_slots: Vec<frontdesk_protocol::schedule::Slot>,
    },
    /// A patient with the same name and birth date is already registered.
    #[error("possible duplicate of {} registered patient(s); confirm_new to register anyway", candidates.len())]
    PossibleDuplicate {
        candidates: Vec<frontdesk_protocol::records::Patient>,
    },
    /// The status change is not allowed from the record's current status.
    #[error("invalid transition: {0}")]
    InvalidTransition(String),
    /// The same idempotency key was used for a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// Replay asked for events the server no longer keeps (or never had).
    #[error("events after {after} are no longer available; take a snapshot")]
    ReplayGone { after: u64 },
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// The request was not sent in time (its body trickled in).
    #[error("request timeout: {0}")]
    RequestTimeout(String),
    #[error("too many requests; retry in {retry_after}s")]
    RateLimited { retry_after: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// Shorthand for an internal error with a message.
    pub fn internal(msg: impl Into<String>) -> ApiError {
        ApiError::Internal(msg.into())
    }

    /// Shorthand for invalid input.
    pub fn invalid(msg: impl Into<String>) -> ApiError {
        ApiError::InvalidInput(msg.into())
    }

    /// The HTTP status and the stable problem `type`.
    pub fn status_and_type(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidInput(_) => (StatusCode::BAD_REQUEST, "invalid-input"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid-credentials"),
            Self::RefreshReused => (StatusCode::UNAUTHORIZED, "refresh-token-reused"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            Self::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            Self::SlotTaken { .. } => (StatusCode::CONFLICT, "slot-taken"),
            Self::OutsideHours { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "outside-hours"),
            Self::PossibleDuplicate { .. } => (StatusCode::CONFLICT, "possible-duplicate"),
            Self::InvalidTransition(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid-transition"),
            Self::IdempotencyKeyReused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "idempotency-key-reused")
            }
            Self::ReplayGone { .. } => (StatusCode::GONE, "replay-gone"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            Self::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "request-timeout"),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate-limited"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The problem body for this error.
    pub fn to_problem(&self) -> Problem {
        let (status, kind) = self.status_and_type();
        let detail = match self {
            // Never leak internals to a client; they are logged instead.
            Self::Internal(_) => None,
            other => Some(other.to_string()),
        };
        Problem {
            kind: kind.to_owned(),
            title: status.canonical_reason().unwrap_or("error").to_owned(),
            status: status.as_u16(),
            detail,
            current: match self {
                Self::Conflict { current } => Some(current.clone()),
                _ => None,
            },
            retry_after: match self {
                Self::RateLimited { retry_after } => Some(*retry_after),
                _ => None,
            },
            appointment: match self {
                Self::SlotTaken { appointment, .. } => Some((**appointment).clone()),
                _ => None,
            },
            next_slots: match self {
                Self::SlotTaken { next_slots, .. } | Self::OutsideHours { next_slots, .. } => {
                    Some(next_slots.clone())
                }
                _ => None,
            },
            candidates: match self {
                Self::PossibleDuplicate { candidates } => Some(candidates.clone()),
                _ => None,
            },
        }
    }
}

impl From<frontdesk_protocol::text::BadText> for ApiError {
    fn from(e: frontdesk_protocol::text::BadText) -> Self {
        ApiError::InvalidInput(e.to_string())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::Internal(format!("database: {e}"))
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::Internal(format!("json: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(msg) = &self {
            tracing::error!("{msg}");
        }
        let problem = self.to_problem();
        let status =
            StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut resp = (status, body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Self::RateLimited { retry_after } = self
            && let Ok(v) = HeaderValue::from_str(&retry_after.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
