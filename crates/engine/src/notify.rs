//! Which applied events become OS notifications: a pure, tested policy.
//!
//! The engine asks [`Policy::decide`] for each event it applies, passing what
//! the UI is focused on; the shell's [`Notifier`] shows what comes out.
//! Rules: nothing for your own actions; nothing for the conversation on
//! screen while the window has focus; do-not-disturb lets only critical ones
//! through; one notification per event; a burst replayed after a long
//! offline spell becomes one summary.
//!
//! [`Coalescer`]: messages of one thread, and patient arrivals, share one
//! notification on screen, replaced as more come ("Sam Okafor: 12 new
//! messages") until the user has looked (the thread opened, the window
//! focused) or the group has been quiet for [`GROUP_QUIET`]. A group's
//! notification is replaced at most once per [`GROUP_PACE`]: during a burst
//! the latest count waits for its turn ([`Coalescer::due`]), so ten messages
//! a second are a few updates on screen, not ten. Urgent ones never merge or
//! wait. Notification servers interpret markup in the body: the shell
//! shows it through [`markup_escaped`].

use frontdesk_protocol::envelope::{Envelope, EventData};
use frontdesk_protocol::records::{Subject, Urgency};
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;
use std::time::Instant;

/// More notifications than this from one replay are summarised.
pub const FLOOD: usize = 3;
/// A group quiet for this long starts over as a fresh notification.
pub const GROUP_QUIET: Duration = Duration::from_secs(10 * 60);
/// A group's notification on screen is replaced at most this often.
pub const GROUP_PACE: Duration = Duration::from_secs(1);

/// A notification for the OS.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct OsNotification {
    pub title: String,
    pub body: String,
    pub urgency: Urgency,
    /// Stays on screen until dismissed (critical ones).
    pub persistent: bool,
    /// What a click should open.
    pub subject: Subject,
    /// Notifications of one group replace each other on screen (a thread's
    /// messages, patient arrivals); `None` stands alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Who it is from, when it is a person (for a group's title).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
}

impl OsNotification {
    /// The same notification with nothing a passer-by should read: shown
    /// while the desk is locked. It keeps its group (so it still replaces
    /// the one before), its urgency and what a click opens (ids only).
    pub fn hidden(self) -> OsNotification {
        let what = match self.subject.kind.as_str() {
            "thread" | "message" => "A new message",
            "queue" | "appointment" => "A patient update",
            _ => "Something new",
        };
        OsNotification {
            title: "Frontdesk is locked".into(),
            body: format!("{what}: unlock Frontdesk to see it"),
            sender: None,
            ..self
        }
    }
}

/// Shows notifications; the desktop shell implements it with notify-rust.
pub trait Notifier: Send + Sync {
    fn notify(&self, n: &OsNotification);
}

/// A notifier that shows nothing (the CLI, tests that do not look).
pub struct Silent;

impl Notifier for Silent {
    fn notify(&self, _: &OsNotification) {}
}

/// What the user is looking at, as the UI reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Focus {
    pub window_focused: bool,
    /// The thread open on screen, if any.
    pub thread: Option<String>,
}

/// The policy's memory: who we are, names for titles, events already shown.
#[derive(Debug, Default)]
pub struct Policy {
    me: String,
    names: HashMap<String, String>,
    seen: HashSet<String>,
    order: VecDeque<String>,
}

impl Policy {
    /// A policy for user `me`.
    pub fn new(me: &str) -> Policy {
        Policy {
            me: me.to_owned(),
            ..Policy::default()
        }
    }

    /// Display names of users, for "message from …" titles.
    pub fn set_names(&mut self, names: HashMap<String, String>) {
        self.names = names;
    }

    fn first_time(&mut self, key: &str) -> bool {
        if !self.seen.insert(key.to_owned()) {
            return false;
        }
        self.order.push_back(key.to_owned());
        if self.order.len() > 1000
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }

    /// The notification for one applied event, if any.
    pub fn decide(&mut self, env: &Envelope, focus: &Focus, dnd: bool) -> Option<OsNotification> {
        if env.actor == self.me {
            return None;
        }
        let n = match env.decode().ok()? {
            EventData::MessageCreated(m) => {
                // Urgent messages arrive as their own notification.created too.
                if m.author_id == self.me || m.urgent {
                    return None;
                }
                if focus.window_focused && focus.thread.as_deref() == Some(m.thread_id.as_str()) {
                    return None;
                }
                let who = self
                    .names
                    .get(&m.author_id)
                    .cloned()
                    .unwrap_or_else(|| "a colleague".into());
                OsNotification {
                    title: format!("Message from {who}"),
                    body: m.body.chars().take(200).collect(),
                    urgency: Urgency::Normal,
                    persistent: false,
                    group: Some(format!("thread:{}", m.thread_id)),
                    sender: Some(who),
                    subject: Subject {
                        kind: "thread".into(),
                        id: m.thread_id,
                    },
                }
            }
            EventData::NotificationCreated(n) if n.user_id == self.me => {
                if n.subject.kind == "thread"
                    && focus.window_focused
                    && focus.thread.as_deref() == Some(n.subject.id.as_str())
                    && n.urgency != Urgency::Critical
                {
                    return None;
                }
                let arrival = n.kind == "patient.arrived" && n.urgency != Urgency::Critical;
                OsNotification {
                    title: n.title,
                    body: n.body,
                    urgency: n.urgency,
                    persistent: n.urgency == Urgency::Critical,
                    group: arrival.then(|| ARRIVALS.to_owned()),
                    sender: None,
                    subject: n.subject,
                }
            }
            _ => return None,
        };
        if dnd && n.urgency != Urgency::Critical {
            return None;
        }
        if !self.first_time(&env.id) {
            return None;
        }
        Some(n)
    }
}

/// What to show for a batch decided during one replay: the notifications
/// themselves, or one summary when there are more than [`FLOOD`].
pub fn summarize(batch: Vec<OsNotification>) -> Vec<OsNotification> {
    if batch.len() <= FLOOD {
        return batch;
    }
    let critical = batch
        .iter()
        .filter(|n| n.urgency == Urgency::Critical)
        .count();
    let urgency = if critical > 0 {
        Urgency::Critical
    } else {
        Urgency::Normal
    };
    let mut body = format!(
        "{} updates arrived while Frontdesk was offline",
        batch.len()
    );
    if critical > 0 {
        body.push_str(&format!(", {critical} urgent"));
    }
    vec![OsNotification {
        title: "While you were offline".into(),
        body,
        urgency,
        persistent: critical > 0,
        group: None,
        sender: None,
        subject: Subject {
            kind: "inbox".into(),
            id: String::new(),
        },
    }]
}

/// The group of patient-arrival notifications.
pub const ARRIVALS: &str = "arrivals";

/// Merges notifications of one group into the one on screen.
#[derive(Debug, Default)]
pub struct Coalescer {
    groups: HashMap<String, Group>,
}

#[derive(Debug)]
struct Group {
    count: u32,
    senders: Vec<String>,
    last: Instant,
    /// When the group's notification was last put on screen.
    shown: Option<Instant>,
    /// The replacement waiting for its turn (see [`GROUP_PACE`]).
    held: Option<OsNotification>,
}

impl Coalescer {
    /// `n` as it should be shown at `now`: alone, the first of its group, or
    /// the group's notification replaced with its new count; `None` when the
    /// group was replaced less than [`GROUP_PACE`] ago (it is shown by
    /// [`Coalescer::due`], merged with whatever else comes meanwhile).
    pub fn coalesce(&mut self, n: OsNotification, now: Instant) -> Option<OsNotification> {
        let Some(key) = n.group.clone().filter(|_| n.urgency != Urgency::Critical) else {
            return Some(OsNotification { group: None, ..n });
        };
        let merged = self.merge(&key, n, now);
        let group = self.groups.get_mut(&key)?;
        if group
            .shown
            .is_some_and(|t| now.saturating_duration_since(t) < GROUP_PACE)
        {
            group.held = Some(merged);
            return None;
        }
        group.shown = Some(now);
        group.held = None;
        Some(merged)
    }

    /// The replacements whose turn has come at `now`.
    pub fn due(&mut self, now: Instant) -> Vec<OsNotification> {
        let mut out = Vec::new();
        for group in self.groups.values_mut() {
            if group.shown.is_some_and(|t| t + GROUP_PACE <= now)
                && let Some(n) = group.held.take()
            {
                group.shown = Some(now);
                out.push(n);
            }
        }
        out
    }

    /// When the next held replacement is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.groups
            .values()
            .filter(|g| g.held.is_some())
            .filter_map(|g| g.shown.map(|t| t + GROUP_PACE))
            .min()
    }

    /// `n` counted into group `key`, titled with the group's count.
    fn merge(&mut self, key: &str, mut n: OsNotification, now: Instant) -> OsNotification {
        let group = self.groups.entry(key.to_owned()).or_insert(Group {
            count: 0,
            senders: Vec::new(),
            last: now,
            shown: None,
            held: None,
        });
        if now.saturating_duration_since(group.last) >= GROUP_QUIET {
            group.count = 0;
            group.senders.clear();
            group.shown = None;
        }
        group.count += 1;
        group.last = now;
        if let Some(s) = &n.sender
            && !group.senders.contains(s)
        {
            group.senders.push(s.clone());
        }
        if group.count > 1 {
            n.title = if key == ARRIVALS {
                format!("{} patients arrived", group.count)
            } else {
                match group.senders.as_slice() {
                    [one] => format!("{one}: {} new messages", group.count),
                    many => format!(
                        "{} new messages from {} colleagues",
                        group.count,
                        many.len()
                    ),
                }
            };
        }
        n
    }

    /// The user looked at `group` (opened the thread): the next one starts over.
    pub fn seen(&mut self, group: &str) {
        self.groups.remove(group);
    }

    /// What the window now shows: a focused window has seen the arrivals
    /// and the thread on screen.
    pub fn focused(&mut self, focus: &Focus) {
        if focus.window_focused {
            self.seen(ARRIVALS);
            if let Some(t) = &focus.thread {
                self.seen(&format!("thread:{t}"));
            }
        }
    }
}

/// `text` with the characters notification markup gives meaning to
/// (`& < > " '`) escaped, so a message shows as typed and cannot inject links
/// or images.
pub fn markup_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdesk_protocol::records::{Message, Notification};
    use serde_json::json;

    fn env(id: &str, actor: &str, data: EventData) -> Envelope {
        Envelope {
            seq: 1,
            id: id.into(),
            kind: data.kind().into(),
            tenant: "demo".into(),
            at: "2026-11-22T09:00:00Z".parse().unwrap(),
            actor: actor.into(),
            data: data.to_value(),
            redacted: false,
            evict: None,
            patient: None,
        }
    }

    fn message(author: &str, thread: &str, urgent: bool) -> EventData {
        EventData::MessageCreated(Message {
            id: "m".into(),
            thread_id: thread.into(),
            client_id: "c".into(),
            author_id: author.into(),
            body: "Mrs K. is asking about her lab result".into(),
            urgent,
            created_at: "2026-11-22T09:00:00Z".parse().unwrap(),
        })
    }

    fn notification(to: &str, urgency: Urgency) -> EventData {
        EventData::NotificationCreated(Notification {
            id: "n".into(),
            user_id: to.into(),
            kind: "patient.arrived".into(),
            title: "Patient arrived".into(),
            body: "Maria Kowalski (A-003) is waiting".into(),
            urgency,
            subject: Subject {
                kind: "queue".into(),
                id: "q1".into(),
            },
            created_at: "2026-11-22T09:00:00Z".parse().unwrap(),
        })
    }

    fn policy() -> Policy {
        let mut p = Policy::new("me");
        p.set_names([("rosa".to_owned(), "Rosa Delgado".to_owned())].into());
        p
    }

    #[test]
    fn messages_from_others_notify_unless_on_screen() {
        let mut p = policy();
        let unfocused = Focus::default();
        let n = p
            .decide(
                &env("e1", "rosa", message("rosa", "t1", false)),
                &unfocused,
                false,
            )
            .unwrap();
        assert_eq!(n.title, "Message from Rosa Delgado");
        assert_eq!((n.urgency, n.persistent), (Urgency::Normal, false));
        assert_eq!(
            n.subject,
            Subject {
                kind: "thread".into(),
                id: "t1".into()
            }
        );
        let on_screen = Focus {
            window_focused: true,
            thread: Some("t1".into()),
        };
        assert!(
            p.decide(
                &env("e2", "rosa", message("rosa", "t1", false)),
                &on_screen,
                false
            )
            .is_none()
        );
        // Same thread open but the window is in the background: notify.
        let hidden = Focus {
            window_focused: false,
            thread: Some("t1".into()),
        };
        assert!(
            p.decide(
                &env("e3", "rosa", message("rosa", "t1", false)),
                &hidden,
                false
            )
            .is_some()
        );
        // Another thread on screen: notify.
        let other = Focus {
            window_focused: true,
            thread: Some("t2".into()),
        };
        assert!(
            p.decide(
                &env("e4", "rosa", message("rosa", "t1", false)),
                &other,
                false
            )
            .is_some()
        );
    }

    #[test]
    fn never_for_my_own_actions_or_others_notifications() {
        let mut p = policy();
        let f = Focus::default();
        assert!(
            p.decide(&env("e1", "me", message("me", "t1", false)), &f, false)
                .is_none()
        );
        assert!(
            p.decide(
                &env(
                    "e2",
                    "system",
                    notification("someone-else", Urgency::Critical)
                ),
                &f,
                false
            )
            .is_none()
        );
        let redacted = env("e3", "system", notification("me", Urgency::Normal)).redact();
        assert!(p.decide(&redacted, &f, false).is_none());
        let mut odd = env("e4", "rosa", message("rosa", "t1", false));
        odd.data = json!({"nonsense": true});
        assert!(p.decide(&odd, &f, false).is_none());
    }

    #[test]
    fn urgent_ones_persist_and_pass_dnd_others_do_not() {
        let mut p = policy();
        let f = Focus::default();
        assert!(
            p.decide(
                &env("e1", "system", notification("me", Urgency::Normal)),
                &f,
                true
            )
            .is_none()
        );
        let n = p
            .decide(
                &env("e2", "system", notification("me", Urgency::Critical)),
                &f,
                true,
            )
            .unwrap();
        assert!(n.persistent);
        // An urgent message is announced by its notification, not twice.
        assert!(
            p.decide(&env("e3", "rosa", message("rosa", "t1", true)), &f, false)
                .is_none()
        );
    }

    #[test]
    fn each_event_notifies_once() {
        let mut p = policy();
        let e = env("e1", "system", notification("me", Urgency::Normal));
        assert!(p.decide(&e, &Focus::default(), false).is_some());
        assert!(p.decide(&e, &Focus::default(), false).is_none());
    }

    #[test]
    fn a_flood_becomes_one_summary() {
        let one = OsNotification {
            title: "t".into(),
            body: "b".into(),
            urgency: Urgency::Normal,
            persistent: false,
            group: None,
            sender: None,
            subject: Subject {
                kind: "thread".into(),
                id: "t1".into(),
            },
        };
        assert_eq!(summarize(vec![one.clone(); 3]).len(), 3);
        let mut many = vec![one.clone(); 11];
        many[4].urgency = Urgency::Critical;
        let s = summarize(many);
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].body,
            "11 updates arrived while Frontdesk was offline, 1 urgent"
        );
        assert!(s[0].persistent);
    }

    fn from(who: &str, thread: &str) -> OsNotification {
        let mut p = policy();
        p.set_names([(who.to_owned(), format!("Name {who}"))].into());
        let id = format!("e-{who}-{thread}-{}", rand::random::<u32>());
        p.decide(
            &env(&id, who, message(who, thread, false)),
            &Focus::default(),
            false,
        )
        .unwrap()
    }

    #[test]
    fn a_thread_shares_one_notification_that_counts_its_messages() {
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        let first = c.coalesce(from("sam", "t1"), t0).unwrap();
        assert_eq!(first.title, "Message from Name sam");
        assert_eq!(first.group.as_deref(), Some("thread:t1"));
        let mut last = first.clone();
        for i in 1..12 {
            last = c
                .coalesce(from("sam", "t1"), t0 + Duration::from_secs(i))
                .unwrap();
        }
        assert_eq!(last.title, "Name sam: 12 new messages");
        assert_eq!(last.group, first.group, "replaces the one on screen");
        let mixed = c
            .coalesce(from("ana", "t1"), t0 + Duration::from_secs(20))
            .unwrap();
        assert_eq!(mixed.title, "13 new messages from 2 colleagues");
        // Another thread is its own group.
        assert_eq!(
            c.coalesce(from("ana", "t2"), t0).unwrap().title,
            "Message from Name ana"
        );
        // Opening the thread starts it over.
        c.focused(&Focus {
            window_focused: true,
            thread: Some("t1".into()),
        });
        assert_eq!(
            c.coalesce(from("sam", "t1"), t0 + Duration::from_secs(30))
                .unwrap()
                .title,
            "Message from Name sam"
        );
        // So does a quiet spell.
        c.coalesce(from("sam", "t1"), t0 + Duration::from_secs(31));
        let later = t0 + Duration::from_secs(32) + GROUP_QUIET;
        assert_eq!(
            c.coalesce(from("sam", "t1"), later).unwrap().title,
            "Message from Name sam"
        );
    }

    #[test]
    fn a_burst_replaces_the_group_at_most_once_a_second_and_ends_on_the_latest_count() {
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut on_screen = Vec::new();
        // Ten a second for three seconds, the pending ones shown when due.
        for i in 0..30u64 {
            let now = at(i * 100);
            on_screen.extend(c.due(now));
            on_screen.extend(c.coalesce(from("sam", "t1"), now));
        }
        assert!(on_screen.len() <= 4, "{} updates", on_screen.len());
        let due = c.next_due().expect("the latest count waits for its turn");
        assert!(due <= at(3_000), "within a second of the last: {due:?}");
        assert!(
            c.due(due - Duration::from_millis(1)).is_empty(),
            "not early"
        );
        let last = c.due(due);
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].title, "Name sam: 30 new messages");
        assert_eq!(c.next_due(), None, "nothing left");
        // Urgent ones never wait.
        let mut urgent = from("sam", "t1");
        urgent.urgency = Urgency::Critical;
        assert!(c.coalesce(urgent, due).is_some());
    }

    #[test]
    fn arrivals_merge_but_urgent_ones_stand_alone() {
        let mut p = policy();
        let mut c = Coalescer::default();
        let t0 = Instant::now();
        let mut shown: Vec<OsNotification> = Vec::new();
        for i in 0..3 {
            let e = env(
                &format!("n{i}"),
                "system",
                notification("me", Urgency::Normal),
            );
            shown.extend(c.coalesce(p.decide(&e, &Focus::default(), false).unwrap(), t0));
        }
        // The first at once; the latest count when its turn comes.
        shown.extend(c.due(t0 + GROUP_PACE));
        assert_eq!(shown.len(), 2);
        assert_eq!(shown[1].title, "3 patients arrived");
        assert!(shown.iter().all(|n| n.group.as_deref() == Some(ARRIVALS)));
        let urgent = env("u1", "system", notification("me", Urgency::Critical));
        let urgent = c
            .coalesce(p.decide(&urgent, &Focus::default(), false).unwrap(), t0)
            .unwrap();
        assert_eq!(
            (urgent.group, urgent.title.as_str()),
            (None, "Patient arrived")
        );
    }

    #[test]
    fn markup_is_escaped_for_the_notification_server() {
        assert_eq!(
            markup_escaped(r#"<a href="x">call</a> & <img src=y> 'now'"#),
            "&lt;a href=&quot;x&quot;&gt;call&lt;/a&gt; &amp; &lt;img src=y&gt; &#39;now&#39;"
        );
        assert_eq!(markup_escaped("Mrs K. 09:40"), "Mrs K. 09:40");
    }
}
