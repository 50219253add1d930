//! Domain records as they travel on the wire: whole records in event `data`,
//! in snapshots and in REST answers.
//!
//! Ids are opaque strings (the reference server uses a short type prefix and a
//! UUID, e.g. `apt_…`); clients must not parse them. Every record the desk can
//! edit carries a `version`, bumped on each change, which updates must echo back.

use crate::status::{AppointmentStatus, QueueStatus};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What a user may do. Checked by the server on every request and event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Receptionist,
    Doctor,
    /// A waiting-room board: reads one board's queue, redacted, nothing else.
    Display,
}

impl Role {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Receptionist => "receptionist",
            Self::Doctor => "doctor",
            Self::Display => "display",
        }
    }

    /// Parses the wire name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "admin" => Self::Admin,
            "receptionist" => Self::Receptionist,
            "doctor" => Self::Doctor,
            "display" => Self::Display,
            _ => return None,
        })
    }
}

/// A clinic. Everything else belongs to exactly one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Tenant {
    /// Short slug used at login (`demo`).
    pub id: String,
    pub name: String,
    /// The clinic's time zone (IANA name, `Europe/Berlin`): its calendar day
    /// (today's queue, ticket numbers, the desk's "today") is counted in it.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// The sync window: a desk caches appointments from this many clinic
    /// days before today…
    #[serde(default = "days_back")]
    pub window_days_back: u32,
    /// …to this many after it (protocol §8.7).
    #[serde(default = "days_ahead")]
    pub window_days_ahead: u32,
    /// A desk locks itself after this long without input (a shared PC left
    /// with a patient's details on screen).
    #[serde(default = "lock_after_seconds")]
    pub lock_after_seconds: u32,
}

fn utc() -> String {
    "UTC".into()
}

fn days_back() -> u32 {
    7
}

fn days_ahead() -> u32 {
    30
}

fn lock_after_seconds() -> u32 {
    300
}

/// A member of staff as other clients see them (no credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct User {
    pub id: String,
    pub username: String,
    pub name: String,
    pub role: Role,
}

/// Who is acting, as returned at login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct UserSummary {
    pub id: String,
    pub name: String,
    pub role: Role,
}

/// A patient's full record, for staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Patient {
    pub id: String,
    pub name: String,
    /// Shown where a full name must not be (the waiting-room board).
    pub initials: String,
    pub birth_date: Option<NaiveDate>,
    pub phone: Option<String>,
    /// Bumped on each change (`PATCH /api/patients/{id}` echoes it back).
    #[serde(default = "first_version")]
    #[ts(type = "number")]
    pub version: u64,
}

fn first_version() -> u64 {
    1
}

/// The part of a patient that appointments and tickets carry, so a client can
/// show a row without a separate patient lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PatientRef {
    pub id: String,
    pub name: String,
    pub initials: String,
}

/// A doctor or nurse whose day is scheduled and who has a queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Provider {
    pub id: String,
    pub name: String,
    /// The staff account that works as this provider (for "my queue").
    pub user_id: Option<String>,
    /// Letter that prefixes this provider's tickets (`A` → `A-012`).
    pub ticket_prefix: String,
    pub default_room_id: Option<String>,
}

/// A consulting room patients are sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Room {
    pub id: String,
    pub name: String,
}

/// A booked slot with a provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Appointment {
    pub id: String,
    pub patient: PatientRef,
    pub provider_id: String,
    pub room_id: Option<String>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub status: AppointmentStatus,
    pub reason: String,
    /// The kind of visit (`GET /api/appointment-types`), if one was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub type_id: Option<String>,
    /// Set when staff booked it on top of another appointment or outside the
    /// provider's hours: why (the schedule shows it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub overbook_reason: Option<String>,
    #[ts(type = "number")]
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// A ticket in a provider's queue: a checked-in appointment or a walk-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct QueueEntry {
    pub id: String,
    /// Human ticket (`A-012`), unique per provider per day.
    pub ticket: String,
    pub provider_id: String,
    /// Where the patient was (last) called to.
    pub room_id: Option<String>,
    /// Absent on the waiting-room board, which sees initials only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientRef>,
    pub initials: String,
    pub appointment_id: Option<String>,
    pub status: QueueStatus,
    /// Higher is served first; ties go to the earliest arrival.
    pub priority: i32,
    pub arrived_at: DateTime<Utc>,
    pub called_at: Option<DateTime<Utc>>,
    #[ts(type = "number")]
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// A staff conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Thread {
    pub id: String,
    pub title: String,
    /// User ids who read and write here; only they see its messages and typing.
    pub members: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// One message in a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Message {
    pub id: String,
    pub thread_id: String,
    /// The sender's own id for this message, so an offline send is applied once
    /// and the sender can match the echo to its pending copy.
    pub client_id: String,
    pub author_id: String,
    pub body: String,
    /// Urgent messages also raise a notification for the other members.
    pub urgent: bool,
    pub created_at: DateTime<Utc>,
}

/// How far a user has read a thread (read receipts and unread counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ReadMarker {
    pub thread_id: String,
    pub user_id: String,
    pub message_id: String,
    pub at: DateTime<Utc>,
}

/// How insistently a notification should be shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Low,
    Normal,
    /// Stays on screen until dismissed.
    Critical,
}

/// What a notification is about, so a click can open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Subject {
    /// `appointment`, `queue`, `thread`, …
    pub kind: String,
    pub id: String,
}

/// A server-raised notice for one user ("your patient has arrived").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Notification {
    pub id: String,
    pub user_id: String,
    /// Machine-readable reason, e.g. `patient.arrived`, `message.urgent`.
    pub kind: String,
    pub title: String,
    pub body: String,
    pub urgency: Urgency,
    pub subject: Subject,
    pub created_at: DateTime<Utc>,
}

/// Whether a user can be reached right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Online,
    Away,
    Dnd,
    Offline,
}

/// A user's presence as the tenant sees it; also the payload of the ephemeral
/// `presence` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Presence {
    pub user: String,
    pub state: PresenceState,
    /// Patient id whose record this user has open, if any.
    pub viewing: Option<String>,
}

/// A waiting-room board, issued by an admin; its token sees only these providers' queues.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Display {
    pub id: String,
    pub name: String,
    /// The providers whose tickets it shows; empty: the whole clinic
    /// (providers added later included).
    pub provider_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl Display {
    /// Whether the board shows `provider`'s tickets.
    pub fn shows(&self, provider: &str) -> bool {
        self.provider_ids.is_empty() || self.provider_ids.iter().any(|p| p == provider)
    }
}
