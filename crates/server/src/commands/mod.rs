//! The desk's mutations as commands: each one is a value that says who may
//! run it, what it checks, what it changes and which events announce it, and
//! what it answers. [`execute`] runs any of them the same way (roles, checks,
//! the request's time from the server's clock, then [`mutate::commit`]: rate
//! limit, idempotency, one transaction, broadcast in commit order).
//!
//! Commands know nothing of HTTP: the routes in `http::desk_routes` only
//! build them from a path and a body, and the clinic's rules (a doctor's
//! limits, who is told that a patient arrived, who gets an urgent message)
//! are tested here against a real SQLite database without a server.
//!
//! Adding a mutation: a struct with the request in it, `impl Command` (roles,
//! `check` for rules that need no database, `run` for the change and its
//! events), and a route that builds it and calls [`execute`].

mod appointments;
pub mod clinic;
mod messages;
mod patients;
mod queue;
mod schedule;
#[cfg(test)]
mod tests;

pub use appointments::{Book, ChangeAppointment};
pub use clinic::ChangeClinic;
pub use messages::{MarkThreadRead, NewThread, Post, StartThread};
pub use patients::{CorrectPatient, RegisterPatient};
pub use queue::{CallNextTicket, ChangeTicket, Enqueue};
pub use schedule::{
    AddAppointmentType, AddException, ChangeAppointmentType, RemoveException, SetWeeklyHours,
};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::mutate;
use crate::state::AppState;
use crate::store::events::{self, Outgoing};
use crate::store::{directory, messages as message_store};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use frontdesk_protocol::envelope::EventData;
use frontdesk_protocol::records::{Notification, Role};
use rusqlite::Connection;
use serde::Serialize;

/// Front-desk staff: book, cancel, check in.
pub const DESK: &[Role] = &[Role::Admin, Role::Receptionist];
/// Everyone who works with patients (doctors within their own queue).
pub const CLINICAL: &[Role] = &[Role::Admin, Role::Receptionist, Role::Doctor];
/// The clinic's administrators: hours, types, boards.
pub const ADMIN: &[Role] = &[Role::Admin];
/// Every staff member (not a display board).
pub const STAFF: &[Role] = CLINICAL;

/// What a command runs with: who asks, and the request's time.
pub struct Ctx<'a> {
    pub caller: &'a Caller,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    /// Who acts, for the audit trail.
    pub fn who(&self) -> crate::store::audit::Who<'_> {
        crate::store::audit::Who {
            tenant: &self.caller.tenant,
            user: &self.caller.id,
            login: self.caller.login.as_deref(),
            address: self.caller.address,
        }
    }

    /// Records a change to `patient`'s care (their appointment, their
    /// ticket) in the audit trail, inside the change's transaction.
    pub fn audit_change(
        &self,
        conn: &Connection,
        patient: &str,
        detail: &str,
    ) -> Result<(), ApiError> {
        crate::store::audit::record(
            conn,
            &self.who(),
            crate::store::audit::Access::Changed,
            &[patient.to_owned()],
            detail,
            self.now,
        )
    }

    /// Appends an event the whole tenant sees.
    pub fn event(&self, conn: &Connection, data: EventData) -> Result<Outgoing, ApiError> {
        events::append(
            conn,
            &self.caller.tenant,
            &self.caller.id,
            &data,
            None,
            self.now,
        )
    }

    /// Appends an event about an appointment that was moved from `moved_from`
    /// (its start before), so desks that held it learn when it leaves their window.
    pub fn event_moved(
        &self,
        conn: &Connection,
        data: EventData,
        moved_from: DateTime<Utc>,
    ) -> Result<Outgoing, ApiError> {
        events::append_moved(
            conn,
            &self.caller.tenant,
            &self.caller.id,
            &data,
            None,
            Some(moved_from),
            self.now,
        )
    }

    /// Appends an event only `audience` sees in full (the others get it redacted).
    pub fn event_for(
        &self,
        conn: &Connection,
        data: EventData,
        audience: Vec<String>,
    ) -> Result<Outgoing, ApiError> {
        events::append(
            conn,
            &self.caller.tenant,
            &self.caller.id,
            &data,
            Some(audience),
            self.now,
        )
    }

    /// Stores a notification and appends its event, visible to its user only.
    pub fn notify(&self, conn: &Connection, n: Notification) -> Result<Outgoing, ApiError> {
        let n = message_store::notify(conn, &self.caller.tenant, n)?;
        let to = n.user_id.clone();
        events::append(
            conn,
            &self.caller.tenant,
            "system",
            &EventData::NotificationCreated(n),
            Some(vec![to]),
            self.now,
        )
    }
}

/// One mutation of the clinic's records.
pub trait Command: Send + 'static {
    /// The answer body.
    type Answer: Serialize;
    /// Who may run it…
    const ROLES: &'static [Role];
    /// …and what a refusal says they tried ("book appointments").
    const WHAT: &'static str;
    /// The status of a success.
    const STATUS: StatusCode = StatusCode::OK;

    /// Rules that need only the caller and the request.
    fn check(&self, _caller: &Caller) -> Result<(), ApiError> {
        Ok(())
    }

    /// The change and the events announcing it, inside the mutation's
    /// transaction: nothing is broadcast unless it commits.
    fn run(
        self,
        conn: &Connection,
        ctx: &Ctx<'_>,
    ) -> Result<(Self::Answer, Vec<Outgoing>), ApiError>;
}

/// Runs `cmd` for `caller` as one mutation.
pub async fn execute<C: Command>(
    st: &AppState,
    caller: Caller,
    idempotency: Option<(String, String)>,
    cmd: C,
) -> Result<Response, ApiError> {
    caller.require(C::ROLES, C::WHAT)?;
    cmd.check(&caller)?;
    let now = st.now();
    mutate::commit(st, caller, idempotency, C::STATUS, move |conn, caller| {
        cmd.run(conn, &Ctx { caller, now })
    })
    .await
}

/// A doctor may act only on their own provider's patients.
pub fn check_own_provider(
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
