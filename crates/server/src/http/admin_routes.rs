//! A clinic admin's staff accounts: list, add, deactivate (which ends every
//! session of the account and closes its sockets at once), reset a
//! password; and anyone's change of their own password, with the old one.
//! The clinic's own settings (lock time, sync window).

use super::extract::JsonBody;
use super::extract::Mutation;
use crate::auth::{Caller, password};
use crate::commands::{self, execute};
use crate::error::ApiError;
use crate::realtime::broadcast::Broadcast;
use crate::realtime::rooms;
use crate::state::AppState;
use crate::store::{directory, sessions};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use frontdesk_protocol::api::{
    ChangePassword, ChangeStaff, NewStaff, ResetPassword, StaffAccount, UpdateClinic,
};
use frontdesk_protocol::records::{Role, Tenant};
use frontdesk_protocol::text::{self, Lines};

/// Shortest password an account may be given.
pub const PASSWORD_MIN_CHARS: usize = 10;

fn account(a: directory::Account) -> StaffAccount {
    StaffAccount {
        id: a.user.id,
        username: a.user.username,
        name: a.user.name,
        role: a.user.role,
        active: a.active,
        provider_id: a.provider_id,
    }
}

fn check_password(p: &str) -> Result<(), ApiError> {
    let n = p.chars().count();
    if !(PASSWORD_MIN_CHARS..=1000).contains(&n) {
        return Err(ApiError::invalid(format!(
            "a password has {PASSWORD_MIN_CHARS} to 1000 characters"
        )));
    }
    Ok(())
}

/// A password hashed off the async threads (argon2 takes a while on purpose).
async fn hashed(p: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || password::hash(&p))
        .await
        .map_err(|e| ApiError::internal(format!("hashing failed: {e}")))?
}

/// Ends the sessions of `user` but `keep`, and closes their sockets now.
async fn end_sessions(
    st: &AppState,
    tenant: &str,
    user: &str,
    keep: Option<String>,
    why: &'static str,
) -> Result<(), ApiError> {
    let (t, u, now) = (tenant.to_owned(), user.to_owned(), st.now());
    let keep_id = keep.clone();
    let revoked = st
        .db
        .write(move |c| {
            let tx = c.transaction()?;
            let ids = sessions::revoke_all_of(&tx, &t, &u, keep_id.as_deref(), why, now)?;
            tx.commit()?;
            Ok(ids)
        })
        .await?;
    let rooms: Vec<String> = match keep {
        // Keep the caller's own login: close only the others.
        Some(_) => revoked.iter().map(|l| rooms::login(tenant, l)).collect(),
        None => vec![rooms::user(tenant, user)],
    };
    for room in rooms {
        if st.committed.send(Broadcast::DisconnectRoom(room)).is_err() {
            tracing::warn!(
                "the broadcaster is gone; sockets of {user} stay until their tokens expire"
            );
        }
    }
    Ok(())
}

/// `GET /api/admin/users`.
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<StaffAccount>>, ApiError> {
    caller.require(&[Role::Admin], "manage staff accounts")?;
    let all = st
        .db
        .read(move |c| directory::accounts(c, &caller.tenant))
        .await?;
    Ok(Json(all.into_iter().map(account).collect()))
}

/// `POST /api/admin/users`.
pub async fn add(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<NewStaff>,
) -> Result<(StatusCode, Json<StaffAccount>), ApiError> {
    caller.require(&[Role::Admin], "manage staff accounts")?;
    st.take_mutation_token(&caller.id)?;
    let username = req.username.trim().to_lowercase();
    if username.is_empty()
        || username.len() > 100
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(ApiError::invalid(
            "a username is 1 to 100 letters, digits, dots, dashes or underscores",
        ));
    }
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid("a name is 1 to 200 characters"));
    }
    text::check("name", &name, Lines::One)?;
    if req.role == Role::Display {
        return Err(ApiError::invalid(
            "waiting-room boards are made with POST /api/displays",
        ));
    }
    check_password(&req.password)?;
    let hash = hashed(req.password).await?;
    let (role, provider_id) = (req.role, req.provider_id);
    let made = st
        .db
        .write(move |c| {
            let tx = c.transaction()?;
            if directory::credentials(&tx, &caller.tenant, &username)?.is_some()
                || directory::accounts(&tx, &caller.tenant)?
                    .iter()
                    .any(|a| a.user.username == username)
            {
                return Err(ApiError::invalid(format!(
                    "the username {username} is taken"
                )));
            }
            let user = directory::create_user(&tx, &caller.tenant, &username, &name, role, &hash)?;
            if let Some(p) = &provider_id {
                directory::link_provider(&tx, &caller.tenant, p, &user.id)?;
            }
            tx.commit()?;
            Ok(directory::Account {
                user,
                active: true,
                provider_id,
            })
        })
        .await?;
    Ok((StatusCode::CREATED, Json(account(made))))
}

/// `PATCH /api/admin/users/{id}`: deactivating ends the account's sessions
/// and closes its sockets at once.
pub async fn change(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ChangeStaff>,
) -> Result<Json<StaffAccount>, ApiError> {
    caller.require(&[Role::Admin], "manage staff accounts")?;
    st.take_mutation_token(&caller.id)?;
    if id == caller.id && !req.active {
        return Err(ApiError::invalid(
            "an admin cannot deactivate their own account",
        ));
    }
    let (t, u) = (caller.tenant.clone(), id.clone());
    st.db
        .write(move |c| directory::set_active(c, &t, &u, req.active))
        .await?;
    if !req.active {
        end_sessions(&st, &caller.tenant, &id, None, "account deactivated").await?;
    }
    let (t, u) = (caller.tenant.clone(), id.clone());
    let all = st.db.read(move |c| directory::accounts(c, &t)).await?;
    all.into_iter()
        .find(|a| a.user.id == u)
        .map(|a| Json(account(a)))
        .ok_or_else(|| ApiError::NotFound(format!("user {id}")))
}

/// `PUT /api/admin/users/{id}/password`: a new password; the account's
/// sessions end (whoever knew the old one is out).
pub async fn reset_password(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<ResetPassword>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin], "reset passwords")?;
    st.take_mutation_token(&caller.id)?;
    check_password(&req.password)?;
    let hash = hashed(req.password).await?;
    let (t, u) = (caller.tenant.clone(), id.clone());
    st.db
        .write(move |c| directory::set_password_hash(c, &t, &u, &hash))
        .await?;
    end_sessions(&st, &caller.tenant, &id, None, "password reset").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/password`: one's own password, given the old one; the
/// other sessions of the account end, this one goes on.
pub async fn change_own(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<ChangePassword>,
) -> Result<StatusCode, ApiError> {
    caller.require_staff("change a password")?;
    st.take_mutation_token(&caller.id)?;
    check_password(&req.new_password)?;
    let (t, u) = (caller.tenant.clone(), caller.id.clone());
    let stored = st
        .db
        .read_auth(move |c| directory::password_hash(c, &t, &u))
        .await?;
    let old = req.old_password;
    let ok = tokio::task::spawn_blocking(move || password::verify(&old, &stored))
        .await
        .map_err(|e| ApiError::internal(format!("password check failed: {e}")))?;
    if !ok {
        return Err(ApiError::InvalidCredentials);
    }
    let hash = hashed(req.new_password).await?;
    let (t, u) = (caller.tenant.clone(), caller.id.clone());
    st.db
        .write(move |c| directory::set_password_hash(c, &t, &u, &hash))
        .await?;
    end_sessions(
        &st,
        &caller.tenant,
        &caller.id,
        caller.login.clone(),
        "password changed",
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of `GET /api/audit`.
#[derive(Debug, serde::Deserialize)]
pub struct AuditQuery {
    pub patient_id: Option<String>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// `csv` for a spreadsheet; JSON otherwise.
    pub format: Option<String>,
}

/// Most rows one audit request answers.
pub const AUDIT_ROWS_MAX: u32 = 10_000;

fn csv_field(s: &str) -> String {
    // Quoted, quotes doubled; a leading = + - @ would be a formula in a spreadsheet.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `GET /api/audit?patient_id=&from=&to=&format=csv` (admin): who reached
/// which patients' data, how, when and from where, oldest first.
pub async fn audit(
    State(st): State<AppState>,
    caller: Caller,
    q: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.require(&[Role::Admin], "read the audit trail")?;
    let axum::extract::Query(q) =
        q.map_err(|e| ApiError::invalid(format!("query: {}", e.body_text())))?;
    // Stored times compare as text: bounds in the same four-digit-year form.
    let first: chrono::DateTime<chrono::Utc> = "0001-01-01T00:00:00Z".parse().unwrap_or_default();
    let last: chrono::DateTime<chrono::Utc> = "9999-12-31T23:59:59Z".parse().unwrap_or_default();
    let from = q.from.unwrap_or(first).max(first);
    let to = q.to.unwrap_or(last).min(last);
    let patient = q.patient_id.clone();
    let rows = st
        .db
        .read(move |c| {
            crate::store::audit::query(
                c,
                &caller.tenant,
                patient.as_deref(),
                (from, to),
                AUDIT_ROWS_MAX,
            )
        })
        .await?;
    if q.format.as_deref() == Some("csv") {
        let mut out = String::from("seq,at,user_id,login_id,address,access,patient_ids,detail\n");
        for r in &rows {
            let fields = [
                r.seq.to_string(),
                r.at.to_rfc3339(),
                r.user_id.clone(),
                r.login_id.clone().unwrap_or_default(),
                r.address.clone().unwrap_or_default(),
                r.access.clone(),
                r.patient_ids.join(" "),
                r.detail.clone(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        return Ok((
            [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            out,
        )
            .into_response());
    }
    Ok(Json(rows).into_response())
}

/// `GET /api/admin/clinic`: the clinic's settings as they stand.
pub async fn clinic(State(st): State<AppState>, caller: Caller) -> Result<Json<Tenant>, ApiError> {
    caller.require(commands::ADMIN, "read the clinic's settings")?;
    let tenant = caller.tenant.clone();
    let t = st
        .db
        .read(move |conn| directory::tenant(conn, &tenant))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("tenant {}", caller.tenant)))?;
    Ok(Json(t))
}

/// `PATCH /api/admin/clinic`.
pub async fn change_clinic(
    State(st): State<AppState>,
    m: Mutation<UpdateClinic>,
) -> Result<Response, ApiError> {
    execute(&st, m.caller, m.idempotency, commands::ChangeClinic(m.body)).await
}
