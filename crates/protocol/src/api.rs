//! REST request and response bodies (`/api/...`), shared so the client and the
//! server cannot drift apart. Every error answer is a [`Problem`].

use crate::envelope::Envelope;
use crate::records::{
    Appointment, Display, Message, Notification, Patient, Presence, Provider, QueueEntry,
    ReadMarker, Role, Room, Tenant, Thread, User, UserSummary,
};
use crate::schedule::{AppointmentType, ExceptionKind, ProviderHours, Slot, TimeOfDay, WorkingDay};
use crate::status::{AppointmentStatus, QueueStatus};
use crate::window::SyncWindow;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

/// Header carrying a client-chosen key that makes a mutation safe to repeat.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// `POST /api/auth/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub tenant: String,
    pub username: String,
    pub password: String,
}

/// `POST /api/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Answer to login and refresh.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub user: UserSummary,
}

/// `GET /api/snapshot`: everything a staff client caches, as of `seq`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The last event already reflected here; replay starts after it.
    pub seq: u64,
    /// The id of that event (absent before the first event, or once it was
    /// pruned): a client sends it back as `after_id` when it replays, so a
    /// server restored from a backup, whose event `seq` is another one, is
    /// recognised (protocol §6.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_id: Option<String>,
    /// The clinic-local days this snapshot's appointments cover (§8.7):
    /// appointments outside it are not in the snapshot, and their events
    /// reach this client redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<SyncWindow>,
    /// The days of `window` whose appointments this snapshot carries (today:
    /// the first paint needs no more); a client reads the rest of the window
    /// with `GET /api/appointments` (§8.7). Absent: the whole `window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holds: Option<SyncWindow>,
    pub tenant: Tenant,
    pub me: UserSummary,
    pub users: Vec<User>,
    pub providers: Vec<Provider>,
    pub rooms: Vec<Room>,
    pub patients: Vec<Patient>,
    pub appointments: Vec<Appointment>,
    pub queue: Vec<QueueEntry>,
    /// Only threads the caller is a member of.
    pub threads: Vec<Thread>,
    /// Messages of those threads (the most recent per thread).
    pub messages: Vec<Message>,
    pub read_markers: Vec<ReadMarker>,
    /// The caller's own recent notifications.
    pub notifications: Vec<Notification>,
    pub presence: Vec<Presence>,
    /// Every provider's hours (weekly, and exceptions from a week back on),
    /// so a desk can show free slots offline.
    #[serde(default)]
    pub hours: Vec<ProviderHours>,
    /// The clinic's appointment types, retired ones included.
    #[serde(default)]
    pub appointment_types: Vec<AppointmentType>,
}

/// `GET /api/appointments?from=DAY&to=DAY[&provider_id=…][&cursor=…][&limit=N]`:
/// any clinic-local days, inside the sync window or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentsPage {
    /// The event stream position this page reflects: events after it apply
    /// on top (a record with a higher `version` wins either way).
    pub seq: u64,
    /// By `start`, then `id`.
    pub appointments: Vec<Appointment>,
    /// The patients these appointments name, by name.
    pub patients: Vec<Patient>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `GET /api/threads/{id}/messages?before=MESSAGE_ID&limit=N`: older messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessagesPage {
    /// Oldest first.
    pub messages: Vec<Message>,
    /// Whether older ones remain.
    pub more: bool,
}

/// `GET /api/events?after=SEQ&limit=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsPage {
    /// In `seq` order, gap-free, starting at `after + 1`.
    pub events: Vec<Envelope>,
    /// The tenant's newest `seq`; more pages follow while the last event's seq is below it.
    pub latest_seq: u64,
}

/// A new patient, given inline when booking or registering a walk-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewPatient {
    pub name: String,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub birth_date: Option<NaiveDate>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub phone: Option<String>,
    /// The desk checked the `409 possible-duplicate` candidates and this is
    /// another person: register anyway.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[ts(as = "Option<bool>", optional)]
    pub confirm_new: bool,
}

/// `PATCH /api/patients/{id}`: correct a patient's details. `phone: ""` clears it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct UpdatePatient {
    #[ts(type = "number")]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub birth_date: Option<NaiveDate>,
}

/// `GET /api/patients?q=…&offset=N&limit=N`: best match first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PatientsPage {
    pub patients: Vec<Patient>,
    /// Pass as `offset` for the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_offset: Option<u32>,
}

/// `GET /api/patients/{id}`: a patient with their appointments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PatientDetails {
    pub patient: Patient,
    /// From now on, soonest first (at most 50).
    pub upcoming: Vec<Appointment>,
    /// Before now, latest first (at most 50).
    pub past: Vec<Appointment>,
}

/// `GET /api/slots?…` and `GET /api/slots/next?…`: free slots, by start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SlotsAnswer {
    pub slots: Vec<Slot>,
}

/// `PUT /api/providers/{id}/hours` (admin): the weekly pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SetHours {
    /// The `version` of the provider's hours this replaces.
    #[ts(type = "number")]
    pub version: u64,
    pub weekly: Vec<WorkingDay>,
}

/// `POST /api/providers/{id}/exceptions` (admin): leave or an extra clinic on one date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewException {
    pub day: NaiveDate,
    pub kind: ExceptionKind,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub start: Option<TimeOfDay>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub end: Option<TimeOfDay>,
    #[serde(default)]
    pub note: String,
}

/// `POST /api/appointment-types` (admin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewAppointmentType {
    pub name: String,
    pub minutes: u32,
}

/// `PATCH /api/admin/clinic`: the clinic's own settings (what is left out
/// stays as it is).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct UpdateClinic {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub name: Option<String>,
    /// Seconds without input before a desk locks itself (60 to 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub lock_after_seconds: Option<u32>,
    /// The sync window: clinic days before today (0 to 90)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub window_days_back: Option<u32>,
    /// …and after it (1 to 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub window_days_ahead: Option<u32>,
}

/// `PATCH /api/appointment-types/{id}` (admin).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct UpdateAppointmentType {
    #[ts(type = "number")]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub active: Option<bool>,
}

/// `POST /api/appointments`: either an existing `patient_id` or a `patient` to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CreateAppointment {
    #[serde(default)]
    #[ts(optional = nullable)]
    pub patient_id: Option<String>,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub patient: Option<NewPatient>,
    pub provider_id: String,
    #[serde(default)]
    #[ts(optional = nullable)]
    pub room_id: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(default)]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub type_id: Option<String>,
    /// Book even on top of another appointment or outside the provider's
    /// hours (receptionists and admins, with `overbook_reason`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[ts(as = "Option<bool>", optional)]
    pub overbook: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub overbook_reason: Option<String>,
}

/// `PATCH /api/appointments/{id}`: reschedule (`start`/`end`, `provider_id`),
/// change status (cancel, no-show, confirm…) or room. `version` must be the
/// current one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct UpdateAppointment {
    #[ts(type = "number")]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AppointmentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// Move it to another provider (a reschedule: that provider's hours and
    /// appointments decide, as when booking).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With a new `start`/`end`: move it even on top of another appointment
    /// or outside hours (as when booking).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[ts(as = "Option<bool>", optional)]
    pub overbook: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub overbook_reason: Option<String>,
}

/// `POST /api/queue`: check in a booked appointment, or register a walk-in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(untagged)]
pub enum CreateQueueEntry {
    CheckIn {
        appointment_id: String,
        #[serde(default)]
        priority: i32,
    },
    WalkIn {
        provider_id: String,
        #[serde(default)]
        patient_id: Option<String>,
        #[serde(default)]
        patient: Option<NewPatient>,
        #[serde(default)]
        priority: i32,
    },
}

/// `POST /api/queue/call-next`: the best waiting ticket of this provider is
/// called to `room_id` (or the provider's default room).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct CallNext {
    pub provider_id: String,
    #[serde(default)]
    pub room_id: Option<String>,
}

/// `PATCH /api/queue/{id}`: status change (`called` again is a recall),
/// priority or room.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct UpdateQueueEntry {
    #[ts(type = "number")]
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<QueueStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_id: Option<String>,
}

/// `POST /api/threads/{id}/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PostMessage {
    pub client_id: String,
    pub body: String,
    #[serde(default)]
    pub urgent: bool,
}

/// `POST /api/threads/{id}/read`: everything up to and including `message_id` is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct MarkRead {
    pub message_id: String,
}

/// One row of the audit trail of access to patient data (`GET /api/audit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AuditRow {
    #[ts(type = "number")]
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub user_id: String,
    pub login_id: Option<String>,
    /// The client's address, when known.
    pub address: Option<String>,
    /// `snapshot`, `day_fetch`, `replay`, `record_opened`, `on_screen` or
    /// `changed`.
    pub access: String,
    pub patient_ids: Vec<String>,
    /// What was asked (`GET /api/snapshot`, `PATCH /api/patients/pat_…`).
    pub detail: String,
}

/// A staff account as an admin manages it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct StaffAccount {
    pub id: String,
    pub username: String,
    pub name: String,
    pub role: Role,
    /// A deactivated account cannot sign in; its sessions ended when it was.
    pub active: bool,
    /// The provider (diary and queue) this account works as, if any.
    #[serde(default)]
    pub provider_id: Option<String>,
}

/// `POST /api/admin/users` (admin): a new staff account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct NewStaff {
    pub username: String,
    pub name: String,
    pub role: Role,
    /// At least 10 characters.
    pub password: String,
    /// The provider this account works as (a doctor's own queue and
    /// schedule): one of the clinic's providers no account works as yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub provider_id: Option<String>,
}

/// `PATCH /api/admin/users/{id}` (admin): deactivate or reactivate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChangeStaff {
    pub active: bool,
}

/// `PUT /api/admin/users/{id}/password` (admin): a new password for someone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ResetPassword {
    pub password: String,
}

/// `POST /api/auth/password`: change one's own password, with the old one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ChangePassword {
    pub old_password: String,
    pub new_password: String,
}

/// `POST /api/displays` (admin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateDisplay {
    pub name: String,
    pub provider_ids: Vec<String>,
}

/// `PATCH /api/displays/{id}` (admin): a new name for a board.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct RenameDisplay {
    pub name: String,
}

/// Answer to `POST /api/displays`: the board and the token to configure it with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisplayToken {
    pub display: Display,
    pub token: String,
}

/// `GET /api/board`: what a waiting-room display shows (redacted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Board {
    pub seq: u64,
    pub display: Display,
    pub rooms: Vec<Room>,
    pub queue: Vec<QueueEntry>,
}

/// Answer to `POST /api/queue`: the ticket, and the appointment it checked in (if any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckedIn {
    pub entry: QueueEntry,
    pub appointment: Option<Appointment>,
}

/// RFC 9457 problem details, the body of every error answer
/// (`Content-Type: application/problem+json`). `type` is stable and
/// machine-matched; `title` and `detail` are for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// On `409 conflict`: the record as it is now, so a client can show both versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Value>,
    /// On `429`: seconds to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// On `409 slot-taken`: the appointment in the way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment: Option<Appointment>,
    /// On `409 slot-taken` and `422 outside-hours`: the provider's next free
    /// slots of the same length from the time asked for (up to three).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_slots: Option<Vec<Slot>>,
    /// On `409 possible-duplicate`: the patients with the same name and birth date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<Patient>>,
}
