//! Presence and typing timers, with time passed in.
//!
//! - [`OwnPresence`]: online, away after 5 minutes without activity, or dnd
//!   when the user chose it.
//! - [`TypingThrottle`]: our `typing` emits, at most one per 3 s while typing,
//!   and a stop when the message is sent or the box is cleared.
//! - [`RemoteTyping`]: who else is typing where; each signal expires after 6 s
//!   unless renewed, so a peer that vanished mid-sentence stops "typing".

use frontdesk_protocol::records::PresenceState;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Idle time before a user shows as away.
pub const AWAY_AFTER: Duration = Duration::from_secs(5 * 60);
/// Least time between two "typing" emits.
pub const TYPING_EVERY: Duration = Duration::from_secs(3);
/// How long a remote "typing" lasts without renewal.
pub const TYPING_EXPIRES: Duration = Duration::from_secs(6);

/// Our own presence.
#[derive(Debug, Clone)]
pub struct OwnPresence {
    dnd: bool,
    last_active: Instant,
    announced: Option<PresenceState>,
}

impl OwnPresence {
    /// Active as of `now`.
    pub fn new(now: Instant) -> Self {
        OwnPresence {
            dnd: false,
            last_active: now,
            announced: None,
        }
    }

    /// The state to show at `now`.
    pub fn state(&self, now: Instant) -> PresenceState {
        if self.dnd {
            PresenceState::Dnd
        } else if now.saturating_duration_since(self.last_active) >= AWAY_AFTER {
            PresenceState::Away
        } else {
            PresenceState::Online
        }
    }

    /// The user did something (key, click).
    pub fn active(&mut self, now: Instant) {
        self.last_active = now;
    }

    /// The user chose do-not-disturb, or cleared it.
    pub fn set_dnd(&mut self, dnd: bool) {
        self.dnd = dnd;
    }

    /// Whether do-not-disturb is on.
    pub fn dnd(&self) -> bool {
        self.dnd
    }

    /// The state to announce, if it differs from the last one announced.
    pub fn to_announce(&mut self, now: Instant) -> Option<PresenceState> {
        let s = self.state(now);
        if self.announced == Some(s) {
            None
        } else {
            self.announced = Some(s);
            Some(s)
        }
    }

    /// When the state changes by itself next (online turns away), if it will.
    pub fn next_change(&self) -> Option<Instant> {
        (!self.dnd && self.announced != Some(PresenceState::Away))
            .then(|| self.last_active + AWAY_AFTER)
    }

    /// Forget what was announced (a new connection must announce again).
    pub fn reset_announced(&mut self) {
        self.announced = None;
    }
}

/// Our typing signal for the thread being written in.
#[derive(Debug, Default, Clone)]
pub struct TypingThrottle {
    /// Thread and time of the last `typing: true` sent.
    last: Option<(String, Instant)>,
}

impl TypingThrottle {
    /// A keystroke in `thread`: returns `true` if a `typing: true` should be sent now.
    pub fn keystroke(&mut self, thread: &str, now: Instant) -> bool {
        match &self.last {
            Some((t, at)) if t == thread && now.saturating_duration_since(*at) < TYPING_EVERY => {
                false
            }
            _ => {
                self.last = Some((thread.to_owned(), now));
                true
            }
        }
    }

    /// Sent, cleared, or left the thread: returns the thread to send
    /// `typing: false` for, if we had said we were typing.
    pub fn stop(&mut self) -> Option<String> {
        self.last.take().map(|(t, _)| t)
    }
}

/// Other people typing, by thread.
#[derive(Debug, Default, Clone)]
pub struct RemoteTyping {
    until: HashMap<(String, String), Instant>,
}

impl RemoteTyping {
    /// A `typing` event arrived. Returns true if who-is-typing changed.
    pub fn signal(&mut self, thread: &str, user: &str, typing: bool, now: Instant) -> bool {
        let key = (thread.to_owned(), user.to_owned());
        if typing {
            self.until.insert(key, now + TYPING_EXPIRES).is_none()
        } else {
            self.until.remove(&key).is_some()
        }
    }

    /// Drops expired signals; returns the `(thread, user)` pairs that stopped.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, String)> {
        let gone: Vec<(String, String)> = self
            .until
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            self.until.remove(k);
        }
        gone
    }

    /// When the next signal expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.until.values().min().copied()
    }

    /// Users typing in `thread` at `now`, sorted.
    pub fn in_thread(&self, thread: &str, now: Instant) -> Vec<String> {
        let mut users: Vec<String> = self
            .until
            .iter()
            .filter(|((t, _), until)| t == thread && **until > now)
            .map(|((_, u), _)| u.clone())
            .collect();
        users.sort();
        users
    }

    /// A message from `user` in `thread` ends their typing.
    pub fn message_from(&mut self, thread: &str, user: &str) -> bool {
        self.until
            .remove(&(thread.to_owned(), user.to_owned()))
            .is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn away_after_five_idle_minutes_dnd_wins() {
        let t0 = Instant::now();
        let mut p = OwnPresence::new(t0);
        assert_eq!(p.to_announce(t0), Some(PresenceState::Online));
        assert_eq!(p.to_announce(t0 + Duration::from_secs(10)), None);
        assert_eq!(
            p.state(t0 + AWAY_AFTER - Duration::from_millis(1)),
            PresenceState::Online
        );
        assert_eq!(p.to_announce(t0 + AWAY_AFTER), Some(PresenceState::Away));
        p.active(t0 + AWAY_AFTER + Duration::from_secs(1));
        assert_eq!(
            p.to_announce(t0 + AWAY_AFTER + Duration::from_secs(1)),
            Some(PresenceState::Online)
        );
        p.set_dnd(true);
        assert_eq!(p.to_announce(t0 + AWAY_AFTER * 3), Some(PresenceState::Dnd));
        p.reset_announced();
        assert_eq!(p.to_announce(t0 + AWAY_AFTER * 3), Some(PresenceState::Dnd));
    }

    #[test]
    fn typing_emits_at_most_every_three_seconds_and_stops_once() {
        let t0 = Instant::now();
        let mut t = TypingThrottle::default();
        let emits: Vec<u64> = (0..100)
            .map(|i| i * 100)
            .filter(|ms| t.keystroke("th", t0 + Duration::from_millis(*ms)))
            .collect();
        assert_eq!(emits, [0, 3000, 6000, 9000]);
        assert!(
            t.keystroke("other", t0 + Duration::from_millis(9100)),
            "a new thread emits at once"
        );
        assert_eq!(t.stop().as_deref(), Some("other"));
        assert_eq!(t.stop(), None, "stop is sent once");
    }

    #[test]
    fn remote_typing_expires_after_six_seconds() {
        let t0 = Instant::now();
        let mut r = RemoteTyping::default();
        assert!(r.signal("th", "u1", true, t0));
        assert!(
            !r.signal("th", "u1", true, t0 + Duration::from_secs(3)),
            "renewal is no change"
        );
        assert!(r.signal("th", "u2", true, t0 + Duration::from_secs(4)));
        assert_eq!(r.in_thread("th", t0 + Duration::from_secs(5)), ["u1", "u2"]);
        assert!(r.expire(t0 + Duration::from_secs(8)).is_empty());
        assert_eq!(
            r.expire(t0 + Duration::from_secs(9)),
            [("th".to_owned(), "u1".to_owned())]
        );
        assert!(r.message_from("th", "u2"));
        assert!(r.in_thread("th", t0 + Duration::from_secs(9)).is_empty());
        assert!(!r.signal("th", "u3", false, t0));
    }
}
