//! The desk's mutation routes: each builds its [`crate::commands`] command
//! from the path and body and runs it through [`commands::execute`]; the
//! clinic's rules live in the commands, not here. Also the admin's display
//! boards, which are not idempotent mutations.

use super::extract::{JsonBody, Mutation};
use crate::auth::Caller;
use crate::commands::{self, execute};
use crate::error::ApiError;
use crate::realtime::broadcast::Broadcast;
use crate::realtime::rooms;
use crate::state::AppState;
use crate::store::directory;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use frontdesk_protocol::api::{
    CallNext, CreateAppointment, CreateDisplay, CreateQueueEntry, DisplayToken, MarkRead,
    PostMessage, UpdateAppointment, UpdateQueueEntry,
};
use frontdesk_protocol::records::Role;

/// `POST /api/appointments`.
pub async fn create_appointment(
    State(st): State<AppState>,
    m: Mutation<CreateAppointment>,
) -> Result<Response, ApiError> {
    execute(&st, m.caller, m.idempotency, commands::Book(m.body)).await
}

/// `PATCH /api/appointments/{id}`.
pub async fn update_appointment(
    State(st): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<UpdateAppointment>,
) -> Result<Response, ApiError> {
    let cmd = commands::ChangeAppointment { id, change: m.body };
    execute(&st, m.caller, m.idempotency, cmd).await
}

/// `POST /api/queue`: check-in or walk-in.
pub async fn create_queue_entry(
    State(st): State<AppState>,
    m: Mutation<CreateQueueEntry>,
) -> Result<Response, ApiError> {
    execute(&st, m.caller, m.idempotency, commands::Enqueue(m.body)).await
}

/// `POST /api/queue/call-next`.
pub async fn call_next(
    State(st): State<AppState>,
    m: Mutation<CallNext>,
) -> Result<Response, ApiError> {
    execute(
        &st,
        m.caller,
        m.idempotency,
        commands::CallNextTicket(m.body),
    )
    .await
}

/// `PATCH /api/queue/{id}`: status (recall = `called` again), priority, room.
pub async fn update_queue_entry(
    State(st): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<UpdateQueueEntry>,
) -> Result<Response, ApiError> {
    let cmd = commands::ChangeTicket { id, change: m.body };
    execute(&st, m.caller, m.idempotency, cmd).await
}

/// `POST /api/threads/{id}/messages`.
pub async fn post_message(
    State(st): State<AppState>,
    Path(thread): Path<String>,
    m: Mutation<PostMessage>,
) -> Result<Response, ApiError> {
    let cmd = commands::Post {
        thread,
        message: m.body,
    };
    execute(&st, m.caller, m.idempotency, cmd).await
}

/// `POST /api/threads/{id}/read`.
pub async fn mark_read(
    State(st): State<AppState>,
    Path(thread): Path<String>,
    m: Mutation<MarkRead>,
) -> Result<Response, ApiError> {
    let cmd = commands::MarkThreadRead {
        thread,
        read: m.body,
    };
    execute(&st, m.caller, m.idempotency, cmd).await
}

/// `POST /api/threads`: a new conversation.
pub async fn create_thread(
    State(st): State<AppState>,
    m: Mutation<commands::NewThread>,
) -> Result<Response, ApiError> {
    execute(&st, m.caller, m.idempotency, commands::StartThread(m.body)).await
}

/// `POST /api/displays` (admin): a board and its long-lived token.
///
/// Not idempotent on purpose: replaying it would mean storing the token in the
/// idempotency table. A retried create makes a second board, which the admin
/// can revoke.
pub async fn create_display(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<CreateDisplay>,
) -> Result<(StatusCode, Json<DisplayToken>), ApiError> {
    caller.require(&[Role::Admin], "create display boards")?;
    st.take_mutation_token(&caller.id)?;
    let name = display_name(&req.name)?;
    let tenant = caller.tenant.clone();
    let now = st.now();
    let display = st
        .db
        .write(move |conn| {
            let tx = conn.transaction()?;
            for p in &req.provider_ids {
                directory::provider(&tx, &tenant, p)?;
            }
            let d = directory::create_display(&tx, &tenant, &name, &req.provider_ids, now)?;
            tx.commit()?;
            Ok(d)
        })
        .await?;
    let board = Caller {
        id: display.id.clone(),
        tenant: caller.tenant,
        role: Role::Display,
        name: display.name.clone(),
        login: None,
        address: None,
    };
    let token = st
        .keys
        .issue(&board, st.config.display_ttl.as_secs(), st.now())?;
    Ok((StatusCode::CREATED, Json(DisplayToken { display, token })))
}

/// A board's name, checked.
fn display_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid(
            "a display needs a name of 1 to 100 characters",
        ));
    }
    frontdesk_protocol::text::check("name", &name, frontdesk_protocol::text::Lines::One)?;
    Ok(name)
}

/// `GET /api/displays` (admin): the boards not revoked.
pub async fn list_displays(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<frontdesk_protocol::records::Display>>, ApiError> {
    caller.require(&[Role::Admin], "manage display boards")?;
    let boards = st
        .db
        .read(move |conn| directory::displays(conn, &caller.tenant))
        .await?;
    Ok(Json(boards))
}

/// `PATCH /api/displays/{id}` (admin): renames a board.
pub async fn rename_display(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<frontdesk_protocol::api::RenameDisplay>,
) -> Result<Json<frontdesk_protocol::records::Display>, ApiError> {
    caller.require(&[Role::Admin], "manage display boards")?;
    st.take_mutation_token(&caller.id)?;
    let name = display_name(&req.name)?;
    let shown = id.clone();
    let renamed = st
        .db
        .write(move |conn| directory::rename_display(conn, &caller.tenant, &id, &name))
        .await?;
    renamed
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("display {shown}")))
}

/// `DELETE /api/displays/{id}` (admin): the board's token stops working and
/// its open sockets are disconnected.
pub async fn revoke_display(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin], "revoke display boards")?;
    let (tenant, display) = (caller.tenant.clone(), id.clone());
    let now = st.now();
    let revoked = st
        .db
        .write(move |conn| directory::revoke_display(conn, &tenant, &display, now))
        .await?;
    if !revoked {
        return Err(ApiError::NotFound(format!("display {id}")));
    }
    let _ = st.committed.send(Broadcast::DisconnectRoom(rooms::display(
        &caller.tenant,
        &id,
    )));
    Ok(StatusCode::NO_CONTENT)
}
