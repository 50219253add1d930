//! Registering patients and correcting their details.

use super::{Command, Ctx, DESK};
use crate::error::ApiError;
use crate::store::audit::{self, Access};
use crate::store::events::Outgoing;
use crate::store::patients;
use axum::http::StatusCode;
use frontdesk_protocol::api::{NewPatient, UpdatePatient};
use frontdesk_protocol::envelope::EventData;
use frontdesk_protocol::records::{Patient, Role};
use rusqlite::Connection;

/// `POST /api/patients`: a new patient, unless they look registered already
/// (`409 possible-duplicate` with the candidates; `confirm_new` overrides).
pub struct RegisterPatient(pub NewPatient);

impl Command for RegisterPatient {
    type Answer = Patient;
    const ROLES: &'static [Role] = DESK;
    const WHAT: &'static str = "register patients";
    const STATUS: StatusCode = StatusCode::CREATED;

    fn run(self, conn: &Connection, ctx: &Ctx<'_>) -> Result<(Patient, Vec<Outgoing>), ApiError> {
        let p = patients::create(conn, &ctx.caller.tenant, &self.0)?;
        audit::record(
            conn,
            &ctx.who(),
            Access::Changed,
            std::slice::from_ref(&p.id),
            "POST /api/patients",
            ctx.now,
        )?;
        let ev = ctx.event(conn, EventData::PatientCreated(p.clone()))?;
        Ok((p, vec![ev]))
    }
}

/// `PATCH /api/patients/{id}`: name, phone or birth date, at the current `version`.
pub struct CorrectPatient {
    pub id: String,
    pub change: UpdatePatient,
}

impl Command for CorrectPatient {
    type Answer = Patient;
    const ROLES: &'static [Role] = DESK;
    const WHAT: &'static str = "change patients' details";

    fn run(self, conn: &Connection, ctx: &Ctx<'_>) -> Result<(Patient, Vec<Outgoing>), ApiError> {
        let (p, changed) = patients::update(conn, &ctx.caller.tenant, &self.id, &self.change)?;
        if !changed {
            return Ok((p, Vec::new()));
        }
        let detail = format!("PATCH /api/patients/{}", p.id);
        audit::record(
            conn,
            &ctx.who(),
            Access::Changed,
            std::slice::from_ref(&p.id),
            &detail,
            ctx.now,
        )?;
        let ev = ctx.event(conn, EventData::PatientUpdated(p.clone()))?;
        Ok((p, vec![ev]))
    }
}
