//! The outbox: every desk action is stored here first, with the idempotency
//! key it will always be sent with, and leaves only when the server has
//! answered. Pending work survives a crash; a conflict or refusal stays
//! visible until the user deals with it.

use super::{Cache, row, run};
use crate::error::{EngineError, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use frontdesk_protocol::api::{
    CallNext, CreateAppointment, CreateQueueEntry, MarkRead, NewPatient, PostMessage, Problem,
    UpdateAppointment, UpdateQueueEntry,
};
use frontdesk_protocol::records::{Appointment, Patient};
use frontdesk_protocol::schedule::Slot;
use rusqlite::{OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A desk action, as the user took it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum DeskAction {
    /// Book an appointment.
    Book { body: CreateAppointment },
    /// Reschedule, cancel, no-show, confirm…
    UpdateAppointment { id: String, body: UpdateAppointment },
    /// Check a booked patient in (arrived + ticket).
    CheckIn {
        appointment_id: String,
        priority: i32,
    },
    /// Register a walk-in.
    WalkIn {
        provider_id: String,
        patient: NewPatient,
        priority: i32,
    },
    /// Call the next ticket of a provider.
    CallNext {
        provider_id: String,
        room_id: Option<String>,
    },
    /// Recall, skip, done, in service, priority, room.
    UpdateTicket { id: String, body: UpdateQueueEntry },
    /// Send a message (`body.client_id` identifies it before the server does).
    SendMessage {
        thread_id: String,
        body: PostMessage,
    },
    /// Mark a thread read up to a message.
    MarkRead {
        thread_id: String,
        message_id: String,
    },
}

/// The HTTP request an action becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: &'static str,
    pub path: String,
    pub body: Value,
}

impl DeskAction {
    /// The request to send.
    pub fn request(&self) -> Result<Request> {
        let (method, path, body) = match self {
            Self::Book { body } => (
                "POST",
                "/api/appointments".to_owned(),
                serde_json::to_value(body)?,
            ),
            Self::UpdateAppointment { id, body } => (
                "PATCH",
                format!("/api/appointments/{id}"),
                serde_json::to_value(body)?,
            ),
            Self::CheckIn {
                appointment_id,
                priority,
            } => (
                "POST",
                "/api/queue".to_owned(),
                serde_json::to_value(CreateQueueEntry::CheckIn {
                    appointment_id: appointment_id.clone(),
                    priority: *priority,
                })?,
            ),
            Self::WalkIn {
                provider_id,
                patient,
                priority,
            } => (
                "POST",
                "/api/queue".to_owned(),
                serde_json::to_value(CreateQueueEntry::WalkIn {
                    provider_id: provider_id.clone(),
                    patient_id: None,
                    patient: Some(patient.clone()),
                    priority: *priority,
                })?,
            ),
            Self::CallNext {
                provider_id,
                room_id,
            } => (
                "POST",
                "/api/queue/call-next".to_owned(),
                serde_json::to_value(CallNext {
                    provider_id: provider_id.clone(),
                    room_id: room_id.clone(),
                })?,
            ),
            Self::UpdateTicket { id, body } => (
                "PATCH",
                format!("/api/queue/{id}"),
                serde_json::to_value(body)?,
            ),
            Self::SendMessage { thread_id, body } => (
                "POST",
                format!("/api/threads/{thread_id}/messages"),
                serde_json::to_value(body)?,
            ),
            Self::MarkRead {
                thread_id,
                message_id,
            } => (
                "POST",
                format!("/api/threads/{thread_id}/read"),
                serde_json::to_value(MarkRead {
                    message_id: message_id.clone(),
                })?,
            ),
        };
        Ok(Request { method, path, body })
    }

    /// The record this action is about, so the UI can show it as pending there.
    pub fn subject(&self) -> (&'static str, String) {
        match self {
            Self::Book { body } => ("provider", body.provider_id.clone()),
            Self::UpdateAppointment { id, .. } => ("appointment", id.clone()),
            Self::CheckIn { appointment_id, .. } => ("appointment", appointment_id.clone()),
            Self::WalkIn { provider_id, .. } | Self::CallNext { provider_id, .. } => {
                ("provider", provider_id.clone())
            }
            Self::UpdateTicket { id, .. } => ("queue", id.clone()),
            Self::SendMessage { thread_id, .. } | Self::MarkRead { thread_id, .. } => {
                ("thread", thread_id.clone())
            }
        }
    }
}

/// Where an outbox entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent (or to be sent again).
    Pending,
    /// The server has a newer version of the record; both are kept in `conflict`.
    Conflict,
    /// The server refused the action (not allowed, invalid, gone).
    Refused,
}

impl OutboxState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Conflict => "conflict",
            Self::Refused => "refused",
        }
    }
}

/// One queued action.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct OutboxEntry {
    /// Position in the queue; actions are sent in this order.
    #[ts(type = "number")]
    pub n: i64,
    /// The idempotency key it is always sent with.
    pub key: String,
    pub action: DeskAction,
    pub subject_kind: String,
    pub subject_id: String,
    pub state: OutboxState,
    pub attempts: u32,
    pub created_at: String,
    /// Why it was refused or conflicted, for people.
    pub error: Option<String>,
    /// On a conflict or refusal: what was sent and what the server said.
    pub conflict: Option<OutboxProblem>,
}

/// What the server said about an action it did not apply, kept with it so
/// the desk can show both sides and offer a way on (never dropped).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct OutboxProblem {
    /// The problem's `type`: `conflict` (the record changed), `slot-taken`,
    /// `outside-hours`, `possible-duplicate`, `invalid-input`, …
    #[serde(default)]
    pub kind: String,
    /// The request body as sent.
    #[serde(default)]
    pub mine: Value,
    /// On `conflict`: the record as the server has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub current: Option<Value>,
    /// On `slot-taken`: the appointment in the way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub appointment: Option<Appointment>,
    /// On `slot-taken` and `outside-hours`: the provider's next free slots.
    #[serde(default)]
    pub next_slots: Vec<Slot>,
    /// On `possible-duplicate`: the patients it may be.
    #[serde(default)]
    pub candidates: Vec<Patient>,
}

impl OutboxProblem {
    /// The problem the server answered `mine` with.
    pub fn from_answer(mine: &Value, problem: &Problem) -> OutboxProblem {
        OutboxProblem {
            kind: problem.kind.clone(),
            mine: mine.clone(),
            current: problem.current.clone(),
            appointment: problem.appointment.clone(),
            next_slots: problem.next_slots.clone().unwrap_or_default(),
            candidates: problem.candidates.clone().unwrap_or_default(),
        }
    }
}

const SELECT: &str = "SELECT n, key, action, subject_kind, subject_id, state, attempts, created_at, error, conflict FROM outbox";

/// Reads one outbox row; the JSON columns are parsed after, outside the row
/// callback, so a damaged entry is reported as such.
fn entry_row(r: &Row<'_>) -> rusqlite::Result<Result<OutboxEntry>> {
    let n: i64 = r.get(0)?;
    let action: String = r.get(2)?;
    let state: String = r.get(5)?;
    let conflict: Option<String> = r.get(9)?;
    let (key, subject_kind, subject_id, attempts, created_at, error) = (
        r.get(1)?,
        r.get(3)?,
        r.get(4)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
    );
    let corrupt = move |e: serde_json::Error| EngineError::OutboxEntryUnreadable {
        n,
        why: e.to_string(),
    };
    Ok((|| {
        Ok(OutboxEntry {
            n,
            key,
            action: serde_json::from_str(&action).map_err(corrupt)?,
            subject_kind,
            subject_id,
            state: serde_json::from_value(Value::String(state)).map_err(corrupt)?,
            attempts,
            created_at,
            error,
            conflict: conflict
                .map(|c| serde_json::from_str(&c))
                .transpose()
                .map_err(corrupt)?,
        })
    })())
}

impl Cache {
    /// Queues an action; it is durable when this returns.
    /// `at` is when the user took it.
    pub fn outbox_push(&self, action: &DeskAction, at: DateTime<Utc>) -> Result<OutboxEntry> {
        let key = format!("fd-{}", uuid::Uuid::new_v4().simple());
        let (kind, id) = action.subject();
        let created = at.to_rfc3339_opts(SecondsFormat::Millis, true);
        run(
            &self.conn,
            "INSERT INTO outbox (key, action, subject_kind, subject_id, state, created_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
            params![key, serde_json::to_string(action)?, kind, id, created],
        )?;
        let n = self.conn.last_insert_rowid();
        self.outbox_get(n)?
            .ok_or_else(|| EngineError::CacheCorrupt("outbox entry vanished".into()))
    }

    /// One entry.
    pub fn outbox_get(&self, n: i64) -> Result<Option<OutboxEntry>> {
        let row = row(
            &self.conn,
            &format!("{SELECT} WHERE n = ?1"),
            [n],
            entry_row,
        )
        .optional()?;
        row.transpose()
    }

    /// The oldest pending entry: the next to send.
    pub fn outbox_next(&self) -> Result<Option<OutboxEntry>> {
        let row = row(
            &self.conn,
            &format!("{SELECT} WHERE state = 'pending' ORDER BY n LIMIT 1"),
            [],
            entry_row,
        )
        .optional()?;
        row.transpose()
    }

    /// Everything still in the outbox (pending, conflicts, refusals), in order.
    pub fn outbox_list(&self) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.conn.prepare_cached(&format!("{SELECT} ORDER BY n"))?;
        let rows = stmt.query_map([], entry_row)?;
        let mut out = Vec::new();
        for r in rows {
            match r? {
                Ok(e) => out.push(e),
                // One unreadable entry must not hide the others (the desk
                // sets it aside as refused when it meets it).
                Err(e @ EngineError::OutboxEntryUnreadable { .. }) => tracing::warn!("{e}"),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// How many entries are pending and how many are problems (conflicts,
    /// refusals), without reading them.
    pub fn outbox_counts(&self) -> Result<(usize, usize)> {
        let (pending, all): (i64, i64) = row(
            &self.conn,
            "SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FROM outbox",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((pending as usize, (all - pending) as usize))
    }

    /// Counts one send attempt.
    pub fn outbox_attempted(&self, n: i64) -> Result<()> {
        run(
            &self.conn,
            "UPDATE outbox SET attempts = attempts + 1 WHERE n = ?1",
            [n],
        )?;
        Ok(())
    }

    /// The server applied it: it leaves the outbox.
    pub fn outbox_done(&self, n: i64) -> Result<()> {
        run(&self.conn, "DELETE FROM outbox WHERE n = ?1", [n])?;
        Ok(())
    }

    /// The server refused or conflicted: keep it, visibly, with the reason.
    pub fn outbox_set_problem(
        &self,
        n: i64,
        state: OutboxState,
        error: &str,
        conflict: Option<&OutboxProblem>,
    ) -> Result<()> {
        let conflict = conflict.map(serde_json::to_string).transpose()?;
        run(
            &self.conn,
            "UPDATE outbox SET state = ?2, error = ?3, conflict = ?4 WHERE n = ?1",
            params![n, state.as_str(), error, conflict],
        )?;
        Ok(())
    }

    /// The user dismissed a conflict or refusal (or gave up on a pending action).
    pub fn outbox_dismiss(&self, n: i64) -> Result<bool> {
        Ok(run(&self.conn, "DELETE FROM outbox WHERE n = ?1", [n])? == 1)
    }

    /// The user resolved a conflict by re-sending with a new body (e.g. the
    /// current version): same place in the queue, a fresh idempotency key.
    pub fn outbox_resend(&self, n: i64, action: &DeskAction) -> Result<()> {
        let key = format!("fd-{}", uuid::Uuid::new_v4().simple());
        run(
            &self.conn,
            "UPDATE outbox SET action = ?2, key = ?3, state = 'pending', error = NULL, conflict = NULL WHERE n = ?1",
            params![n, serde_json::to_string(action)?, key],
        )?;
        Ok(())
    }
}
