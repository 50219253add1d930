//! The durable event envelope and the ephemeral socket payloads.
//!
//! A durable event is committed with the change it describes and carries the
//! tenant's next `seq`, so a client that applied up to `seq = n` knows exactly
//! what to ask for after a disconnect (`GET /api/events?after=n`). Ephemeral
//! events (`typing`, `presence`) have no `seq` and are never stored.

use crate::records::{
    Appointment, Message, Notification, Patient, Presence, PresenceState, QueueEntry, ReadMarker,
    Tenant, Thread,
};
use crate::schedule::{AppointmentType, ProviderHours};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Names of the durable events (the Socket.IO event name equals `type`).
pub mod kind {
    pub const APPOINTMENT_CREATED: &str = "appointment.created";
    pub const APPOINTMENT_UPDATED: &str = "appointment.updated";
    pub const APPOINTMENT_CANCELLED: &str = "appointment.cancelled";
    pub const QUEUE_UPDATED: &str = "queue.updated";
    pub const QUEUE_CALLED: &str = "queue.called";
    pub const MESSAGE_CREATED: &str = "message.created";
    pub const THREAD_READ: &str = "thread.read";
    pub const NOTIFICATION_CREATED: &str = "notification.created";
    pub const THREAD_CREATED: &str = "thread.created";
    pub const PATIENT_CREATED: &str = "patient.created";
    pub const PATIENT_UPDATED: &str = "patient.updated";
    pub const HOURS_UPDATED: &str = "hours.updated";
    pub const APPOINTMENT_TYPE_UPDATED: &str = "appointment_type.updated";
    pub const CLINIC_UPDATED: &str = "clinic.updated";

    /// Every durable event name, for clients that subscribe by name.
    pub const ALL: [&str; 14] = [
        APPOINTMENT_CREATED,
        APPOINTMENT_UPDATED,
        APPOINTMENT_CANCELLED,
        QUEUE_UPDATED,
        QUEUE_CALLED,
        MESSAGE_CREATED,
        THREAD_READ,
        NOTIFICATION_CREATED,
        THREAD_CREATED,
        PATIENT_CREATED,
        PATIENT_UPDATED,
        HOURS_UPDATED,
        APPOINTMENT_TYPE_UPDATED,
        CLINIC_UPDATED,
    ];
}

/// Names of the ephemeral socket events, both directions.
pub mod ephemeral {
    pub const TYPING: &str = "typing";
    pub const PRESENCE: &str = "presence";
    pub const VIEWING: &str = "viewing";
    pub const WATCH: &str = "watch";
    pub const REAUTH: &str = "reauth";
}

/// A durable event as sent on the socket and returned by `/api/events`.
///
/// `kind` stays a string so that a client meeting an event type it does not
/// know can still advance its `seq` past it. `data` is `null` when the event
/// is `redacted`: it exists in the tenant's stream (so the stream stays
/// gap-free for everyone) but its content is for other users only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub seq: u64,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub tenant: String,
    pub at: DateTime<Utc>,
    /// User id that caused the change, or `system`.
    pub actor: String,
    pub data: Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub redacted: bool,
    /// On a redacted event: the record it was about has just left this
    /// client's sync window (§8.7), and the client deletes its copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evict: Option<Evict>,
    /// On a whole event about an appointment or a ticket: the patient it
    /// names, their whole record as it is now, so a desk that comes to hold
    /// them through this event has their details (phone, birth date) and
    /// not only the name the record carries. Never on a redacted event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<Patient>,
}

/// A record a client must delete from its cache: it moved out of the sync
/// window, and events about it no longer reach that client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evict {
    /// The record's kind (`appointment`).
    pub kind: String,
    pub id: String,
}

/// The typed content of a durable event.
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    AppointmentCreated(Appointment),
    AppointmentUpdated(Appointment),
    AppointmentCancelled(Appointment),
    QueueUpdated(QueueEntry),
    QueueCalled(QueueEntry),
    MessageCreated(Message),
    ThreadRead(ReadMarker),
    NotificationCreated(Notification),
    ThreadCreated(Thread),
    PatientCreated(Patient),
    PatientUpdated(Patient),
    /// A provider's weekly hours or exceptions changed (the whole record).
    HoursUpdated(ProviderHours),
    /// An appointment type was added or changed.
    AppointmentTypeUpdated(AppointmentType),
    /// The clinic's settings changed (its sync window, its desks' lock time).
    ClinicUpdated(Tenant),
}

/// Why an envelope's `data` could not be read as a known record.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("unknown event type `{0}`")]
    UnknownType(String),
    #[error("event {seq} is redacted")]
    Redacted { seq: u64 },
    #[error("event `{kind}` has malformed data: {source}")]
    Malformed {
        kind: String,
        #[source]
        source: serde_json::Error,
    },
}

impl EventData {
    /// The event name this data travels under.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::AppointmentCreated(_) => kind::APPOINTMENT_CREATED,
            Self::AppointmentUpdated(_) => kind::APPOINTMENT_UPDATED,
            Self::AppointmentCancelled(_) => kind::APPOINTMENT_CANCELLED,
            Self::QueueUpdated(_) => kind::QUEUE_UPDATED,
            Self::QueueCalled(_) => kind::QUEUE_CALLED,
            Self::MessageCreated(_) => kind::MESSAGE_CREATED,
            Self::ThreadRead(_) => kind::THREAD_READ,
            Self::NotificationCreated(_) => kind::NOTIFICATION_CREATED,
            Self::ThreadCreated(_) => kind::THREAD_CREATED,
            Self::PatientCreated(_) => kind::PATIENT_CREATED,
            Self::PatientUpdated(_) => kind::PATIENT_UPDATED,
            Self::HoursUpdated(_) => kind::HOURS_UPDATED,
            Self::AppointmentTypeUpdated(_) => kind::APPOINTMENT_TYPE_UPDATED,
            Self::ClinicUpdated(_) => kind::CLINIC_UPDATED,
        }
    }

    /// The record as JSON, for the envelope's `data`.
    pub fn to_value(&self) -> Value {
        let v = match self {
            Self::AppointmentCreated(r)
            | Self::AppointmentUpdated(r)
            | Self::AppointmentCancelled(r) => serde_json::to_value(r),
            Self::QueueUpdated(r) | Self::QueueCalled(r) => serde_json::to_value(r),
            Self::MessageCreated(r) => serde_json::to_value(r),
            Self::ThreadRead(r) => serde_json::to_value(r),
            Self::NotificationCreated(r) => serde_json::to_value(r),
            Self::ThreadCreated(r) => serde_json::to_value(r),
            Self::PatientCreated(r) | Self::PatientUpdated(r) => serde_json::to_value(r),
            Self::HoursUpdated(r) => serde_json::to_value(r),
            Self::AppointmentTypeUpdated(r) => serde_json::to_value(r),
            Self::ClinicUpdated(r) => serde_json::to_value(r),
        };
        // Records are plain structs of strings, numbers and dates: they always serialize.
        v.unwrap_or(Value::Null)
    }
}

impl Envelope {
    /// Reads `data` as the record its `type` names.
    pub fn decode(&self) -> Result<EventData, EnvelopeError> {
        if self.redacted {
            return Err(EnvelopeError::Redacted { seq: self.seq });
        }
        fn read<T: serde::de::DeserializeOwned>(e: &Envelope) -> Result<T, EnvelopeError> {
            T::deserialize(&e.data).map_err(|source| EnvelopeError::Malformed {
                kind: e.kind.clone(),
                source,
            })
        }
        Ok(match self.kind.as_str() {
            kind::APPOINTMENT_CREATED => EventData::AppointmentCreated(read(self)?),
            kind::APPOINTMENT_UPDATED => EventData::AppointmentUpdated(read(self)?),
            kind::APPOINTMENT_CANCELLED => EventData::AppointmentCancelled(read(self)?),
            kind::QUEUE_UPDATED => EventData::QueueUpdated(read(self)?),
            kind::QUEUE_CALLED => EventData::QueueCalled(read(self)?),
            kind::MESSAGE_CREATED => EventData::MessageCreated(read(self)?),
            kind::THREAD_READ => EventData::ThreadRead(read(self)?),
            kind::NOTIFICATION_CREATED => EventData::NotificationCreated(read(self)?),
            kind::THREAD_CREATED => EventData::ThreadCreated(read(self)?),
            kind::PATIENT_CREATED => EventData::PatientCreated(read(self)?),
            kind::PATIENT_UPDATED => EventData::PatientUpdated(read(self)?),
            kind::HOURS_UPDATED => EventData::HoursUpdated(read(self)?),
            kind::APPOINTMENT_TYPE_UPDATED => EventData::AppointmentTypeUpdated(read(self)?),
            kind::CLINIC_UPDATED => EventData::ClinicUpdated(read(self)?),
            other => return Err(EnvelopeError::UnknownType(other.to_owned())),
        })
    }

    /// The same envelope with its content removed, for users it is not meant for.
    pub fn redact(&self) -> Envelope {
        Envelope {
            data: Value::Null,
            redacted: true,
            evict: None,
            patient: None,
            ..self.clone()
        }
    }

    /// The envelope redacted, telling the client to delete `evict`.
    pub fn evicting(&self, evict: Evict) -> Envelope {
        Envelope {
            evict: Some(evict),
            ..self.redact()
        }
    }
}

/// Client → server `reauth`: a fresher access token for the socket's user and
/// login, sent before the one shown at CONNECT expires (§8.6); a socket whose
/// token expires without one is disconnected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReauthEmit {
    pub token: String,
}

/// Server → client `typing`: someone in a thread you belong to started or stopped typing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingEvent {
    pub thread: String,
    pub user: String,
    pub typing: bool,
}

/// Client → server `typing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingEmit {
    pub thread: String,
    pub typing: bool,
}

/// Client → server `presence`: the user's chosen or idle state (never `offline`;
/// the server derives that from sockets closing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEmit {
    pub state: PresenceState,
}

/// Client → server `viewing`: the patient whose record is open, or none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewingEmit {
    pub patient: Option<String>,
}

/// Client → server `watch`: the clinic days outside the sync window this
/// socket wants kept live (the days on screen), replacing what it watched
/// before; empty stops watching. At most [`WATCH_MAX_DAYS`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEmit {
    pub days: Vec<chrono::NaiveDate>,
}

/// The most days one socket may watch at once (a week on screen).
pub const WATCH_MAX_DAYS: usize = 7;

/// Server → client `presence` has the shape of [`Presence`].
pub type PresenceEvent = Presence;

/// The answer to every acknowledged client emit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmitAck {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_matches_the_contract_example() {
        let raw = r#"{"seq":1042,"id":"9b2f7c1e-0000-4000-8000-000000000000","type":"thread.read","tenant":"demo","at":"2026-11-22T09:15:02.123Z","actor":"u_12","data":{"thread_id":"t1","user_id":"u_12","message_id":"m1","at":"2026-11-22T09:15:02.123Z"}}"#;
        let env: Envelope = serde_json::from_str(raw).unwrap();
        assert_eq!(env.seq, 1042);
        assert!(!env.redacted);
        match env.decode().unwrap() {
            EventData::ThreadRead(m) => assert_eq!(m.message_id, "m1"),
            other => panic!("{other:?}"),
        }
        let back = serde_json::to_value(&env).unwrap();
        assert!(back.get("redacted").is_none());
        assert_eq!(back["type"], "thread.read");
    }

    #[test]
    fn unknown_and_redacted_events_are_errors_not_panics() {
        let mut env: Envelope = serde_json::from_str(
            r#"{"seq":1,"id":"x","type":"room.renamed","tenant":"t","at":"2026-01-01T00:00:00Z","actor":"system","data":{}}"#,
        )
        .unwrap();
        assert!(matches!(env.decode(), Err(EnvelopeError::UnknownType(_))));
        env.kind = kind::QUEUE_CALLED.into();
        assert!(matches!(env.decode(), Err(EnvelopeError::Malformed { .. })));
        let r = env.redact();
        assert!(matches!(
            r.decode(),
            Err(EnvelopeError::Redacted { seq: 1 })
        ));
        assert_eq!(serde_json::to_value(&r).unwrap()["data"], Value::Null);
    }
}
