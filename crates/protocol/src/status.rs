//! Appointment and queue statuses, and the transitions allowed between them.
//!
//! The server refuses any other transition with `422 invalid-transition`; the
//! client checks the same table before offering an action, so a button that
//! would be refused is never shown.

use serde::{Deserialize, Serialize};
use std::fmt;
use ts_rs::TS;

/// Where an appointment stands during the day. A subset of FHIR
/// `AppointmentStatus`; see `docs/protocol.md` for the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    Booked,
    Confirmed,
    Arrived,
    InRoom,
    Completed,
    Cancelled,
    NoShow,
}

impl AppointmentStatus {
    /// Every status, in the order a day usually walks through them.
    pub const ALL: [AppointmentStatus; 7] = [
        Self::Booked,
        Self::Confirmed,
        Self::Arrived,
        Self::InRoom,
        Self::Completed,
        Self::Cancelled,
        Self::NoShow,
    ];

    /// Whether the desk may move an appointment from `self` to `next`.
    /// Staying in the same status is not a transition.
    pub fn can_transition_to(self, next: AppointmentStatus) -> bool {
        use AppointmentStatus::*;
        matches!(
            (self, next),
            (Booked, Confirmed | Arrived | Cancelled | NoShow)
                | (Confirmed, Arrived | Cancelled | NoShow)
                | (Arrived, InRoom | Completed | Cancelled | NoShow)
                | (InRoom, Completed)
        )
    }

    /// Whether the appointment can still change its time (reschedule).
    pub fn can_reschedule(self) -> bool {
        matches!(self, Self::Booked | Self::Confirmed)
    }

    /// Terminal statuses never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::NoShow)
    }

    /// The FHIR `AppointmentStatus` code this status corresponds to.
    pub fn fhir_code(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Confirmed => "booked",
            Self::Arrived => "arrived",
            Self::InRoom => "checked-in",
            Self::Completed => "fulfilled",
            Self::Cancelled => "cancelled",
            Self::NoShow => "noshow",
        }
    }

    /// The wire name (`in_room`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Booked => "booked",
            Self::Confirmed => "confirmed",
            Self::Arrived => "arrived",
            Self::InRoom => "in_room",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }
}

impl fmt::Display for AppointmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a ticket stands in a provider's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[ts(export)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    Waiting,
    Called,
    InService,
    Done,
    Skipped,
    NoShow,
}

impl QueueStatus {
    /// Every status.
    pub const ALL: [QueueStatus; 6] = [
        Self::Waiting,
        Self::Called,
        Self::InService,
        Self::Done,
        Self::Skipped,
        Self::NoShow,
    ];

    /// Whether a ticket may move from `self` to `next`. `Called → Called` is
    /// allowed: it is a *recall* (the board chimes again).
    pub fn can_transition_to(self, next: QueueStatus) -> bool {
        use QueueStatus::*;
        matches!(
            (self, next),
            (Waiting, Called | Skipped | NoShow)
                | (Called, Called | Waiting | InService | Skipped | NoShow)
                | (InService, Done)
                | (Skipped, Waiting)
        )
    }

    /// Tickets still in the queue (shown on the board and counted for waits).
    pub fn is_active(self) -> bool {
        matches!(self, Self::Waiting | Self::Called | Self::InService)
    }

    /// The wire name (`in_service`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Called => "called",
            Self::InService => "in_service",
            Self::Done => "done",
            Self::Skipped => "skipped",
            Self::NoShow => "no_show",
        }
    }
}

impl fmt::Display for QueueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_appointments_never_move() {
        for from in AppointmentStatus::ALL
            .into_iter()
            .filter(|s| s.is_terminal())
        {
            for to in AppointmentStatus::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn appointment_table_is_exactly_the_documented_one() {
        use AppointmentStatus::*;
        let allowed: Vec<(AppointmentStatus, AppointmentStatus)> = AppointmentStatus::ALL
            .into_iter()
            .flat_map(|a| AppointmentStatus::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_transition_to(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Booked, Confirmed),
                (Booked, Arrived),
                (Booked, Cancelled),
                (Booked, NoShow),
                (Confirmed, Arrived),
                (Confirmed, Cancelled),
                (Confirmed, NoShow),
                (Arrived, InRoom),
                (Arrived, Completed),
                (Arrived, Cancelled),
                (Arrived, NoShow),
                (InRoom, Completed),
            ]
        );
    }

    #[test]
    fn queue_table_is_exactly_the_documented_one() {
        use QueueStatus::*;
        let allowed: Vec<(QueueStatus, QueueStatus)> = QueueStatus::ALL
            .into_iter()
            .flat_map(|a| QueueStatus::ALL.into_iter().map(move |b| (a, b)))
            .filter(|(a, b)| a.can_transition_to(*b))
            .collect();
        assert_eq!(
            allowed,
            vec![
                (Waiting, Called),
                (Waiting, Skipped),
                (Waiting, NoShow),
                (Called, Waiting),
                (Called, Called),
                (Called, InService),
                (Called, Skipped),
                (Called, NoShow),
                (InService, Done),
                (Skipped, Waiting),
            ]
        );
    }

    #[test]
    fn wire_names_match_serde() {
        for s in AppointmentStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for s in QueueStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
