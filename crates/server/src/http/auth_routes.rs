//! `/api/auth/*`: login, refresh (rotating), logout.

use super::extract::JsonBody;
use crate::auth::{Caller, password};
use crate::error::ApiError;
use crate::realtime::broadcast::Broadcast;
use crate::realtime::rooms;
use crate::state::AppState;
use crate::store::{directory, sessions};
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use frontdesk_protocol::api::{LoginRequest, RefreshRequest, TokenResponse};
use frontdesk_protocol::records::{Role, UserSummary};
use std::net::SocketAddr;

fn limited<T>(r: Result<T, u64>) -> Result<T, ApiError> {
    r.map_err(|retry_after| ApiError::RateLimited { retry_after })
}

/// `POST /api/auth/login`.
pub async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if req.tenant.len() > 100 || req.username.len() > 100 || req.password.len() > 1000 {
        return Err(ApiError::invalid("tenant, username or password too long"));
    }
    let user_key = format!("{}/{}", req.tenant, req.username.to_lowercase());
    let addr_key = peer.ip().to_string();
    // Counted before the password is checked, so concurrent guesses cannot
    // slip past the count; a success gives the attempt back.
    limited(
        st.logins
            .lock()
            .map_err(|_| ApiError::internal("login limiter lock poisoned"))?
            .reserve(&user_key, &addr_key, st.instant()),
    )?;

    let (tenant, username) = (req.tenant.clone(), req.username.clone());
    let creds = st
        .db
        .read_auth(move |c| directory::credentials(c, &tenant, &username))
        .await?;
    let password = req.password;
    let (creds, ok) = tokio::task::spawn_blocking(move || {
        let hash = creds
            .as_ref()
            .map(|c| c.password_hash.as_str())
            .unwrap_or(password::decoy_hash());
        let ok = password::verify(&password, hash);
        (creds, ok)
    })
    .await
    .map_err(|e| ApiError::internal(format!("password check failed: {e}")))?;

    let user = match creds {
        Some(c) if ok && c.user.role != Role::Display => c.user,
        _ => return Err(ApiError::InvalidCredentials),
    };
    if let Ok(mut l) = st.logins.lock() {
        l.succeeded(&user_key, &addr_key);
    }
    let ttl = st.config.refresh_ttl.as_secs();
    let (tenant, user_id) = (req.tenant.clone(), user.id.clone());
    let at = st.now();
    let (login, refresh_token) = st
        .db
        .write(move |c| {
            let tx = c.transaction()?;
            let t = sessions::start(&tx, &tenant, &user_id, ttl, at)?;
            tx.commit()?;
            Ok(t)
        })
        .await?;
    let caller = Caller {
        id: user.id.clone(),
        tenant: req.tenant.clone(),
        role: user.role,
        name: user.name.clone(),
        login: Some(login),
        address: None,
    };
    tokens(&st, &caller, refresh_token).map(Json)
}

fn tokens(
    st: &AppState,
    caller: &Caller,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    let ttl = st.config.access_ttl.as_secs();
    Ok(TokenResponse {
        access_token: st.keys.issue(caller, ttl, st.now())?,
        refresh_token,
        expires_in: ttl,
        user: UserSummary {
            id: caller.id.clone(),
            name: caller.name.clone(),
            role: caller.role,
        },
    })
}

/// `POST /api/auth/refresh`: spends the refresh token and issues a new pair.
pub async fn refresh(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    st.take_refresh_token(&peer.ip().to_string())?;
    if req.refresh_token.is_empty() || req.refresh_token.len() > 200 {
        return Err(ApiError::Unauthorized("refresh token malformed".into()));
    }
    let ttl = st.config.refresh_ttl.as_secs();
    let now = st.now();
    let rotation = st
        .db
        .write(move |c| {
            let tx = c.transaction()?;
            let r = sessions::rotate(&tx, &req.refresh_token, ttl, now)?;
            // Commit even for `Reused`: the revocation must stick.
            tx.commit()?;
            Ok(r)
        })
        .await?;
    let (tenant, user_id, login, refresh_token) = match rotation {
        sessions::Rotation::Rotated {
            tenant,
            user_id,
            login,
            refresh_token,
        } => (tenant, user_id, login, refresh_token),
        sessions::Rotation::Reused { tenant, login } => {
            // Whoever holds the leaked token, the login's sockets close now.
            close_login(&st, &tenant, &login);
            return Err(ApiError::RefreshReused);
        }
    };
    let (t, u) = (tenant.clone(), user_id.clone());
    let user = st
        .db
        .read_auth(move |c| directory::user(c, &t, &u))
        .await?
        .ok_or_else(|| ApiError::Unauthorized("user no longer exists".into()))?;
    let caller = Caller {
        id: user.id,
        tenant,
        role: user.role,
        name: user.name,
        login: Some(login),
        address: None,
    };
    tokens(&st, &caller, refresh_token).map(Json)
}

/// `POST /api/auth/logout`: revokes the login the refresh token belongs to.
pub async fn logout(
    State(st): State<AppState>,
    JsonBody(req): JsonBody<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    let now = st.now();
    let revoked = st
        .db
        .write(move |c| {
            let tx = c.transaction()?;
            let login = sessions::revoke_by_token(&tx, &req.refresh_token, now)?;
            tx.commit()?;
            Ok(login)
        })
        .await?;
    if let Some((tenant, login)) = revoked {
        close_login(&st, &tenant, &login);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Disconnects every socket of a revoked login (they would otherwise keep
/// receiving the clinic's events until their token ran out).
fn close_login(st: &AppState, tenant: &str, login: &str) {
    let room = rooms::login(tenant, login);
    if st.committed.send(Broadcast::DisconnectRoom(room)).is_err() {
        tracing::warn!("the broadcaster is gone; sockets of login {login} stay until they expire");
    }
}
