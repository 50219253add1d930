//! What a waiting-room screen shows, kept current from its board's live
//! events: a pure state (events in, changes out), tested alone.
//!
//! A board does not replay (its events are not gap-free, protocol §7.5): on
//! every (re)connect it refetches `GET /api/board` and then applies live
//! `queue.updated` / `queue.called` events newer than that fetch, keeping the
//! higher `version` of each ticket and dropping tickets that are finished.

use chrono::{DateTime, Utc};
use frontdesk_protocol::api::Board;
use frontdesk_protocol::envelope::{Envelope, EventData};
use frontdesk_protocol::records::{Display, QueueEntry, Room};
use frontdesk_protocol::status::QueueStatus;
use serde::{Deserialize, Serialize};

/// The board as the screen draws it: no patient names anywhere in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct BoardState {
    /// The newest seq this board reflects.
    #[ts(type = "number")]
    pub seq: u64,
    pub display: Display,
    pub rooms: Vec<Room>,
    /// Active tickets (waiting, called, in service) in serving order.
    pub queue: Vec<QueueEntry>,
    /// When the server last confirmed this board (fetch or live event).
    pub as_of: DateTime<Utc>,
}

/// What one live event did to the board.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// Nothing (old, not ours, not a queue event, or an older version).
    Unchanged,
    /// A ticket moved.
    Changed,
    /// A ticket was called (or recalled) to a room: chime.
    Called(Box<QueueEntry>),
}

fn is_active(status: QueueStatus) -> bool {
    matches!(
        status,
        QueueStatus::Waiting | QueueStatus::Called | QueueStatus::InService
    )
}

impl BoardState {
    /// The board as fetched at `now`. Patient fields are dropped even if a
    /// server sent them, so nothing names a patient on screen.
    pub fn fetched(board: Board, now: DateTime<Utc>) -> BoardState {
        let mut state = BoardState {
            seq: board.seq,
            display: board.display,
            rooms: board.rooms,
            queue: Vec::new(),
            as_of: now,
        };
        for entry in board.queue {
            state.upsert(entry);
        }
        state.sort();
        state
    }

    /// Applies one live event received at `now`.
    pub fn apply(&mut self, env: &Envelope, now: DateTime<Utc>) -> Applied {
        if env.seq <= self.seq {
            return Applied::Unchanged;
        }
        let (entry, called) = match env.decode() {
            Ok(EventData::QueueUpdated(e)) => (e, false),
            Ok(EventData::QueueCalled(e)) => (e, true),
            _ => return Applied::Unchanged,
        };
        if !self.display.shows(&entry.provider_id) {
            return Applied::Unchanged;
        }
        self.seq = env.seq;
        self.as_of = now;
        if !self.upsert(entry.clone()) {
            return Applied::Unchanged;
        }
        self.sort();
        if called && entry.status == QueueStatus::Called {
            Applied::Called(Box::new(self.redacted(entry)))
        } else {
            Applied::Changed
        }
    }

    /// A room's name, or empty when unknown.
    pub fn room_name(&self, id: Option<&str>) -> &str {
        id.and_then(|id| self.rooms.iter().find(|r| r.id == id))
            .map(|r| r.name.as_str())
            .unwrap_or("")
    }

    fn redacted(&self, mut entry: QueueEntry) -> QueueEntry {
        entry.patient = None;
        entry
    }

    /// Puts `entry` in (or takes it out when finished) unless what we hold is
    /// as new. Returns whether anything changed.
    fn upsert(&mut self, entry: QueueEntry) -> bool {
        let entry = self.redacted(entry);
        let at = self.queue.iter().position(|q| q.id == entry.id);
        if let Some(i) = at
            && self.queue[i].version >= entry.version
        {
            return false;
        }
        match (at, is_active(entry.status)) {
            (Some(i), true) => self.queue[i] = entry,
            (Some(i), false) => {
                self.queue.remove(i);
            }
            (None, true) => self.queue.push(entry),
            (None, false) => return false,
        }
        true
    }

    /// Serving order: called and in service first (newest call first), then
    /// waiting by priority and arrival.
    fn sort(&mut self) {
        self.queue.sort_by(|a, b| {
            let rank = |q: &QueueEntry| match q.status {
                QueueStatus::Called => 0,
                QueueStatus::InService => 1,
                _ => 2,
            };
            rank(a)
                .cmp(&rank(b))
                .then_with(|| b.called_at.cmp(&a.called_at))
                .then_with(|| b.priority.cmp(&a.priority))
                .then_with(|| a.arrived_at.cmp(&b.arrived_at))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdesk_protocol::records::PatientRef;
    use serde_json::json;

    fn t(s: u32) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + i64::from(s), 0).unwrap()
    }

    fn entry(id: &str, provider: &str, status: QueueStatus, version: u64) -> QueueEntry {
        QueueEntry {
            id: id.into(),
            ticket: format!("A-{id}"),
            provider_id: provider.into(),
            room_id: None,
            patient: None,
            initials: "P.N.".into(),
            appointment_id: None,
            status,
            priority: 0,
            arrived_at: t(0),
            called_at: None,
            version,
            updated_at: t(0),
        }
    }

    fn board(queue: Vec<QueueEntry>) -> BoardState {
        BoardState::fetched(
            Board {
                seq: 10,
                display: Display {
                    id: "d1".into(),
                    name: "Lobby".into(),
                    provider_ids: vec!["p1".into()],
                    created_at: t(0),
                },
                rooms: vec![Room {
                    id: "r1".into(),
                    name: "Room 1".into(),
                }],
                queue,
            },
            t(1),
        )
    }

    fn env(seq: u64, kind: &str, e: &QueueEntry) -> Envelope {
        Envelope {
            seq,
            id: format!("ev{seq}"),
            kind: kind.into(),
            tenant: "demo".into(),
            at: t(2),
            actor: "system".into(),
            data: serde_json::to_value(e).unwrap(),
            redacted: false,
            evict: None,
            patient: None,
        }
    }

    #[test]
    fn a_call_chimes_and_moves_the_ticket_first() {
        let mut b = board(vec![
            entry("1", "p1", QueueStatus::Waiting, 1),
            entry("2", "p1", QueueStatus::Waiting, 1),
        ]);
        let mut called = entry("2", "p1", QueueStatus::Called, 2);
        called.room_id = Some("r1".into());
        called.called_at = Some(t(5));
        let got = b.apply(&env(11, "queue.called", &called), t(6));
        assert_eq!(got, Applied::Called(Box::new(called.clone())));
        assert_eq!(b.queue[0].id, "2");
        assert_eq!(b.room_name(b.queue[0].room_id.as_deref()), "Room 1");
        assert_eq!((b.seq, b.as_of), (11, t(6)));
    }

    #[test]
    fn a_recall_chimes_again() {
        let mut first = entry("1", "p1", QueueStatus::Called, 2);
        first.called_at = Some(t(3));
        let mut b = board(vec![first]);
        let mut again = entry("1", "p1", QueueStatus::Called, 3);
        again.called_at = Some(t(9));
        assert!(matches!(
            b.apply(&env(11, "queue.called", &again), t(9)),
            Applied::Called(_)
        ));
    }

    #[test]
    fn events_already_in_the_fetch_or_older_versions_change_nothing() {
        let mut b = board(vec![entry("1", "p1", QueueStatus::Waiting, 3)]);
        let stale = entry("1", "p1", QueueStatus::Called, 2);
        assert_eq!(
            b.apply(&env(9, "queue.called", &stale), t(3)),
            Applied::Unchanged
        );
        assert_eq!(
            b.apply(&env(12, "queue.called", &stale), t(3)),
            Applied::Unchanged
        );
        assert_eq!(b.queue[0].status, QueueStatus::Waiting);
    }

    #[test]
    fn finished_tickets_leave_the_board() {
        let mut b = board(vec![entry("1", "p1", QueueStatus::InService, 3)]);
        let done = entry("1", "p1", QueueStatus::Done, 4);
        assert_eq!(
            b.apply(&env(11, "queue.updated", &done), t(3)),
            Applied::Changed
        );
        assert!(b.queue.is_empty());
        // A finished ticket we never showed is not news.
        let skipped = entry("7", "p1", QueueStatus::Skipped, 2);
        assert_eq!(
            b.apply(&env(12, "queue.updated", &skipped), t(3)),
            Applied::Unchanged
        );
    }

    #[test]
    fn other_providers_and_other_events_are_ignored() {
        let mut b = board(vec![]);
        let theirs = entry("1", "p2", QueueStatus::Waiting, 1);
        assert_eq!(
            b.apply(&env(11, "queue.updated", &theirs), t(3)),
            Applied::Unchanged
        );
        let mut message = env(12, "message.created", &theirs);
        message.data = json!({"id": "m1"});
        assert_eq!(b.apply(&message, t(3)), Applied::Unchanged);
        let mut garbage = env(13, "queue.updated", &theirs);
        garbage.data = json!({"ticket": 5});
        assert_eq!(b.apply(&garbage, t(3)), Applied::Unchanged);
        assert!(b.queue.is_empty());
    }

    #[test]
    fn patient_names_never_reach_the_board() {
        let mut named = entry("1", "p1", QueueStatus::Waiting, 1);
        named.patient = Some(PatientRef {
            id: "pat1".into(),
            name: "Quentin Privatename".into(),
            initials: "Q.P.".into(),
        });
        let mut b = board(vec![named.clone()]);
        named.version = 2;
        named.status = QueueStatus::Called;
        let got = b.apply(&env(11, "queue.called", &named), t(3));
        let text = serde_json::to_string(&b).unwrap();
        assert!(!text.contains("Privatename"), "{text}");
        assert!(matches!(got, Applied::Called(e) if e.patient.is_none()));
    }

    #[test]
    fn waiting_tickets_go_by_priority_then_arrival() {
        let mut urgent = entry("late-urgent", "p1", QueueStatus::Waiting, 1);
        urgent.priority = 5;
        urgent.arrived_at = t(50);
        let mut early = entry("early", "p1", QueueStatus::Waiting, 1);
        early.arrived_at = t(1);
        let mut later = entry("later", "p1", QueueStatus::Waiting, 1);
        later.arrived_at = t(20);
        let b = board(vec![later, early, urgent]);
        let order: Vec<_> = b.queue.iter().map(|q| q.id.as_str()).collect();
        assert_eq!(order, ["late-urgent", "early", "later"]);
    }
}
