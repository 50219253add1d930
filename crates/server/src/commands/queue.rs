//! The queue: check-ins and walk-ins, calling, moving tickets.

use super::{CLINICAL, Command, Ctx, DESK, check_own_provider};
use crate::error::ApiError;
use crate::store::events::Outgoing;
use crate::store::{directory, messages, patients, queue};
use axum::http::StatusCode;
use frontdesk_protocol::api::{CallNext, CheckedIn, CreateQueueEntry, UpdateQueueEntry};
use frontdesk_protocol::envelope::EventData;
use frontdesk_protocol::records::{QueueEntry, Role, Subject, Urgency};
use rusqlite::Connection;

/// Priority from which an arrival is urgent for the doctor.
pub const URGENT_PRIORITY: i32 = 5;

/// `POST /api/queue`: a booked patient checks in, or a walk-in is registered.
pub struct Enqueue(pub CreateQueueEntry);

impl Command for Enqueue {
    type Answer = CheckedIn;
    const ROLES: &'static [Role] = DESK;
    const WHAT: &'static str = "check patients in";
    const STATUS: StatusCode = StatusCode::CREATED;

    fn run(self, conn: &Connection, ctx: &Ctx<'_>) -> Result<(CheckedIn, Vec<Outgoing>), ApiError> {
        let tenant = &ctx.caller.tenant;
        let (change, registered) = match &self.0 {
            CreateQueueEntry::CheckIn {
                appointment_id,
                priority,
            } => (
                queue::check_in(conn, tenant, appointment_id, *priority, ctx.now)?,
                None,
            ),
            CreateQueueEntry::WalkIn {
                provider_id,
                patient_id,
                patient,
                priority,
            } => {
                let (p, registered) = patients::existing_or_new(
                    conn,
                    tenant,
                    patient_id.as_deref(),
                    patient.as_ref(),
                )?;
                (
                    queue::walk_in(conn, tenant, provider_id, p, *priority, ctx.now)?,
                    registered,
                )
            }
        };
        if let Some(p) = &change.entry.patient {
            ctx.audit_change(
                conn,
                &p.id,
                &format!("POST /api/queue ({})", change.entry.id),
            )?;
        }
        let mut evs = queue_events(conn, ctx, &change)?;
        // After the ticket, which makes the desks hold the patient (as when booking).
        if let Some(p) = registered {
            evs.push(ctx.event(conn, EventData::PatientCreated(p))?);
        }
        evs.extend(arrival_notification(conn, ctx, &change.entry)?);
        Ok((
            CheckedIn {
                entry: change.entry,
                appointment: change.appointment,
            },
            evs,
        ))
    }
}

/// `POST /api/queue/call-next`: the best waiting ticket of a provider to a room.
pub struct CallNextTicket(pub CallNext);

impl Command for CallNextTicket {
    type Answer = QueueEntry;
    const ROLES: &'static [Role] = CLINICAL;
    const WHAT: &'static str = "call patients";

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(QueueEntry, Vec<Outgoing>), ApiError> {
        let req = self.0;
        check_own_provider(conn, ctx.caller, &req.provider_id)?;
        let change = queue::call_next(
            conn,
            &ctx.caller.tenant,
            &req.provider_id,
            req.room_id.as_deref(),
            ctx.now,
        )?;
        if let Some(p) = &change.entry.patient {
            ctx.audit_change(
                conn,
                &p.id,
                &format!("POST /api/queue/call-next ({})", change.entry.id),
            )?;
        }
        let evs = queue_events(conn, ctx, &change)?;
        Ok((change.entry, evs))
    }
}

/// `PATCH /api/queue/{id}`: status (recall = `called` again), priority, room.
pub struct ChangeTicket {
    pub id: String,
    pub change: UpdateQueueEntry,
}

impl Command for ChangeTicket {
    type Answer = QueueEntry;
    const ROLES: &'static [Role] = CLINICAL;
    const WHAT: &'static str = "change the queue";

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(QueueEntry, Vec<Outgoing>), ApiError> {
        let tenant = &ctx.caller.tenant;
        let before = queue::get(conn, tenant, &self.id)?;
        check_own_provider(conn, ctx.caller, &before.provider_id)?;
        let change = queue::update(conn, tenant, &self.id, &self.change, ctx.now)?;
        if let Some(p) = change
            .changed
            .then_some(())
            .and(change.entry.patient.as_ref())
        {
            ctx.audit_change(
                conn,
                &p.id,
                &format!("PATCH /api/queue/{}", change.entry.id),
            )?;
        }
        let evs = queue_events(conn, ctx, &change)?;
        Ok((change.entry, evs))
    }
}

/// Events for a queue change: the appointment first (it changed first), then
/// the ticket (`queue.called` when it was called).
fn queue_events(
    conn: &Connection,
    ctx: &Ctx<'_>,
    change: &queue::QueueChange,
) -> Result<Vec<Outgoing>, ApiError> {
    let mut out = Vec::new();
    if !change.changed {
        return Ok(out);
    }
    if let Some(a) = &change.appointment {
        out.push(ctx.event(conn, EventData::AppointmentUpdated(a.clone()))?);
    }
    let data = if change.called {
        EventData::QueueCalled(change.entry.clone())
    } else {
        EventData::QueueUpdated(change.entry.clone())
    };
    out.push(ctx.event(conn, data)?);
    Ok(out)
}

/// A patient arrived: their provider's own user is told (unless they did it
/// themselves), urgently from [`URGENT_PRIORITY`].
pub fn arrival_notification(
    conn: &Connection,
    ctx: &Ctx<'_>,
    entry: &QueueEntry,
) -> Result<Option<Outgoing>, ApiError> {
    let provider = directory::provider(conn, &ctx.caller.tenant, &entry.provider_id)?;
    let Some(doctor) = provider.user_id.filter(|u| *u != ctx.caller.id) else {
        return Ok(None);
    };
    let name = entry
        .patient
        .as_ref()
        .map(|p| p.name.as_str())
        .unwrap_or(&entry.initials);
    let urgency = if entry.priority >= URGENT_PRIORITY {
        Urgency::Critical
    } else {
        Urgency::Normal
    };
    let n = messages::draft(
        &doctor,
        "patient.arrived",
        "Patient arrived",
        &format!("{name} ({}) is waiting", entry.ticket),
        urgency,
        Subject {
            kind: "queue".into(),
            id: entry.id.clone(),
        },
        ctx.now,
    );
    ctx.notify(conn, n).map(Some)
}
