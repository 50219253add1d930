//! Booking and changing appointments.

use super::{CLINICAL, Command, Ctx, DESK, check_own_provider};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::events::Outgoing;
use crate::store::{appointments, queue};
use axum::http::StatusCode;
use frontdesk_protocol::api::{CreateAppointment, UpdateAppointment};
use frontdesk_protocol::envelope::EventData;
use frontdesk_protocol::records::{Appointment, Role};
use frontdesk_protocol::status::AppointmentStatus;
use rusqlite::Connection;

/// `POST /api/appointments`: book (status `booked`).
pub struct Book(pub CreateAppointment);

impl Command for Book {
    type Answer = Appointment;
    const ROLES: &'static [Role] = DESK;
    const WHAT: &'static str = "book appointments";
    const STATUS: StatusCode = StatusCode::CREATED;

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(Appointment, Vec<Outgoing>), ApiError> {
        let (a, registered) = appointments::create(conn, &ctx.caller.tenant, &self.0, ctx.now)?;
        ctx.audit_change(
            conn,
            &a.patient.id,
            &format!("POST /api/appointments ({})", a.id),
        )?;
        let mut evs = vec![ctx.event(conn, EventData::AppointmentCreated(a.clone()))?];
        // After the appointment, so a desk that now holds the patient has
        // their whole record, not only the name the appointment carries.
        if let Some(p) = registered {
            evs.push(ctx.event(conn, EventData::PatientCreated(p))?);
        }
        Ok((a, evs))
    }
}

/// `PATCH /api/appointments/{id}`: reschedule, confirm, cancel, no-show, room.
pub struct ChangeAppointment {
    pub id: String,
    pub change: UpdateAppointment,
}

impl Command for ChangeAppointment {
    type Answer = Appointment;
    const ROLES: &'static [Role] = CLINICAL;
    const WHAT: &'static str = "change appointments";

    /// A doctor may set status or room, not reschedule (to another time or
    /// provider) or cancel.
    fn check(&self, caller: &Caller) -> Result<(), ApiError> {
        let c = &self.change;
        if caller.role == Role::Doctor
            && (c.start.is_some()
                || c.end.is_some()
                || c.provider_id.is_some()
                || c.reason.is_some()
                || c.status == Some(AppointmentStatus::Cancelled))
        {
            return Err(ApiError::Forbidden(
                "a doctor may change an appointment's status or room, not reschedule or cancel it"
                    .into(),
            ));
        }
        Ok(())
    }

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(Appointment, Vec<Outgoing>), ApiError> {
        let tenant = &ctx.caller.tenant;
        let before = appointments::get(conn, tenant, &self.id)?;
        check_own_provider(conn, ctx.caller, &before.provider_id)?;
        let (a, changed) = appointments::update(conn, tenant, &self.id, &self.change, ctx.now)?;
        if !changed {
            return Ok((a, Vec::new()));
        }
        ctx.audit_change(
            conn,
            &a.patient.id,
            &format!("PATCH /api/appointments/{}", a.id),
        )?;
        let left = matches!(
            a.status,
            AppointmentStatus::Cancelled | AppointmentStatus::NoShow
        ) && a.status != before.status;
        let data = if a.status == AppointmentStatus::Cancelled && left {
            EventData::AppointmentCancelled(a.clone())
        } else {
            EventData::AppointmentUpdated(a.clone())
        };
        let event = if a.start != before.start {
            ctx.event_moved(conn, data, before.start)?
        } else {
            ctx.event(conn, data)?
        };
        let mut evs = vec![event];
        // A patient who will not come leaves the queue too.
        if left && let Some(ticket) = queue::close_for_appointment(conn, tenant, &a.id, ctx.now)? {
            evs.push(ctx.event(conn, EventData::QueueUpdated(ticket))?);
        }
        Ok((a, evs))
    }
}
