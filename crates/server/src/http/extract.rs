//! Request extractors: the bearer-token caller, and the body of a mutation
//! together with its idempotency key.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::idempotency;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use frontdesk_protocol::api::IDEMPOTENCY_KEY_HEADER;
use serde::de::DeserializeOwned;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer token".into()))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization must be `Bearer <token>`".into())
            })?;
        let mut caller = state.keys.verify(token.trim(), state.now())?;
        caller.address = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(caller)
    }
}

/// A parsed JSON body, refusing malformed or oversized input with problem+json.
pub struct JsonBody<T>(pub T);

/// Reads a body of at most `limit` bytes within `within`: a peer trickling a
/// body byte by byte does not hold a request (and its connection) open.
async fn read_body(
    req: Request,
    limit: u64,
    within: std::time::Duration,
) -> Result<axum::body::Bytes, ApiError> {
    match tokio::time::timeout(
        within,
        axum::body::to_bytes(req.into_body(), limit as usize),
    )
    .await
    {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::PayloadTooLarge(format!(
            "request body exceeds {limit} bytes"
        ))),
        Err(_) => Err(ApiError::RequestTimeout(format!(
            "the request body took longer than {} s",
            within.as_secs()
        ))),
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.is_empty() {
        b"{}".as_slice()
    } else {
        bytes
    };
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid(format!("request body: {e}")))
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state.config.max_payload, state.config.body_timeout).await?;
        Ok(JsonBody(parse(&bytes)?))
    }
}

/// A mutation: who asks, what they ask, and the idempotency key that makes
/// asking twice safe.
pub struct Mutation<T> {
    pub caller: Caller,
    pub body: T,
    /// The `Idempotency-Key` header and the request's fingerprint.
    pub idempotency: Option<(String, String)>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Mutation<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, state).await?;
        let key = match parts.headers.get(IDEMPOTENCY_KEY_HEADER) {
            Some(v) => {
                let k = v
                    .to_str()
                    .map_err(|_| ApiError::invalid("Idempotency-Key must be ASCII"))?
                    .to_owned();
                idempotency::validate_key(&k)?;
                Some(k)
            }
            None => None,
        };
        let method = parts.method.to_string();
        let path = parts.uri.path().to_owned();
        let bytes = read_body(
            Request::from_parts(parts, body),
            state.config.max_payload,
            state.config.body_timeout,
        )
        .await?;
        let body: T = parse(&bytes)?;
        // Fingerprint the JSON, not its bytes: a retry that re-serialises the
        // same body with other spacing or key order is still the same request.
        let canonical = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| serde_json::to_vec(&v).ok())
            .unwrap_or_else(|| bytes.to_vec());
        let idempotency = key.map(|k| (k, idempotency::fingerprint(&method, &path, &canonical)));
        Ok(Mutation {
            caller,
            body,
            idempotency,
        })
    }
}
