//! The desk's mutations: appointments, queue, messages, read markers, displays.
//!
//! Each handler checks the caller's role, then hands [`mutate::commit`] a
//! closure that changes records and appends the events announcing them.

use super::extract::{JsonBody, Mutation};
use super::mutate::commit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::realtime::broadcast::Broadcast;
use crate::realtime::rooms;
use crate::state::AppState;
use crate::store::events::{self, Outgoing};
use crate::store::{appointments, directory, messages, queue};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use frontdesk_protocol::api::{
    CallNext, CheckedIn, CreateAppointment, CreateDisplay, CreateQueueEntry, DisplayToken,
    MarkRead, PostMessage, UpdateAppointment, UpdateQueueEntry,
};
use frontdesk_protocol::envelope::EventData;
use frontdesk_protocol::records::{Notification, Role, Subject, Thread, Urgency};
use frontdesk_protocol::status::AppointmentStatus;
use rusqlite::Connection;
use serde::Deserialize;

const DESK: &[Role] = &[Role::Admin, Role::Receptionist];
const CLINICAL: &[Role] = &[Role::Admin, Role::Receptionist, Role::Doctor];

/// A doctor may act only on their own provider's patients.
fn check_own_provider(
    conn: &Connection,
    caller: &Caller,
    provider_id: &str,
) -> Result<(), ApiError> {
    if caller.role != Role::Doctor {
        return Ok(());
    }
    let p = directory::provider(conn, &caller.tenant, provider_id)?;
    if p.user_id.as_deref() == Some(caller.id.as_str()) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "a doctor may act only on their own queue and appointments".into(),
        ))
    }
}

/// Stores a notification and appends its event, visible to its user only.
fn notification_event(
    conn: &Connection,
    tenant: &str,
    n: Notification,
) -> Result<Outgoing, ApiError> {
    let n = messages::notify(conn, tenant, n)?;
    let to = n.user_id.clone();
    events::append(
        conn,
        tenant,
        "system",
        &EventData::NotificationCreated(n),
        Some(vec![to]),
    )
}

fn tenant_event(conn: &Connection, caller: &Caller, data: EventData) -> Result<Outgoing, ApiError> {
    events::append(conn, &caller.tenant, &caller.id, &data, None)
}

/// `POST /api/appointments`.
pub async fn create_appointment(
    State(st): State<AppState>,
    m: Mutation<CreateAppointment>,
) -> Result<Response, ApiError> {
    m.caller.require(DESK, "book appointments")?;
    let req = m.body;
    commit(
        &st,
        m.caller,
        m.idempotency,
        StatusCode::CREATED,
        move |conn, caller| {
            let a = appointments::create(conn, &caller.tenant, &req)?;
            let ev = tenant_event(conn, caller, EventData::AppointmentCreated(a.clone()))?;
            Ok((a, vec![ev]))
        },
    )
    .await
}

/// `PATCH /api/appointments/{id}`.
pub async fn update_appointment(
    State(st): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<UpdateAppointment>,
) -> Result<Response, ApiError> {
    m.caller.require(CLINICAL, "change appointments")?;
    let req = m.body;
    if m.caller.role == Role::Doctor
        && (req.start.is_some()
            || req.end.is_some()
            || req.reason.is_some()
            || req.status == Some(AppointmentStatus::Cancelled))
    {
        return Err(ApiError::Forbidden(
            "a doctor may change an appointment's status or room, not reschedule or cancel it"
                .into(),
        ));
    }
    commit(
        &st,
        m.caller,
        m.idempotency,
        StatusCode::OK,
        move |conn, caller| {
            let before = appointments::get(conn, &caller.tenant, &id)?;
            check_own_provider(conn, caller, &before.provider_id)?;
            let (a, changed) = appointments::update(conn, &caller.tenant, &id, &req)?;
            if !changed {
                return Ok((a, Vec::new()));
            }
            let left = matches!(
                a.status,
                AppointmentStatus::Cancelled | AppointmentStatus::NoShow
            ) && a.status != before.status;
            let data = if a.status == AppointmentStatus::Cancelled && left {
                EventData::AppointmentCancelled(a.clone())
            } else {
                EventData::AppointmentUpdated(a.clone())
            };
            let mut evs = vec![tenant_event(conn, caller, data)?];
            if left && let Some(ticket) = queue::close_for_appointment(conn, &caller.tenant, &a.id)?
            {
                evs.push(tenant_event(conn, caller, EventData::QueueUpdated(ticket))?);
            }
            Ok((a, evs))
        },
    )
    .await
}

/// Events for a queue change: the appointment first (it changed first), then the
/// ticket, then a notification to the provider's own user when a patient arrives.
fn queue_events(
    conn: &Connection,
    caller: &Caller,
    change: &queue::QueueChange,
    arrived: bool,
) -> Result<Vec<Outgoing>, ApiError> {
    let mut out = Vec::new();
    if !change.changed {
        return Ok(out);
    }
    if let Some(a) = &change.appointment {
        out.push(tenant_event(
            conn,
            caller,
            EventData::AppointmentUpdated(a.clone()),
        )?);
    }
    let data = if change.called {
        EventData::QueueCalled(change.entry.clone())
    } else {
        EventData::QueueUpdated(change.entry.clone())
    };
    out.push(tenant_event(conn, caller, data)?);
    if arrived {
        let provider = directory::provider(conn, &caller.tenant, &change.entry.provider_id)?;
        if let Some(doctor) = provider.user_id.filter(|u| *u != caller.id) {
            let e = &change.entry;
            let name = e
                .patient
                .as_ref()
                .map(|p| p.name.as_str())
                .unwrap_or(&e.initials);
            let urgency = if e.priority >= 5 {
                Urgency::Critical
            } else {
                Urgency::Normal
            };
            let n = messages::draft(
                &doctor,
                "patient.arrived",
                "Patient arrived",
                &format!("{name} ({}) is waiting", e.ticket),
                urgency,
                Subject {
                    kind: "queue".into(),
                    id: e.id.clone(),
                },
            );
            out.push(notification_event(conn, &caller.tenant, n)?);
        }
    }
    Ok(out)
}

/// `POST /api/queue`: check-in or walk-in.
pub async fn create_queue_entry(
    State(st): State<AppState>,
    m: Mutation<CreateQueueEntry>,
) -> Result<Response, ApiError> {
    m.caller.require(DESK, "check patients in")?;
    let req = m.body;
    commit(
        &st,
        m.caller,
        m.idempotency,
        StatusCode::CREATED,
        move |conn, caller| {
            let change = match &req {
                CreateQueueEntry::CheckIn {
                    appointment_id,
                    priority,
                } => queue::check_in(conn, &caller.tenant, appointment_id, *priority)?,
                CreateQueueEntry::WalkIn {
                    provider_id,
                    patient_id,
                    patient,
                    priority,
                } => {
                    let p = directory::existing_or_new_patient(
                        conn,
                        &caller.tenant,
                        patient_id.as_deref(),
                        patient.as_ref(),
                    )?;
                    queue::walk_in(conn, &caller.tenant, provider_id, p, *priority)?
                }
            };
            let evs = queue_events(conn, caller, &change, true)?;
            Ok((
                CheckedIn {
                    entry: change.entry,
                    appointment: change.appointment,
                },
                evs,
            ))
        },
    )
    .await
}

/// `POST /api/queue/call-next`.
pub async fn call_next(
    State(st): State<AppState>,
    m: Mutation<CallNext>,
) -> Result<Response, ApiError> {
    m.caller.require(CLINICAL, "call patients")?;
    let req = m.body;
    commit(
        &st,
        m.caller,
        m.idempotency,
        StatusCode::OK,
        move |conn, caller| {
            check_own_provider(conn, caller, &req.provider_id)?;
            let change = queue::call_next(
                conn,
                &caller.tenant,
                &req.provider_id,
                req.room_id.as_deref(),
            )?;
            let evs = queue_events(conn, caller, &change, false)?;
            Ok((change.entry, evs))
        },
    )
    .await
}

/// `PATCH /api/queue/{id}`: status (recall = `called` again), priority, room.
pub async fn update_queue_entry(
    State(st): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<UpdateQueueEntry>,
) -> Result<Response, ApiError> {
    m.caller.require(CLINICAL, "change the queue")?;
    let req = m.body;
    commit(
        &st,
        m.caller,
        m.idempotency,
        StatusCode::OK,
        move |conn, caller| {
            let before = queue::get(conn, &caller.tenant, &id)?;
            check_own_provider(conn, caller, &before.provider_id)?;
            let change = queue::update(
                conn,
                &caller.tenant,
                &id,
                req.version,
                req.status,
                req.priority,
                req.room_id.as_deref(),
            )?;
            let evs = queue_events(conn, caller, &change, false)?;
            Ok((change.entry, evs))
        },
    )
    .await
}

/// `POST /api/threads/{id}/messages`. A resend with the same `client_id`
/// returns the stored message and appends nothing.
pub async fn post_message(
    State(st): State<AppState>,
    Path(thread): Path<String>,
    m: Mutation<PostMessage>,
) -> Result<Response, ApiError> {
    m.caller.require_staff("send messages")?;
    let req = m.body;
    commit(
        &st,
        m.caller,
        m.idempotency,
        StatusCode::CREATED,
        move |conn, caller| {
            let members = messages::members_for(conn, &caller.tenant, &thread, &caller.id)?;
            let (msg, new) = messages::post(
                conn,
                &caller.tenant,
                &thread,
                &caller.id,
                &req.client_id,
                &req.body,
                req.urgent,
            )?;
            let mut evs = Vec::new();
            if new {
                evs.push(events::append(
                    conn,
                    &caller.tenant,
                    &caller.id,
                    &EventData::MessageCreated(msg.clone()),
                    Some(members.clone()),
                )?);
                if msg.urgent {
                    for other in members.iter().filter(|u| **u != caller.id) {
                        let n = messages::draft(
                            other,
                            "message.urgent",
                            &format!("Urgent from {}", caller.name),
                            &msg.body,
                            Urgency::Critical,
                            Subject {
                                kind: "thread".into(),
                                id: thread.clone(),
                            },
                        );
                        evs.push(notification_event(conn, &caller.tenant, n)?);
                    }
                }
            }
            Ok((msg, evs))
        },
    )
    .await
}

/// `POST /api/threads/{id}/read`.
pub async fn mark_read(
    State(st): State<AppState>,
    Path(thread): Path<String>,
    m: Mutation<MarkRead>,
) -> Result<Response, ApiError> {
    m.caller.require_staff("read messages")?;
    let req = m.body;
    commit(
        &st,
        m.caller,
        m.idempotency,
        StatusCode::OK,
        move |conn, caller| {
            let members = messages::members_for(conn, &caller.tenant, &thread, &caller.id)?;
            let (marker, moved) =
                messages::mark_read(conn, &caller.tenant, &thread, &caller.id, &req.message_id)?;
            if !moved {
                return Ok((marker, Vec::new()));
            }
            let ev = events::append(
                conn,
                &caller.tenant,
                &caller.id,
                &EventData::ThreadRead(marker.clone()),
                Some(members),
            )?;
            Ok((marker, vec![ev]))
        },
    )
    .await
}

/// Body of `POST /api/threads`.
#[derive(Debug, Deserialize)]
pub struct CreateThread {
    pub title: String,
    /// Other members; the caller is always added.
    pub members: Vec<String>,
}

/// `POST /api/threads`: a new conversation (no event: its first message announces it).
pub async fn create_thread(
    State(st): State<AppState>,
    m: Mutation<CreateThread>,
) -> Result<Response, ApiError> {
    m.caller.require_staff("start conversations")?;
    let req = m.body;
    let title = req.title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(ApiError::invalid("title must be 1 to 200 characters"));
    }
    commit(
        &st,
        m.caller,
        m.idempotency,
        StatusCode::CREATED,
        move |conn, caller| {
            let mut members = req.members.clone();
            members.push(caller.id.clone());
            members.sort();
            members.dedup();
            for u in &members {
                directory::user(conn, &caller.tenant, u)?
                    .ok_or_else(|| ApiError::NotFound(format!("user {u}")))?;
            }
            let t: Thread = messages::create_thread(conn, &caller.tenant, &title, &members)?;
            let ev = events::append(
                conn,
                &caller.tenant,
                &caller.id,
                &EventData::ThreadCreated(t.clone()),
                Some(members),
            )?;
            Ok((t, vec![ev]))
        },
    )
    .await
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
    let name = req.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 || req.provider_ids.is_empty() {
        return Err(ApiError::invalid(
            "a display needs a name (1 to 100 characters) and at least one provider",
        ));
    }
    let tenant = caller.tenant.clone();
    let display = st
        .db
        .write(move |conn| {
            let tx = conn.transaction()?;
            for p in &req.provider_ids {
                directory::provider(&tx, &tenant, p)?;
            }
            let d = directory::create_display(&tx, &tenant, &name, &req.provider_ids)?;
            tx.commit()?;
            Ok(d)
        })
        .await?;
    let board = Caller {
        id: display.id.clone(),
        tenant: caller.tenant,
        role: Role::Display,
        name: display.name.clone(),
    };
    let token = st.keys.issue(&board, st.config.display_ttl.as_secs())?;
    Ok((StatusCode::CREATED, Json(DisplayToken { display, token })))
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
    let revoked = st
        .db
        .write(move |conn| directory::revoke_display(conn, &tenant, &display))
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
