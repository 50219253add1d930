//! An admin's changes to when providers work and to the kinds of visit.
//! Each announces the whole changed record, so desks replace theirs.

use super::{ADMIN, Command, Ctx};
use crate::error::ApiError;
use crate::store::events::Outgoing;
use crate::store::{directory, hours};
use axum::http::StatusCode;
use frontdesk_protocol::api::{NewAppointmentType, NewException, SetHours, UpdateAppointmentType};
use frontdesk_protocol::envelope::EventData;
use frontdesk_protocol::records::Role;
use frontdesk_protocol::schedule::{AppointmentType, ProviderHours};
use frontdesk_protocol::window::clinic_day;
use rusqlite::Connection;

/// The clinic-local day of the request.
fn today(conn: &Connection, ctx: &Ctx<'_>) -> Result<chrono::NaiveDate, ApiError> {
    Ok(clinic_day(
        ctx.now,
        directory::zone(conn, &ctx.caller.tenant)?,
    ))
}

fn announce(
    conn: &Connection,
    ctx: &Ctx<'_>,
    h: ProviderHours,
) -> Result<(ProviderHours, Vec<Outgoing>), ApiError> {
    let ev = ctx.event(conn, EventData::HoursUpdated(h.clone()))?;
    Ok((h, vec![ev]))
}

/// `PUT /api/providers/{id}/hours`: the weekly pattern.
pub struct SetWeeklyHours {
    pub provider: String,
    pub hours: SetHours,
}

impl Command for SetWeeklyHours {
    type Answer = ProviderHours;
    const ROLES: &'static [Role] = ADMIN;
    const WHAT: &'static str = "change providers' hours";

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(ProviderHours, Vec<Outgoing>), ApiError> {
        let today = today(conn, ctx)?;
        let h = hours::set_weekly(conn, &ctx.caller.tenant, &self.provider, &self.hours, today)?;
        announce(conn, ctx, h)
    }
}

/// `POST /api/providers/{id}/exceptions`: leave or an extra clinic.
pub struct AddException {
    pub provider: String,
    pub exception: NewException,
}

impl Command for AddException {
    type Answer = ProviderHours;
    const ROLES: &'static [Role] = ADMIN;
    const WHAT: &'static str = "change providers' hours";
    const STATUS: StatusCode = StatusCode::CREATED;

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(ProviderHours, Vec<Outgoing>), ApiError> {
        let today = today(conn, ctx)?;
        let h = hours::add_exception(
            conn,
            &ctx.caller.tenant,
            &self.provider,
            &self.exception,
            today,
        )?;
        announce(conn, ctx, h)
    }
}

/// `DELETE /api/providers/{id}/exceptions/{exception}`.
pub struct RemoveException {
    pub provider: String,
    pub exception: String,
}

impl Command for RemoveException {
    type Answer = ProviderHours;
    const ROLES: &'static [Role] = ADMIN;
    const WHAT: &'static str = "change providers' hours";

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(ProviderHours, Vec<Outgoing>), ApiError> {
        let today = today(conn, ctx)?;
        let h = hours::remove_exception(
            conn,
            &ctx.caller.tenant,
            &self.provider,
            &self.exception,
            today,
        )?;
        announce(conn, ctx, h)
    }
}

/// `POST /api/appointment-types`.
pub struct AddAppointmentType(pub NewAppointmentType);

impl Command for AddAppointmentType {
    type Answer = AppointmentType;
    const ROLES: &'static [Role] = ADMIN;
    const WHAT: &'static str = "change appointment types";
    const STATUS: StatusCode = StatusCode::CREATED;

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(AppointmentType, Vec<Outgoing>), ApiError> {
        let t = hours::add_type(conn, &ctx.caller.tenant, &self.0)?;
        let ev = ctx.event(conn, EventData::AppointmentTypeUpdated(t.clone()))?;
        Ok((t, vec![ev]))
    }
}

/// `PATCH /api/appointment-types/{id}`: rename, re-time, retire or restore.
pub struct ChangeAppointmentType {
    pub id: String,
    pub change: UpdateAppointmentType,
}

impl Command for ChangeAppointmentType {
    type Answer = AppointmentType;
    const ROLES: &'static [Role] = ADMIN;
    const WHAT: &'static str = "change appointment types";

    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(AppointmentType, Vec<Outgoing>), ApiError> {
        let (t, changed) = hours::update_type(conn, &ctx.caller.tenant, &self.id, &self.change)?;
        if !changed {
            return Ok((t, Vec::new()));
        }
        let ev = ctx.event(conn, EventData::AppointmentTypeUpdated(t.clone()))?;
        Ok((t, vec![ev]))
    }
}
