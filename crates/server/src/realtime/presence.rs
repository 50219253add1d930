//! Who is online, tracked per user across all their sockets, with time passed in.
//!
//! A user is online while any socket of theirs is open. When the last one
//! closes they stay online for a grace period (a page reload or a Wi-Fi blip
//! should not flash "offline" at everyone), then go offline.

use frontdesk_protocol::records::{Presence, PresenceState};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct UserPresence {
    /// The ids of the user's open sockets: a close counts once, however
    /// often it is reported, and a socket never seen opening is ignored.
    sockets: HashSet<String>,
    state: PresenceState,
    viewing: Option<String>,
    offline_at: Option<Instant>,
}

/// Presence of every connected user, keyed by tenant and user id.
#[derive(Debug)]
pub struct PresenceTracker {
    grace: Duration,
    users: HashMap<(String, String), UserPresence>,
}

/// A change to announce to a tenant.
pub type Change = (String, Presence);

impl PresenceTracker {
    /// A tracker whose users go offline `grace` after their last socket closes.
    pub fn new(grace: Duration) -> Self {
        Self {
            grace,
            users: HashMap::new(),
        }
    }

    fn view(user: &str, p: &UserPresence) -> Presence {
        Presence {
            user: user.to_owned(),
            state: p.state,
            viewing: p.viewing.clone(),
        }
    }

    /// Socket `socket` of `user` opened. Returns the change if they were offline.
    pub fn connect(&mut self, tenant: &str, user: &str, socket: &str) -> Option<Presence> {
        let key = (tenant.to_owned(), user.to_owned());
        match self.users.get_mut(&key) {
            Some(p) => {
                p.sockets.insert(socket.to_owned());
                p.offline_at = None;
                None
            }
            None => {
                let p = UserPresence {
                    sockets: HashSet::from([socket.to_owned()]),
                    state: PresenceState::Online,
                    viewing: None,
                    offline_at: None,
                };
                let change = Self::view(user, &p);
                self.users.insert(key, p);
                Some(change)
            }
        }
    }

    /// Socket `socket` of `user` closed; if it was the last, offline is due
    /// after the grace. A socket already closed (or never opened) changes nothing.
    pub fn disconnect(&mut self, tenant: &str, user: &str, socket: &str, now: Instant) {
        if let Some(p) = self.users.get_mut(&(tenant.to_owned(), user.to_owned()))
            && p.sockets.remove(socket)
            && p.sockets.is_empty()
        {
            p.offline_at = Some(now + self.grace);
        }
    }

    /// The user chose a state (online, away, dnd). `offline` is not choosable.
    pub fn set_state(
        &mut self,
        tenant: &str,
        user: &str,
        state: PresenceState,
    ) -> Option<Presence> {
        if state == PresenceState::Offline {
            return None;
        }
        let p = self.users.get_mut(&(tenant.to_owned(), user.to_owned()))?;
        if p.state == state {
            return None;
        }
        p.state = state;
        Some(Self::view(user, p))
    }

    /// The user opened (or closed, with `None`) a patient's record.
    pub fn set_viewing(
        &mut self,
        tenant: &str,
        user: &str,
        viewing: Option<String>,
    ) -> Option<Presence> {
        let p = self.users.get_mut(&(tenant.to_owned(), user.to_owned()))?;
        if p.viewing == viewing {
            return None;
        }
        p.viewing = viewing;
        Some(Self::view(user, p))
    }

    /// Users whose grace has run out go offline; returns what to announce.
    pub fn expire(&mut self, now: Instant) -> Vec<Change> {
        let due: Vec<(String, String)> = self
            .users
            .iter()
            .filter(|(_, p)| p.offline_at.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        due.into_iter()
            .filter_map(|key| {
                self.users.remove(&key)?;
                let (tenant, user) = key;
                Some((
                    tenant,
                    Presence {
                        user,
                        state: PresenceState::Offline,
                        viewing: None,
                    },
                ))
            })
            .collect()
    }

    /// Everyone not offline in a tenant, for snapshots.
    pub fn snapshot(&self, tenant: &str) -> Vec<Presence> {
        let mut out: Vec<Presence> = self
            .users
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, u), p)| Self::view(u, p))
            .collect();
        out.sort_by(|a, b| a.user.cmp(&b.user));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_across_sockets_offline_after_grace() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(10);
        let mut p = PresenceTracker::new(grace);
        assert_eq!(
            p.connect("c", "u", "s1").unwrap().state,
            PresenceState::Online
        );
        assert!(
            p.connect("c", "u", "s2").is_none(),
            "second socket changes nothing"
        );
        p.disconnect("c", "u", "s1", t0);
        assert!(p.expire(t0 + grace).is_empty(), "one socket still open");
        p.disconnect("c", "u", "s2", t0 + Duration::from_secs(1));
        assert!(
            p.expire(t0 + Duration::from_secs(10)).is_empty(),
            "still in grace"
        );
        // Reconnecting within the grace cancels the offline.
        assert!(p.connect("c", "u", "s3").is_none());
        assert!(p.expire(t0 + Duration::from_secs(60)).is_empty());
        p.disconnect("c", "u", "s3", t0 + Duration::from_secs(60));
        let gone = p.expire(t0 + Duration::from_secs(70));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1.state, PresenceState::Offline);
        assert!(p.snapshot("c").is_empty());
    }

    #[test]
    fn a_close_counts_once_per_socket_however_often_it_is_reported() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(5);
        let mut p = PresenceTracker::new(grace);
        p.connect("c", "u", "a");
        p.connect("c", "u", "b");
        // The same close reported twice, and a close of a socket never seen:
        // the other socket still holds the user online.
        p.disconnect("c", "u", "a", t0);
        p.disconnect("c", "u", "a", t0);
        p.disconnect("c", "u", "ghost", t0);
        assert!(p.expire(t0 + grace * 2).is_empty(), "b is still open");
        p.disconnect("c", "u", "b", t0);
        assert_eq!(p.expire(t0 + grace).len(), 1);
    }

    #[test]
    fn state_and_viewing_changes_are_reported_once() {
        let mut p = PresenceTracker::new(Duration::from_secs(1));
        p.connect("c", "u", "s1");
        assert_eq!(
            p.set_state("c", "u", PresenceState::Dnd).unwrap().state,
            PresenceState::Dnd
        );
        assert!(p.set_state("c", "u", PresenceState::Dnd).is_none());
        assert!(p.set_state("c", "u", PresenceState::Offline).is_none());
        assert_eq!(
            p.set_viewing("c", "u", Some("pat_1".into()))
                .unwrap()
                .viewing
                .as_deref(),
            Some("pat_1")
        );
        assert!(p.set_viewing("c", "u", Some("pat_1".into())).is_none());
        assert!(p.set_state("c", "nobody", PresenceState::Away).is_none());
        assert!(p.snapshot("other").is_empty());
        assert_eq!(p.snapshot("c")[0].state, PresenceState::Dnd);
    }
}
