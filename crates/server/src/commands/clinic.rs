//! An admin's changes to the clinic's own settings: its name, how long a
//! desk may sit untouched before it locks, and the sync window. Desks learn
//! of a change from `clinic.updated` (a changed window makes them take a
//! fresh snapshot, protocol §8.7).

use super::{ADMIN, Command, Ctx};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::store::directory;
use crate::store::events::Outgoing;
use frontdesk_protocol::api::UpdateClinic;
use frontdesk_protocol::envelope::EventData;
use frontdesk_protocol::records::{Role, Tenant};
use frontdesk_protocol::text::{self, Lines};
use rusqlite::Connection;
use std::ops::RangeInclusive;

/// Seconds a desk may be idle before it locks.
pub const LOCK_AFTER: RangeInclusive<u32> = 60..=3600;
/// Clinic days a desk keeps before today.
pub const DAYS_BACK: RangeInclusive<u32> = 0..=90;
/// Clinic days a desk keeps after today.
pub const DAYS_AHEAD: RangeInclusive<u32> = 1..=365;

fn within(field: &str, value: Option<u32>, range: &RangeInclusive<u32>) -> Result<(), ApiError> {
    match value {
        Some(v) if !range.contains(&v) => Err(ApiError::invalid(format!(
            "{field} must be from {} to {}, not {v}",
            range.start(),
            range.end()
        ))),
        _ => Ok(()),
    }
}

/// `PATCH /api/admin/clinic`.
pub struct ChangeClinic(pub UpdateClinic);

impl Command for ChangeClinic {
    type Answer = Tenant;
    const ROLES: &'static [Role] = ADMIN;
    const WHAT: &'static str = "change the clinic's settings";

    fn check(&self, _caller: &Caller) -> Result<(), ApiError> {
        let c = &self.0;
        if let Some(name) = &c.name {
            if name.trim().is_empty() {
                return Err(ApiError::invalid("the clinic's name cannot be empty"));
            }
            text::check("name", name, Lines::One)?;
        }
        within("lock_after_seconds", c.lock_after_seconds, &LOCK_AFTER)?;
        within("window_days_back", c.window_days_back, &DAYS_BACK)?;
        within("window_days_ahead", c.window_days_ahead, &DAYS_AHEAD)
    }

    fn run(self, conn: &Connection, ctx: &Ctx<'_>) -> Result<(Tenant, Vec<Outgoing>), ApiError> {
        let id = &ctx.caller.tenant;
        let before = directory::tenant(conn, id)?
            .ok_or_else(|| ApiError::NotFound(format!("tenant {id}")))?;
        let c = self.0;
        let after = Tenant {
            name: c.name.map_or(before.name.clone(), |n| n.trim().to_owned()),
            lock_after_seconds: c.lock_after_seconds.unwrap_or(before.lock_after_seconds),
            window_days_back: c.window_days_back.unwrap_or(before.window_days_back),
            window_days_ahead: c.window_days_ahead.unwrap_or(before.window_days_ahead),
            ..before.clone()
        };
        if after == before {
            return Ok((after, Vec::new()));
        }
        directory::update_tenant(conn, &after)?;
        let ev = ctx.event(conn, EventData::ClinicUpdated(after.clone()))?;
        Ok((after, vec![ev]))
    }
}
