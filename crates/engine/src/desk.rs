//! The desk as one pure state machine: the [`Session`] plus everything a desk
//! decides on top of it, with no tokio and no clock.
//!
//! - **Sync**: once live, a snapshot the first time (or after `410`, a gap,
//!   or a server whose history is behind ours), otherwise a replay from the
//!   last applied `seq`, page by page; live events that arrive meanwhile are
//!   held and applied after. Caught up, it tells the session it is healthy
//!   (which resets the backoff).
//! - **Outbox**: pending actions are sent one at a time, in order, once
//!   synced; each answer is applied (done, conflict kept with the server's
//!   record, refusal kept), a `401` renews the token once, anything else
//!   retries after [`OUTBOX_RETRY`].
//! - **Presence and typing**: own presence (away after 5 idle minutes, dnd),
//!   the typing throttle, remote typing expiry, the patient on screen.
//! - **Notifications**: the [`Policy`] per applied event; a replay's batch
//!   summarised.
//!
//! The cache is the core's memory, reached synchronously through
//! [`DeskStore`] (the real SQLCipher [`Cache`] in the app and in tests). A
//! write that fails is never dropped: it is shown ([`Update::Warning`]), and
//! the desk either stops syncing on this link (drop it, back off, try again:
//! the backoff keeps growing until a write succeeds) or waits before the next
//! outbox attempt. No loop re-reads an entry it failed to update.
//!
//! Contract: call the `handle_*` and command methods with the time, then
//! drain [`Core::poll_output`] in order and sleep until [`Core::poll_timeout`].

use crate::activity::{OwnPresence, RemoteTyping, TypingThrottle};
use crate::cache::outbox::{DeskAction, OutboxEntry, OutboxProblem, OutboxState, Request};
use crate::cache::{Applied, Cache, Kind};
use crate::clock::Now;
use crate::driver::Core;
use crate::error::{EngineError, Result};
use crate::notify::{Coalescer, Focus, OsNotification, Policy, summarize};
use crate::on_screen::{Fetching, OnScreen, Step};
use crate::rest::{Replay, SendOutcome};
use crate::screen_lock::{LOCK_AFTER, LockReason, ScreenLock};
use crate::session::{Grant, Session, SessionConfig, SessionEvent};
use crate::supervisor::ConnState;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use frontdesk_protocol::api::{AppointmentsPage, MessagesPage, Snapshot};
use frontdesk_protocol::envelope::{
    EmitAck, Envelope, EventData, PresenceEmit, TypingEmit, TypingEvent, ViewingEmit, WatchEmit,
    ephemeral,
};
use frontdesk_protocol::records::{
    Appointment, Message, Notification, Patient, Presence, QueueEntry, ReadMarker, Tenant, Thread,
    User,
};
use frontdesk_protocol::schedule::{AppointmentType, ProviderHours};
use frontdesk_protocol::window::{SyncWindow, day_start, zone_of};
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime};

/// Events per replay page.
pub const REPLAY_PAGE: u32 = 500;
/// How long the outbox waits after a failed attempt (server or cache).
pub const OUTBOX_RETRY: Duration = Duration::from_secs(5);
/// Sync rounds (replay pages or snapshots that went wrong) before the link
/// is dropped and the backoff decides when to try again.
pub const SYNC_ATTEMPTS: u32 = 3;
/// How long a failed eviction of old days waits before it is tried again.
pub const EVICT_RETRY: Duration = Duration::from_secs(60);
/// How long a failed fetch of new days waits before it is tried again.
pub const FILL_RETRY: Duration = Duration::from_secs(60);
/// Live events held while a sync is under way; beyond this the sync simply
/// runs once more when it is done.
pub const HOLD_LIMIT: usize = 10_000;

/// What the engine publishes to whoever watches (UI, CLI `tail`).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    /// The connection state changed.
    Connection { state: ConnState, detail: String },
    /// A durable event was applied to the cache: its `seq`, type, author
    /// and time, and the record it changed (what a view holding its own
    /// copy applies, instead of reading the cache again).
    Applied {
        #[ts(type = "number")]
        seq: u64,
        event_type: String,
        actor: String,
        at: DateTime<Utc>,
        change: Change,
    },
    /// A snapshot replaced the cache.
    Resynced {
        #[ts(type = "number")]
        seq: u64,
    },
    /// The cache caught up with the server (after connecting or a gap) at `at`.
    Synced {
        #[ts(type = "number")]
        seq: u64,
        at: DateTime<Utc>,
    },
    /// Someone's presence changed.
    Presence { presence: Presence },
    /// Someone started or stopped typing (stops include expiry after 6 s).
    Typing {
        thread: String,
        user: String,
        typing: bool,
    },
    /// The outbox changed.
    Outbox {
        #[ts(type = "number")]
        pending: usize,
        #[ts(type = "number")]
        problems: usize,
    },
    /// An OS notification was raised.
    Notified { notification: OsNotification },
    /// Something the user should know that is not an error of theirs.
    Warning { message: String },
    /// Days of the sync window the cache lacked are in it now.
    WindowFilled { from: NaiveDate, to: NaiveDate },
    /// The clinic's day turned (its midnight, in its own time zone): what
    /// "today" shows is another day now.
    DayChanged { day: NaiveDate },
    /// A day outside the sync window (the one on screen) is in the cache
    /// whole, as of `at`, and kept live while the desk is.
    DayFetched { day: NaiveDate, at: DateTime<Utc> },
    /// Older messages of a thread are in the cache now (`more`: older ones
    /// remain on the server).
    OlderMessages {
        thread: String,
        #[ts(type = "number")]
        count: usize,
        more: bool,
    },
    /// The desk locked (idle, or asked): the screen shows nothing of
    /// patients and notifications say only that something came.
    Locked { reason: LockReason },
    /// The user's password unlocked the desk.
    Unlocked,
}

/// The record an applied event changed, by kind (its `id` and `version`
/// are the record's own).
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum Change {
    Appointment(Appointment),
    Ticket(QueueEntry),
    Thread(Thread),
    Message(Message),
    ReadMarker(ReadMarker),
    Notification(Notification),
    /// A patient's corrected details (also in the appointments and tickets
    /// that name them).
    Patient(Patient),
    Hours(ProviderHours),
    AppointmentType(AppointmentType),
    /// The clinic's settings (lock time, sync window).
    Clinic(Tenant),
    /// The record left the desk's scope and was deleted from the cache.
    Evicted {
        kind: String,
        id: String,
    },
    /// Nothing the desk holds (an event for others, or of a type this
    /// build does not know).
    Nothing,
}

impl Change {
    /// What `env` changes in the cache (see [`Cache::apply_events`]).
    pub fn of(env: &Envelope) -> Change {
        if let Some(e) = &env.evict {
            return Change::Evicted {
                kind: e.kind.clone(),
                id: e.id.clone(),
            };
        }
        match env.decode() {
            Ok(
                EventData::AppointmentCreated(a)
                | EventData::AppointmentUpdated(a)
                | EventData::AppointmentCancelled(a),
            ) => Change::Appointment(a),
            Ok(EventData::QueueUpdated(q) | EventData::QueueCalled(q)) => Change::Ticket(q),
            Ok(EventData::ThreadCreated(t)) => Change::Thread(t),
            Ok(EventData::MessageCreated(m)) => Change::Message(m),
            Ok(EventData::ThreadRead(m)) => Change::ReadMarker(m),
            Ok(EventData::NotificationCreated(n)) => Change::Notification(n),
            Ok(EventData::PatientUpdated(p)) => Change::Patient(p),
            Ok(EventData::HoursUpdated(h)) => Change::Hours(h),
            Ok(EventData::AppointmentTypeUpdated(t)) => Change::AppointmentType(t),
            Ok(EventData::ClinicUpdated(t)) => Change::Clinic(t),
            Ok(EventData::PatientCreated(_)) | Err(_) => Change::Nothing,
        }
    }
}

/// A REST call the desk needs made.
#[derive(Debug, Clone, PartialEq)]
pub enum DeskCall {
    /// `GET /api/snapshot`.
    Snapshot,
    /// `GET /api/events?after=…&after_id=…&limit=…`.
    Events {
        after: u64,
        /// The id of our event `after`, so a server with another history says 410.
        after_id: Option<String>,
        limit: u32,
    },
    /// One outbox action with its idempotency key.
    Send { request: Request, key: String },
    /// `GET /api/appointments?from=…&to=…&cursor=…`: days that came into the
    /// sync window.
    Appointments {
        from: NaiveDate,
        to: NaiveDate,
        cursor: Option<String>,
    },
    /// `GET /api/threads/{thread}/messages?before=…`: further back in a thread.
    OlderMessages {
        thread: String,
        before: Option<String>,
    },
}

/// Why a read call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// `401`: the access token was not accepted.
    Unauthorized,
    /// Network, server error, unreadable answer.
    Failed(String),
}

/// The answer to a [`DeskCall`].
#[derive(Debug, Clone, PartialEq)]
pub enum DeskAnswer {
    Snapshot(std::result::Result<Box<Snapshot>, CallError>),
    Events(std::result::Result<Replay, CallError>),
    Sent(SendOutcome),
    Appointments(std::result::Result<Box<AppointmentsPage>, CallError>),
    OlderMessages(std::result::Result<Box<MessagesPage>, CallError>),
}

/// What the desk core asks its driver to do (besides the session's sockets).
#[derive(Debug, Clone)]
pub enum DeskOut {
    /// Make `call` with `token`; answer with [`DeskCore::handle_answer`] `id`.
    Call {
        id: u64,
        token: String,
        call: DeskCall,
    },
    /// Publish to watchers.
    Update(Update),
    /// Show an OS notification (and publish [`Update::Notified`]).
    Notify(OsNotification),
}

/// The cache as the desk core uses it. [`Cache`] is the implementation; a
/// test may wrap it to make writes fail.
pub trait DeskStore {
    fn last_seq(&self) -> Result<Option<u64>>;
    /// The id of the event at `last_seq`, if known.
    fn last_event_id(&self) -> Result<Option<String>>;
    fn apply_events(&mut self, events: &[Envelope]) -> Result<Applied>;
    fn replace_with_snapshot(&mut self, snap: &Snapshot, at: DateTime<Utc>) -> Result<()>;
    fn mark_synced(&self, at: DateTime<Utc>) -> Result<()>;
    fn forget_position(&self) -> Result<()>;
    fn clear_presence(&self) -> Result<()>;
    fn put_presence(&self, p: &Presence) -> Result<()>;
    fn put_current(&self, kind: Kind, record: &Value) -> Result<bool>;
    fn outbox_push(&self, action: &DeskAction, at: DateTime<Utc>) -> Result<OutboxEntry>;
    fn outbox_next(&self) -> Result<Option<OutboxEntry>>;
    fn outbox_attempted(&self, n: i64) -> Result<()>;
    fn outbox_done(&self, n: i64) -> Result<()>;
    fn outbox_set_problem(
        &self,
        n: i64,
        state: OutboxState,
        error: &str,
        conflict: Option<&OutboxProblem>,
    ) -> Result<()>;
    /// The user chose how to go on with a conflict or refusal: send this
    /// instead, in the same place, under a fresh key.
    fn outbox_resend(&self, n: i64, action: &DeskAction) -> Result<()>;
    /// `(pending, problems)`.
    fn outbox_counts(&self) -> Result<(usize, usize)>;
    /// Display names by user id.
    fn user_names(&self) -> Result<HashMap<String, String>>;
    /// The signed-in user's id, as the last snapshot said.
    fn me(&self) -> Result<Option<String>>;
    /// The clinic (its time zone and sync window), as the last snapshot said.
    fn tenant(&self) -> Result<Option<Tenant>>;
    /// Deletes appointments starting before `start` (the window's new first
    /// day, `first_day`) and the patients no record names any more; how many
    /// appointments went.
    fn evict_before(&self, start: DateTime<Utc>, first_day: NaiveDate) -> Result<usize>;
    /// The run of days whose appointments the cache holds, if known.
    fn covered(&self) -> Result<Option<SyncWindow>>;
    /// Stores fetched appointments and their patients (higher versions win);
    /// with `covered`, the run of days the cache now holds.
    fn store_fetched(&mut self, page: &AppointmentsPage, covered: Option<SyncWindow>)
    -> Result<()>;
    /// The oldest message of `thread` the cache holds.
    fn oldest_message(&self, thread: &str) -> Result<Option<String>>;
    /// Keeps messages read back from a thread.
    fn put_messages(&mut self, messages: &[Message]) -> Result<()>;
    /// See [`Cache::finish_day`].
    fn finish_day(
        &mut self,
        day: NaiveDate,
        range: (DateTime<Utc>, DateTime<Utc>),
        ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<()>;
}

impl DeskStore for Cache {
    fn last_seq(&self) -> Result<Option<u64>> {
        Cache::last_seq(self)
    }
    fn last_event_id(&self) -> Result<Option<String>> {
        Cache::last_event_id(self)
    }
    fn apply_events(&mut self, events: &[Envelope]) -> Result<Applied> {
        Cache::apply_events(self, events)
    }
    fn replace_with_snapshot(&mut self, snap: &Snapshot, at: DateTime<Utc>) -> Result<()> {
        Cache::replace_with_snapshot(self, snap, at)
    }
    fn mark_synced(&self, at: DateTime<Utc>) -> Result<()> {
        Cache::mark_synced(self, at)
    }
    fn forget_position(&self) -> Result<()> {
        Cache::forget_position(self)
    }
    fn clear_presence(&self) -> Result<()> {
        Cache::clear_presence(self)
    }
    fn put_presence(&self, p: &Presence) -> Result<()> {
        Cache::put_presence(self, p)
    }
    fn put_current(&self, kind: Kind, record: &Value) -> Result<bool> {
        Cache::put_current(self, kind, record)
    }
    fn outbox_push(&self, action: &DeskAction, at: DateTime<Utc>) -> Result<OutboxEntry> {
        Cache::outbox_push(self, action, at)
    }
    fn outbox_next(&self) -> Result<Option<OutboxEntry>> {
        Cache::outbox_next(self)
    }
    fn outbox_attempted(&self, n: i64) -> Result<()> {
        Cache::outbox_attempted(self, n)
    }
    fn outbox_done(&self, n: i64) -> Result<()> {
        Cache::outbox_done(self, n)
    }
    fn outbox_set_problem(
        &self,
        n: i64,
        state: OutboxState,
        error: &str,
        conflict: Option<&OutboxProblem>,
    ) -> Result<()> {
        Cache::outbox_set_problem(self, n, state, error, conflict)
    }
    fn outbox_counts(&self) -> Result<(usize, usize)> {
        Cache::outbox_counts(self)
    }
    fn outbox_resend(&self, n: i64, action: &DeskAction) -> Result<()> {
        Cache::outbox_resend(self, n, action)
    }
    fn user_names(&self) -> Result<HashMap<String, String>> {
        Ok(self
            .list::<User>(Kind::User)?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect())
    }
    fn me(&self) -> Result<Option<String>> {
        Ok(self.signed_in_as()?.map(|m| m.id))
    }
    fn tenant(&self) -> Result<Option<Tenant>> {
        Cache::tenant(self)
    }
    fn evict_before(&self, start: DateTime<Utc>, first_day: NaiveDate) -> Result<usize> {
        Cache::evict_before(self, start, first_day)
    }
    fn covered(&self) -> Result<Option<SyncWindow>> {
        Cache::covered(self)
    }
    fn store_fetched(
        &mut self,
        page: &AppointmentsPage,
        covered: Option<SyncWindow>,
    ) -> Result<()> {
        Cache::store_fetched(self, page, covered)
    }
    fn oldest_message(&self, thread: &str) -> Result<Option<String>> {
        Cache::oldest_message(self, thread)
    }
    fn put_messages(&mut self, messages: &[Message]) -> Result<()> {
        Cache::put_messages(self, messages)
    }
    fn finish_day(
        &mut self,
        day: NaiveDate,
        range: (DateTime<Utc>, DateTime<Utc>),
        ids: &[String],
        at: DateTime<Utc>,
    ) -> Result<()> {
        Cache::finish_day(self, day, range, ids, at)
    }
}

/// Where the sync stands on the current link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncPhase {
    /// Not live.
    Off,
    /// A call is to be made (when a token is at hand).
    Want,
    /// Call `id` is in flight.
    Calling(u64),
    /// Caught up; live events apply directly.
    Done,
}

/// Where filling the days that came into the window stands.
#[derive(Debug, Clone, PartialEq)]
enum Fill {
    Idle,
    /// Call `id` fetches `from..=to`; done, the cache holds `then`.
    Calling {
        id: u64,
        from: NaiveDate,
        to: NaiveDate,
        then: SyncWindow,
    },
    /// A fetch failed; try again then.
    Wait(Instant),
}

/// Where the outbox stands.
#[derive(Debug, Clone, PartialEq)]
enum Flush {
    Idle,
    /// Entry `n` was sent as call `id`.
    Sending {
        id: u64,
        entry: Box<OutboxEntry>,
        request: Request,
        auth_retried: bool,
    },
    /// Entry `n` waits for a token to be sent with (after a `401`, its one
    /// retry is this one).
    AwaitToken {
        entry: Box<OutboxEntry>,
        request: Request,
        auth_retried: bool,
    },
    /// Try again at this time.
    Wait(Instant),
}

/// The desk's state. See the module doc for the contract.
pub struct DeskCore<S: DeskStore> {
    store: S,
    session: Session,
    presence: OwnPresence,
    typing: TypingThrottle,
    remote_typing: RemoteTyping,
    viewing: Option<String>,
    focus: Focus,
    policy: Policy,
    sync: SyncPhase,
    /// The next sync call is a snapshot, whatever the cache holds.
    snapshot_next: bool,
    /// The current sync call was already retried after a `401`.
    sync_auth_retried: bool,
    /// Sync rounds that went wrong on this link.
    sync_failures: u32,
    /// Notifications decided during the replay under way, shown at its end.
    replayed: Vec<OsNotification>,
    /// Live events that arrived during the sync.
    held: Vec<Envelope>,
    held_overflow: bool,
    flush: Flush,
    next_id: u64,
    out: VecDeque<DeskOut>,
    /// The clinic (zone, window) as the cache knows it, and the clinic day
    /// last seen in its zone.
    tenant: Option<Tenant>,
    zone: Tz,
    day: NaiveDate,
    /// Eviction of the days that left the window failed; try again then.
    evict_retry_at: Option<Instant>,
    /// Fetching the days that came into the window.
    fill: Fill,
    /// The day on screen, when outside the window: watched and fetched.
    on_screen: OnScreen,
    /// Older-message reads in flight: call id → thread.
    older: HashMap<u64, String>,
    /// The token each call in flight carries (a `401` forgets only that one).
    tokens_used: HashMap<u64, String>,
    /// The call whose answer is being handled.
    answering: u64,
    /// Merges a thread's messages (and arrivals) into one notification.
    coalescer: Coalescer,
    /// The shared PC's lock.
    lock: ScreenLock,
    /// The last time handed in (deadlines on the wall clock are placed on
    /// the monotonic one from it).
    now: Now,
}

impl<S: DeskStore> DeskCore<S> {
    /// A desk over `store`, offline until [`DeskCore::start`].
    pub fn new(store: S, config: SessionConfig, rng: StdRng, now: Now) -> DeskCore<S> {
        let me = store.me().ok().flatten().unwrap_or_default();
        let tenant = store.tenant().ok().flatten();
        let store_tenant = tenant.clone();
        let zone = tenant.as_ref().map_or(Tz::UTC, zone_of);
        let mut core = DeskCore {
            session: Session::new(config, rng, now),
            presence: OwnPresence::new(now.mono),
            typing: TypingThrottle::default(),
            remote_typing: RemoteTyping::default(),
            viewing: None,
            focus: Focus::default(),
            policy: Policy::new(&me),
            sync: SyncPhase::Off,
            snapshot_next: false,
            sync_auth_retried: false,
            sync_failures: 0,
            replayed: Vec::new(),
            held: Vec::new(),
            held_overflow: false,
            flush: Flush::Idle,
            next_id: 0,
            out: VecDeque::new(),
            store,
            tenant,
            zone,
            day: clinic_day(now, zone),
            evict_retry_at: None,
            fill: Fill::Idle,
            on_screen: OnScreen::default(),
            older: HashMap::new(),
            tokens_used: HashMap::new(),
            answering: 0,
            coalescer: Coalescer::default(),
            lock: ScreenLock::new(tenant_lock_after(store_tenant.as_ref()), now.mono),
            now,
        };
        core.refresh_names();
        core.publish_outbox();
        core
    }

    /// The cache.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Swaps the cache for another (logout closes it before wiping the file).
    pub fn replace_store(&mut self, store: S) -> S {
        std::mem::replace(&mut self.store, store)
    }

    /// The connection state.
    pub fn state(&self) -> ConnState {
        self.session.state()
    }

    /// Whether live and caught up with the server.
    pub fn is_synced(&self) -> bool {
        self.session.is_live() && self.sync == SyncPhase::Done
    }

    /// A token from sign-in, so the first connect needs no refresh.
    pub fn set_grant(&mut self, grant: Grant, now: Now) {
        self.session.set_grant(grant, now);
    }

    /// Starts connecting (signed in).
    pub fn start(&mut self, now: Now) {
        self.session.start(now);
        self.settle(now);
    }

    /// Shows the desk as signed out without trying (no stored session).
    pub fn not_signed_in(&mut self) {
        self.update(Update::Connection {
            state: ConnState::SignedOut,
            detail: "not signed in".into(),
        });
    }

    /// Stops: the app quits, or the user signs out.
    pub fn stop(&mut self, sign_out: bool, now: Now) {
        self.session.stop(sign_out, now);
        self.settle(now);
    }

    /// Reconnect now (network came back, machine woke up).
    pub fn retry_now(&mut self, now: Now) {
        self.session.retry_now(now);
        self.settle(now);
    }

    /// Queues a desk action: it is stored (pending) when this returns, and
    /// sent when live and synced.
    pub fn act(&mut self, action: DeskAction, now: Now) -> Result<OutboxEntry> {
        let entry = self.store.outbox_push(&action, now.utc())?;
        self.publish_outbox();
        if matches!(action, DeskAction::SendMessage { .. })
            && let Some(thread) = self.typing.stop()
        {
            self.emit_typing(thread, false);
        }
        self.settle(now);
        Ok(entry)
    }

    /// Goes on with a conflicted or refused action by sending `action`
    /// instead (another slot for a booking that met one taken, the
    /// current version for a change that met another): same place in the
    /// outbox, a fresh idempotency key.
    pub fn resend(&mut self, n: i64, action: DeskAction, now: Now) -> Result<()> {
        self.store.outbox_resend(n, &action)?;
        self.publish_outbox();
        self.settle(now);
        Ok(())
    }

    /// The user typed in (`typing: true`) or left/sent (`false`) a thread.
    pub fn typing(&mut self, thread: &str, typing: bool, now: Now) {
        self.presence.active(now.mono);
        if typing {
            if self.typing.keystroke(thread, now.mono) {
                self.emit_typing(thread.to_owned(), true);
            }
        } else if let Some(t) = self.typing.stop() {
            self.emit_typing(t, false);
        }
        self.announce_presence(now);
    }

    /// Turns do-not-disturb on or off.
    pub fn set_dnd(&mut self, dnd: bool, now: Now) {
        self.presence.set_dnd(dnd);
        self.announce_presence(now);
    }

    /// The user did something (resets the away timer and the lock's).
    pub fn activity(&mut self, now: Now) {
        self.presence.active(now.mono);
        self.lock.input(now.mono);
        self.announce_presence(now);
    }

    /// Why the desk is locked, if it is.
    pub fn locked(&self) -> Option<LockReason> {
        self.lock.locked()
    }

    /// Locks the desk now (`Asked`: the shortcut, the tray; `Started`: the
    /// app opened on a stored sign-in).
    pub fn lock_screen(&mut self, reason: LockReason) {
        if self.lock.lock(reason) {
            self.on_locked(reason);
        }
    }

    /// Unlocks the desk; call only once the user's password was checked.
    pub fn unlock_screen(&mut self, now: Now) {
        if self.lock.unlock(now.mono) {
            self.presence.active(now.mono);
            self.update(Update::Unlocked);
            self.announce_presence(now);
        }
    }

    fn on_locked(&mut self, reason: LockReason) {
        // Nobody is looking at a patient or a conversation any more.
        self.viewing(None);
        self.update(Update::Locked { reason });
    }

    /// The patient whose record is open, or none.
    pub fn viewing(&mut self, patient: Option<String>) {
        if patient != self.viewing {
            self.viewing = patient.clone();
            self.session
                .emit(ephemeral::VIEWING, json!(ViewingEmit { patient }));
        }
    }

    /// The user scrolled back in `thread`: read the messages before the
    /// oldest one held ([`Update::OlderMessages`] says when they are in).
    pub fn load_older(&mut self, thread: &str, now: Now) {
        if self.older.values().any(|t| t == thread) {
            return; // already on its way
        }
        let before = match self.store.oldest_message(thread) {
            Ok(b) => b,
            Err(e) => return self.warn(format!("could not read the cache: {e}")),
        };
        if !self.session.is_live() {
            return self.warn("offline: earlier messages load once the desk is back".into());
        }
        let Some(token) = self.token(now) else {
            return self.warn("renewing the session: scroll back again in a moment".into());
        };
        let call = DeskCall::OlderMessages {
            thread: thread.to_owned(),
            before,
        };
        let id = self.call(token, call);
        self.older.insert(id, thread.to_owned());
    }

    /// The day the schedule shows (`None`: no schedule on screen). A day
    /// outside the sync window is watched and fetched while the desk is
    /// live ([`Update::DayFetched`] says when it is in).
    pub fn show_day(&mut self, day: Option<NaiveDate>, now: Now) {
        self.on_screen.show(day);
        self.settle(now);
    }

    /// What the window shows (for the notification policy).
    pub fn focus(&mut self, focus: Focus) {
        self.coalescer.focused(&focus);
        self.focus = focus;
    }

    /// The answer to [`DeskOut::Call`] `id`.
    pub fn handle_answer(&mut self, id: u64, answer: DeskAnswer, now: Now) {
        self.answering = id;
        match answer {
            DeskAnswer::Snapshot(a) if self.sync == SyncPhase::Calling(id) => {
                self.on_snapshot(a, now)
            }
            DeskAnswer::Events(a) if self.sync == SyncPhase::Calling(id) => self.on_events(a, now),
            DeskAnswer::Sent(outcome) => {
                if matches!(&self.flush, Flush::Sending { id: sent, .. } if *sent == id) {
                    self.on_sent(outcome, now);
                }
            }
            DeskAnswer::OlderMessages(a) => {
                if let Some(thread) = self.older.remove(&id) {
                    self.on_older(thread, a);
                }
            }
            DeskAnswer::Appointments(a) => {
                if let Fill::Calling {
                    id: asked,
                    from,
                    to,
                    then,
                } = self.fill
                    && asked == id
                {
                    self.on_days(a, (from, to), then, now);
                } else if let Some(f) = self.on_screen.answer(id) {
                    self.on_screen_page(f, a, now);
                }
            }
            _ => {} // an answer for a link that is gone
        }
        self.tokens_used.remove(&id);
        self.settle(now);
    }

    // ---- internals ----

    fn update(&mut self, u: Update) {
        self.out.push_back(DeskOut::Update(u));
    }

    fn warn(&mut self, message: String) {
        tracing::warn!("{message}");
        self.update(Update::Warning { message });
    }

    fn call(&mut self, token: String, call: DeskCall) -> u64 {
        self.next_id += 1;
        self.tokens_used.insert(self.next_id, token.clone());
        self.out.push_back(DeskOut::Call {
            id: self.next_id,
            token,
            call,
        });
        self.next_id
    }

    /// Call `id` was refused `401`: the token it carried is not to be used
    /// again (a newer one granted meanwhile is kept).
    fn refused_token(&mut self, id: u64) {
        match self.tokens_used.get(&id) {
            Some(t) => {
                let t = t.clone();
                self.session.forget_token_if(&t);
            }
            None => self.session.forget_token(),
        }
    }

    /// A fresh token, or `None` after asking the session for one (the work
    /// waiting for it runs again when the grant arrives).
    /// An access token for a lookup the screen waits on, when live (none
    /// otherwise: the lookup answers from the cache).
    pub fn lookup_token(&mut self, now: Now) -> Option<String> {
        if !self.session.is_live() {
            return None;
        }
        self.token(now)
    }

    fn token(&mut self, now: Now) -> Option<String> {
        match self.session.token(now) {
            Some(t) => Some(t.to_owned()),
            None => {
                self.session.request_token(false);
                None
            }
        }
    }

    fn publish_outbox(&mut self) {
        match self.store.outbox_counts() {
            Ok((pending, problems)) => self.update(Update::Outbox { pending, problems }),
            Err(e) => self.warn(format!("outbox unreadable: {e}")),
        }
    }

    fn refresh_names(&mut self) {
        match self.store.user_names() {
            Ok(names) => self.policy.set_names(names),
            Err(e) => self.warn(format!("could not read staff names from the cache: {e}")),
        }
    }

    fn emit_typing(&mut self, thread: String, typing: bool) {
        self.session
            .emit(ephemeral::TYPING, json!(TypingEmit { thread, typing }));
    }

    fn announce_presence(&mut self, now: Now) {
        if !self.session.is_live() {
            return;
        }
        if let Some(state) = self.presence.to_announce(now.mono) {
            self.session
                .emit(ephemeral::PRESENCE, json!(PresenceEmit { state }));
        }
    }

    /// A cache write failed while syncing: say so, and give this link up so
    /// the backoff (which only resets once synced) paces the next attempt.
    fn sync_write_failed(&mut self, what: &str, e: EngineError, now: Now) {
        self.warn(format!(
            "{what}: {e}; the desk will try again when the cache can be written"
        ));
        self.session
            .lose("the local cache could not be written", now);
    }

    /// Handles everything the session reported, then moves sync and outbox
    /// on, until nothing more happens.
    fn settle(&mut self, now: Now) {
        self.now = now;
        self.check_day(now);
        loop {
            while let Some(ev) = self.session.poll_event() {
                self.session_event(ev, now);
            }
            self.advance_sync(now);
            self.advance_flush(now);
            self.advance_fill(now);
            self.advance_on_screen(now);
            // What moving on did to the session (a link given up) is
            // handled now, not at the next input.
            if !self.session.has_events() {
                break;
            }
        }
    }

    fn session_event(&mut self, ev: SessionEvent, now: Now) {
        match ev {
            SessionEvent::State { state, detail } => {
                self.update(Update::Connection { state, detail })
            }
            SessionEvent::Live => {
                self.sync = SyncPhase::Want;
                self.sync_failures = 0;
                self.sync_auth_retried = false;
                self.presence.reset_announced();
                self.announce_presence(now);
                // Always say what is open now (even nothing): the server may
                // still hold what we had open before the connection dropped.
                let patient = self.viewing.clone();
                self.session
                    .emit(ephemeral::VIEWING, json!(ViewingEmit { patient }));
            }
            SessionEvent::Down => {
                self.sync = SyncPhase::Off;
                self.held.clear();
                self.held_overflow = false;
                self.show_replayed();
                if matches!(self.flush, Flush::Sending { .. } | Flush::AwaitToken { .. }) {
                    self.flush = Flush::Idle;
                }
                if matches!(self.fill, Fill::Calling { .. }) {
                    self.fill = Fill::Idle;
                }
                self.on_screen.link_down();
                // Who is here is re-sent by the server on the next connect.
                if let Err(e) = self.store.clear_presence() {
                    self.warn(format!("could not clear presence in the cache: {e}"));
                }
            }
            SessionEvent::Event { name, data } => self.server_event(&name, data, now),
            SessionEvent::Ack { args } => {
                if let Some(Ok(ack)) = args
                    .into_iter()
                    .next()
                    .map(serde_json::from_value::<EmitAck>)
                    && !ack.ok
                {
                    self.warn(format!(
                        "server refused a signal: {}",
                        ack.error.unwrap_or_default()
                    ));
                }
            }
            SessionEvent::GrantFailed { refused, reason } => {
                if refused {
                    return; // the session signs out
                }
                if self.sync != SyncPhase::Done {
                    self.session
                        .lose(&format!("could not refresh the session ({reason})"), now);
                    return;
                }
                // Whatever waited for the token waits a while before asking
                // again, or a server that fails every refresh would be asked
                // again at once, over and over.
                if matches!(self.flush, Flush::Idle | Flush::AwaitToken { .. }) {
                    self.flush = Flush::Wait(now.mono + OUTBOX_RETRY);
                }
                if self.fill == Fill::Idle {
                    self.fill = Fill::Wait(now.mono + FILL_RETRY);
                }
            }
        }
    }

    fn server_event(&mut self, name: &str, data: Value, now: Now) {
        match name {
            ephemeral::TYPING => {
                if let Ok(t) = serde_json::from_value::<TypingEvent>(data)
                    && self
                        .remote_typing
                        .signal(&t.thread, &t.user, t.typing, now.mono)
                {
                    self.update(Update::Typing {
                        thread: t.thread,
                        user: t.user,
                        typing: t.typing,
                    });
                }
            }
            ephemeral::PRESENCE => {
                if let Ok(p) = serde_json::from_value::<Presence>(data) {
                    if let Err(e) = self.store.put_presence(&p) {
                        self.warn(format!("could not keep presence in the cache: {e}"));
                    }
                    self.update(Update::Presence { presence: p });
                }
            }
            _ => match serde_json::from_value::<Envelope>(data) {
                Ok(env) => self.live_event(env, now),
                Err(e) => tracing::debug!("event `{name}` is not an envelope: {e}"),
            },
        }
    }

    /// A live durable event: applied if next, skipped if old, replay on a
    /// gap; held while a sync is under way.
    fn live_event(&mut self, env: Envelope, now: Now) {
        if self.sync != SyncPhase::Done {
            if self.held.len() < HOLD_LIMIT {
                self.held.push(env);
            } else {
                self.held_overflow = true;
            }
            return;
        }
        self.apply_live(std::slice::from_ref(&env), now);
    }

    fn apply_live(&mut self, events: &[Envelope], now: Now) {
        match self.store.apply_events(events) {
            Ok(applied) => {
                let gap = applied.gap.is_some();
                for n in self.after_apply(applied.applied) {
                    self.notify(n);
                }
                if gap {
                    self.sync = SyncPhase::Want;
                }
            }
            Err(e) => {
                let first = events.first().map_or(0, |e| e.seq);
                self.sync = SyncPhase::Want;
                self.sync_write_failed(&format!("could not apply event {first}"), e, now);
            }
        }
    }

    /// Publishes [`Update::DayChanged`] when the clinic's day has turned,
    /// and deletes the days that left the sync window with it.
    fn check_day(&mut self, now: Now) {
        let today = clinic_day(now, self.zone);
        if today != self.day {
            self.day = today;
            self.update(Update::DayChanged { day: today });
            self.evict_old_days(now);
        } else if self.evict_retry_at.is_some_and(|t| t <= now.mono) {
            self.evict_old_days(now);
        }
    }

    /// Deletes appointments before the window (and the patients only they
    /// named): what left the window is deleted from the cache, not hidden.
    fn evict_old_days(&mut self, now: Now) {
        self.evict_retry_at = None;
        let Some(tenant) = &self.tenant else {
            return; // no snapshot yet: nothing cached to drop
        };
        let window = SyncWindow::for_tenant(tenant, now.utc());
        let (start, _) = window.instants(self.zone);
        match self.store.evict_before(start, window.from) {
            Ok(0) => {}
            Ok(n) => tracing::info!("{n} appointments left the sync window and were deleted"),
            Err(e) => {
                self.warn(format!(
                    "could not delete the days that left the sync window ({e}); trying again in a minute"
                ));
                self.evict_retry_at = Some(now.mono + EVICT_RETRY);
            }
        }
    }

    /// The clinic's next midnight, on the monotonic clock.
    fn next_midnight(&self) -> Instant {
        let tomorrow = self.day.succ_opt().unwrap_or(self.day);
        let at = self
            .zone
            .from_local_datetime(&tomorrow.and_time(NaiveTime::MIN))
            .earliest()
            .map(|t| SystemTime::from(t.with_timezone(&Utc)))
            .unwrap_or(self.now.wall + Duration::from_secs(3600));
        self.now.mono_at(at)
    }

    fn notify(&mut self, n: OsNotification) {
        if let Some(n) = self.coalescer.coalesce(n, self.now.mono) {
            self.raise(n);
        }
    }

    /// Hands a notification to the OS; while locked, without its details.
    fn raise(&mut self, n: OsNotification) {
        let n = if self.lock.locked().is_some() {
            n.hidden()
        } else {
            n
        };
        self.out.push_back(DeskOut::Notify(n));
    }

    fn show_replayed(&mut self) {
        for n in summarize(std::mem::take(&mut self.replayed)) {
            self.notify(n);
        }
    }

    /// Publishes applied events and returns the notifications they call for.
    fn after_apply(&mut self, applied: Vec<Envelope>) -> Vec<OsNotification> {
        let dnd = self.presence.dnd();
        // A locked screen shows no conversation, whatever was open before.
        let focus = match self.lock.locked() {
            Some(_) => Focus::default(),
            None => self.focus.clone(),
        };
        let mut out = Vec::new();
        for env in applied {
            let change = Change::of(&env);
            match &change {
                Change::Message(m)
                    if self.remote_typing.message_from(&m.thread_id, &m.author_id) =>
                {
                    self.update(Update::Typing {
                        thread: m.thread_id.clone(),
                        user: m.author_id.clone(),
                        typing: false,
                    });
                }
                Change::Clinic(t) => self.clinic_changed(t.clone()),
                Change::Appointment(a) => {
                    // One that arrived live on a day being fetched is the
                    // day's too, though the fetch (begun before) may not list it.
                    let day = frontdesk_protocol::window::clinic_day(a.start, self.zone);
                    self.on_screen.saw_live(day, &a.id);
                }
                _ => {}
            }
            if let Some(n) = self.policy.decide(&env, &focus, dnd) {
                out.push(n);
            }
            self.update(Update::Applied {
                change,
                seq: env.seq,
                event_type: env.kind,
                actor: env.actor,
                at: env.at,
            });
        }
        out
    }

    /// The clinic's settings changed: a new lock time applies at once; a
    /// new sync window needs a snapshot (what the desk holds was cut to the
    /// old one).
    fn clinic_changed(&mut self, t: Tenant) {
        self.lock.set_idle_after(lock_after(&t));
        let window_moved = self.tenant.as_ref().is_none_or(|old| {
            (old.window_days_back, old.window_days_ahead)
                != (t.window_days_back, t.window_days_ahead)
        });
        self.tenant = Some(t);
        if window_moved {
            self.snapshot_next = true;
            self.sync = SyncPhase::Want;
        }
    }

    fn advance_sync(&mut self, now: Now) {
        if self.sync != SyncPhase::Want || !self.session.is_live() {
            return;
        }
        let position = self
            .store
            .last_seq()
            .and_then(|seq| Ok((seq, self.store.last_event_id()?)));
        let (last, after_id) = match position {
            Ok(p) => p,
            Err(e) => return self.sync_write_failed("could not read the cache", e, now),
        };
        let Some(token) = self.token(now) else {
            return;
        };
        let call = match last {
            Some(after) if !self.snapshot_next => DeskCall::Events {
                after,
                after_id,
                limit: REPLAY_PAGE,
            },
            _ => DeskCall::Snapshot,
        };
        self.sync = SyncPhase::Calling(self.call(token, call));
    }

    /// A sync round went wrong in a way a snapshot can fix; after
    /// [`SYNC_ATTEMPTS`] the link is dropped instead.
    fn sync_again(&mut self, snapshot: bool, why: String, now: Now) {
        self.sync_failures += 1;
        self.warn(why);
        if self.sync_failures >= SYNC_ATTEMPTS {
            self.show_replayed();
            self.session.lose("could not catch up with the server", now);
            return;
        }
        self.snapshot_next |= snapshot;
        self.sync = SyncPhase::Want;
    }

    /// A sync call failed outright: renew the token once after a `401`, else
    /// drop the link (the supervisor reconnects with backoff).
    fn sync_call_failed(&mut self, e: CallError, now: Now) {
        match e {
            CallError::Unauthorized if !self.sync_auth_retried => {
                self.sync_auth_retried = true;
                self.refused_token(self.answering);
                self.sync = SyncPhase::Want;
            }
            CallError::Unauthorized => {
                self.show_replayed();
                self.session
                    .lose("the server refused the session's token twice", now);
            }
            CallError::Failed(why) => {
                self.warn(format!("sync failed: {why}"));
                self.show_replayed();
                self.session.lose("could not catch up with the server", now);
            }
        }
    }

    fn on_events(&mut self, answer: std::result::Result<Replay, CallError>, now: Now) {
        let page = match answer {
            Ok(Replay::Page(page)) => page,
            Ok(Replay::Gone) => {
                self.warn(
                    "the server no longer has the events this desk needs (pruned, or its \
                     database was restored from a backup); taking a snapshot"
                        .into(),
                );
                self.snapshot_next = true;
                self.sync = SyncPhase::Want;
                return;
            }
            Err(e) => return self.sync_call_failed(e, now),
        };
        self.sync_auth_retried = false;
        let last = match self.store.last_seq() {
            Ok(l) => l.unwrap_or(0),
            Err(e) => return self.sync_write_failed("could not read the cache", e, now),
        };
        if page.latest_seq < last {
            // Its history is behind ours: the server's database was restored
            // from a backup. What we hold may never have happened there.
            return self.sync_again(
                true,
                format!(
                    "the server's history ends at {} but this desk has applied up to {last} \
                     (was the server restored from a backup?); taking a snapshot",
                    page.latest_seq
                ),
                now,
            );
        }
        let applied = match self.store.apply_events(&page.events) {
            Ok(a) => a,
            Err(e) => return self.sync_write_failed("could not apply the replay", e, now),
        };
        let done = page.events.is_empty()
            || applied
                .applied
                .last()
                .is_none_or(|e| e.seq >= page.latest_seq);
        let gap = applied.gap;
        // What was applied is published even if the page then skips.
        let shown = self.after_apply(applied.applied);
        self.replayed.extend(shown);
        if let Some((expected, got)) = gap {
            // The server's own history skipped (pruned under us?): only a
            // snapshot can be trusted now.
            return self.sync_again(
                true,
                format!("replay skipped from {expected} to {got}; taking a snapshot"),
                now,
            );
        }
        if done {
            self.finish_sync(now);
        } else {
            self.sync = SyncPhase::Want;
        }
    }

    fn on_snapshot(&mut self, answer: std::result::Result<Box<Snapshot>, CallError>, now: Now) {
        let snap = match answer {
            Ok(s) => s,
            Err(e) => return self.sync_call_failed(e, now),
        };
        self.sync_auth_retried = false;
        if let Err(e) = self.store.replace_with_snapshot(&snap, now.utc()) {
            return self.sync_write_failed("could not store the snapshot", e, now);
        }
        self.snapshot_next = false;
        let zone = zone_of(&snap.tenant);
        self.tenant = Some(snap.tenant.clone());
        self.lock.set_idle_after(lock_after(&snap.tenant));
        if zone != self.zone {
            // Learning the clinic's zone is not its day turning.
            self.zone = zone;
            self.day = clinic_day(now, zone);
        }
        self.policy = Policy::new(&snap.me.id);
        self.refresh_names();
        self.update(Update::Resynced { seq: snap.seq });
        self.finish_sync(now);
    }

    fn finish_sync(&mut self, now: Now) {
        if let Err(e) = self.store.mark_synced(now.utc()) {
            return self.sync_write_failed("could not record the sync time", e, now);
        }
        self.show_replayed();
        self.sync = SyncPhase::Done;
        self.session.healthy(now);
        let seq = self.store.last_seq().ok().flatten().unwrap_or(0);
        self.update(Update::Synced { seq, at: now.utc() });
        let held = std::mem::take(&mut self.held);
        if !held.is_empty() {
            self.apply_live(&held, now);
        }
        if std::mem::take(&mut self.held_overflow) {
            self.sync = SyncPhase::Want;
        }
    }

    /// Fetches the days of the sync window the cache does not hold: the rest
    /// of the window after a snapshot (which holds today), the days that came
    /// into it at a midnight (perhaps while offline). The window moves
    /// without a new snapshot.
    fn advance_fill(&mut self, now: Now) {
        match self.fill {
            Fill::Calling { .. } => return,
            Fill::Wait(at) if at > now.mono => return,
            _ => self.fill = Fill::Idle,
        }
        if !self.is_synced() {
            return;
        }
        let Some(tenant) = &self.tenant else {
            return;
        };
        let window = SyncWindow::for_tenant(tenant, now.utc());
        let held = match self.store.covered() {
            Ok(Some(held)) => held,
            Ok(None) => return, // a cache from before windows: its next snapshot says
            Err(e) => {
                self.warn(format!("could not read the cache: {e}"));
                self.fill = Fill::Wait(now.mono + FILL_RETRY);
                return;
            }
        };
        let day_after = |d: NaiveDate| d.succ_opt().unwrap_or(d);
        let day_before = |d: NaiveDate| d.pred_opt().unwrap_or(d);
        if held.to < window.to {
            // Ahead first: the days a desk books into.
            let from = day_after(held.to).max(window.from);
            let then = SyncWindow {
                from: held.from.max(window.from).min(from),
                to: window.to,
            };
            self.fetch_days((from, window.to), then, None, now);
        } else if held.from > window.from {
            let to = day_before(held.from).min(window.to);
            let then = SyncWindow {
                from: window.from,
                to: held.to,
            };
            self.fetch_days((window.from, to), then, None, now);
        }
    }

    fn fetch_days(
        &mut self,
        (from, to): (NaiveDate, NaiveDate),
        then: SyncWindow,
        cursor: Option<String>,
        now: Now,
    ) {
        let Some(token) = self.token(now) else {
            return; // asked for one; the grant brings us back here
        };
        let id = self.call(token, DeskCall::Appointments { from, to, cursor });
        self.fill = Fill::Calling { id, from, to, then };
    }

    fn on_days(
        &mut self,
        answer: std::result::Result<Box<AppointmentsPage>, CallError>,
        (from, to): (NaiveDate, NaiveDate),
        then: SyncWindow,
        now: Now,
    ) {
        self.fill = Fill::Idle;
        let page = match answer {
            Ok(page) => page,
            Err(CallError::Unauthorized) => {
                // A fresh token next time, not at once: a server that keeps
                // refusing this call must not be asked in a loop.
                self.refused_token(self.answering);
                self.fill = Fill::Wait(now.mono + OUTBOX_RETRY);
                return;
            }
            Err(CallError::Failed(why)) => {
                self.warn(format!("could not fetch the days {from}..{to}: {why}"));
                self.fill = Fill::Wait(now.mono + FILL_RETRY);
                return;
            }
        };
        let done = page.next.is_none();
        if let Err(e) = self.store.store_fetched(&page, done.then_some(then)) {
            self.warn(format!("could not store the days {from}..{to}: {e}"));
            self.fill = Fill::Wait(now.mono + FILL_RETRY);
            return;
        }
        match page.next {
            Some(next) => self.fetch_days((from, to), then, Some(next), now),
            None => self.update(Update::WindowFilled { from, to }),
        }
    }

    /// Watches and fetches the day on screen when it is outside the window.
    fn advance_on_screen(&mut self, now: Now) {
        let window = self
            .tenant
            .as_ref()
            .map(|t| SyncWindow::for_tenant(t, now.utc()));
        let synced = self.is_synced();
        while let Some(step) = self.on_screen.next(window, synced, now.mono) {
            match step {
                Step::Watch(days) => {
                    // Synced means live, so this is sent; a refused watch
                    // comes back as an ack warning.
                    self.session
                        .emit(ephemeral::WATCH, json!(WatchEmit { days }));
                }
                Step::Fetch(day) => {
                    let fetching = Fetching {
                        id: 0,
                        day,
                        ids: Vec::new(),
                        started: now.utc(),
                    };
                    self.fetch_on_screen(fetching, None, now);
                    return;
                }
            }
        }
    }

    fn fetch_on_screen(&mut self, mut f: Fetching, cursor: Option<String>, now: Now) {
        let Some(token) = self.token(now) else {
            // Asked for one; the grant brings us back (from the start).
            return self.on_screen.failed(f.day, now.mono);
        };
        let call = DeskCall::Appointments {
            from: f.day,
            to: f.day,
            cursor,
        };
        f.id = self.call(token, call);
        self.on_screen.calling(f);
    }

    fn on_screen_page(
        &mut self,
        mut f: Fetching,
        answer: std::result::Result<Box<AppointmentsPage>, CallError>,
        now: Now,
    ) {
        let day = f.day;
        let page = match answer {
            Ok(page) => page,
            Err(CallError::Unauthorized) => {
                self.refused_token(self.answering);
                return self.on_screen.failed(day, now.mono + OUTBOX_RETRY);
            }
            Err(CallError::Failed(why)) => {
                self.warn(format!("could not fetch {day}: {why}"));
                return self.on_screen.failed(day, now.mono + FILL_RETRY);
            }
        };
        let stored = self.store.store_fetched(&page, None).and_then(|()| {
            f.ids.extend(page.appointments.iter().map(|a| a.id.clone()));
            if page.next.is_some() {
                return Ok(());
            }
            let range = (
                day_start(day, self.zone),
                day_start(day.succ_opt().unwrap_or(day), self.zone),
            );
            self.store.finish_day(day, range, &f.ids, f.started)
        });
        if let Err(e) = stored {
            self.warn(format!("could not keep {day} in the cache: {e}"));
            return self.on_screen.failed(day, now.mono + FILL_RETRY);
        }
        match page.next {
            Some(next) => self.fetch_on_screen(f, Some(next), now),
            None => {
                self.on_screen.fetched(day);
                self.update(Update::DayFetched { day, at: f.started });
            }
        }
    }

    fn on_older(
        &mut self,
        thread: String,
        answer: std::result::Result<Box<MessagesPage>, CallError>,
    ) {
        let page = match answer {
            Ok(p) => p,
            Err(CallError::Unauthorized) => {
                self.refused_token(self.answering);
                return self.warn("the session needed renewing: scroll back again".into());
            }
            Err(CallError::Failed(why)) => {
                return self.warn(format!("could not read earlier messages: {why}"));
            }
        };
        if let Err(e) = self.store.put_messages(&page.messages) {
            return self.warn(format!("could not keep earlier messages: {e}"));
        }
        self.update(Update::OlderMessages {
            thread,
            count: page.messages.len(),
            more: page.more,
        });
    }

    /// Sends the next pending outbox entry, if the desk is live and synced
    /// and nothing is in flight or waiting.
    fn advance_flush(&mut self, now: Now) {
        match &self.flush {
            Flush::Wait(at) if *at <= now.mono => self.flush = Flush::Idle,
            Flush::Idle => {}
            Flush::AwaitToken { .. } => {
                if !self.is_synced() || self.session.token(now).is_none() {
                    return;
                }
                if let Flush::AwaitToken {
                    entry,
                    request,
                    auth_retried,
                } = std::mem::replace(&mut self.flush, Flush::Idle)
                {
                    self.send_entry(entry, request, auth_retried, now);
                }
                return;
            }
            _ => return,
        }
        if !self.is_synced() {
            return;
        }
        loop {
            let entry = match self.store.outbox_next() {
                Ok(Some(e)) => e,
                Ok(None) => return,
                Err(EngineError::OutboxEntryUnreadable { n, why }) => {
                    // Set it aside as refused, visibly, so the rest can go.
                    let why = format!("this action could not be read ({why}); it was not sent");
                    if let Err(e) =
                        self.store
                            .outbox_set_problem(n, OutboxState::Refused, &why, None)
                    {
                        return self.outbox_failed(format!("outbox: {e}"), now);
                    }
                    self.warn(why);
                    self.publish_outbox();
                    continue;
                }
                Err(e) => return self.outbox_failed(format!("outbox unreadable: {e}"), now),
            };
            let request = match entry.action.request() {
                Ok(r) => r,
                Err(e) => {
                    let set = self.store.outbox_set_problem(
                        entry.n,
                        OutboxState::Refused,
                        &e.to_string(),
                        None,
                    );
                    if let Err(e) = set {
                        return self.outbox_failed(format!("outbox: {e}"), now);
                    }
                    self.publish_outbox();
                    continue; // this entry is no longer pending
                }
            };
            if let Err(e) = self.store.outbox_attempted(entry.n) {
                return self.outbox_failed(format!("outbox: {e}"), now);
            }
            return self.send_entry(Box::new(entry), request, false, now);
        }
    }

    /// Sends `entry` as `request` once a token is at hand (else it waits,
    /// idle, for the grant that [`DeskCore::token`] asked for).
    fn send_entry(
        &mut self,
        entry: Box<OutboxEntry>,
        request: Request,
        auth_retried: bool,
        now: Now,
    ) {
        let Some(token) = self.token(now) else {
            // Asked for one; the grant brings us back to send this entry
            // (keeping whether it was already retried after a 401).
            self.flush = Flush::AwaitToken {
                entry,
                request,
                auth_retried,
            };
            return;
        };
        let call = DeskCall::Send {
            request: request.clone(),
            key: entry.key.clone(),
        };
        let id = self.call(token, call);
        self.flush = Flush::Sending {
            id,
            entry,
            request,
            auth_retried,
        };
    }

    /// The outbox could not be read or updated: say so and wait before the
    /// next attempt (never re-read the same entry at once).
    fn outbox_failed(&mut self, why: String, now: Now) {
        self.warn(why);
        self.flush = Flush::Wait(now.mono + OUTBOX_RETRY);
        self.publish_outbox();
    }

    fn on_sent(&mut self, outcome: SendOutcome, now: Now) {
        let Flush::Sending {
            entry,
            request,
            auth_retried,
            ..
        } = std::mem::replace(&mut self.flush, Flush::Idle)
        else {
            return;
        };
        let result = match outcome {
            SendOutcome::Applied(_) => self.store.outbox_done(entry.n),
            SendOutcome::Conflict { current, problem } => {
                let kind = match entry.subject_kind.as_str() {
                    "appointment" => Some(Kind::Appointment),
                    "queue" => Some(Kind::Queue),
                    _ => None,
                };
                let kept = match (kind, &current) {
                    // A retry built from the cache then starts from the server's version.
                    (Some(kind), Some(record)) => self.store.put_current(kind, record).map(|_| ()),
                    _ => Ok(()),
                };
                let both = OutboxProblem {
                    current,
                    ..OutboxProblem::from_answer(&request.body, &problem)
                };
                let why = problem.detail.unwrap_or(problem.title.clone());
                kept.and_then(|()| {
                    self.store
                        .outbox_set_problem(entry.n, OutboxState::Conflict, &why, Some(&both))
                })
            }
            SendOutcome::Refused(problem) => {
                let said = OutboxProblem::from_answer(&request.body, &problem);
                let why = problem.detail.unwrap_or(problem.title);
                self.store
                    .outbox_set_problem(entry.n, OutboxState::Refused, &why, Some(&said))
            }
            SendOutcome::Unauthorized if !auth_retried => {
                // Renew once and send the same entry again.
                self.refused_token(self.answering);
                return self.send_entry(entry, request, true, now);
            }
            SendOutcome::Unauthorized | SendOutcome::Later(_) => {
                self.flush = Flush::Wait(now.mono + OUTBOX_RETRY);
                self.publish_outbox();
                return;
            }
        };
        if let Err(e) = result {
            return self.outbox_failed(format!("outbox: {e}"), now);
        }
        self.publish_outbox();
    }
}

/// The clinic's calendar day at `now` in `zone`.
/// The clinic's idle time before a desk locks (the default before a snapshot).
fn tenant_lock_after(t: Option<&Tenant>) -> Duration {
    t.map_or(LOCK_AFTER, lock_after)
}

fn lock_after(t: &Tenant) -> Duration {
    Duration::from_secs(u64::from(t.lock_after_seconds.max(1)))
}

fn clinic_day(now: Now, zone: Tz) -> NaiveDate {
    now.utc().with_timezone(&zone).date_naive()
}

impl<S: DeskStore + Send + 'static> Core for DeskCore<S> {
    type Out = DeskOut;

    fn session(&self) -> &Session {
        &self.session
    }

    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    fn settle(&mut self, now: Now) {
        DeskCore::settle(self, now);
    }

    fn poll_app(&mut self) -> Option<DeskOut> {
        self.out.pop_front()
    }

    fn on_timeout(&mut self, now: Now) {
        for (thread, user) in self.remote_typing.expire(now.mono) {
            self.update(Update::Typing {
                thread,
                user,
                typing: false,
            });
        }
        self.announce_presence(now);
        for n in self.coalescer.due(now.mono) {
            self.raise(n);
        }
        if self.state() != ConnState::SignedOut && self.lock.tick(now.mono) {
            self.on_locked(LockReason::Idle);
        }
    }

    fn own_timeout(&self) -> Option<Instant> {
        let flush = match &self.flush {
            Flush::Wait(at) => Some(*at),
            _ => None,
        };
        let fill = match &self.fill {
            Fill::Wait(at) => Some(*at),
            _ => None,
        };
        let away = self
            .session
            .is_live()
            .then(|| self.presence.next_change())
            .flatten();
        [
            flush,
            away,
            self.remote_typing.next_expiry(),
            Some(self.next_midnight()),
            self.evict_retry_at,
            fill,
            self.on_screen.deadline(),
            self.coalescer.next_due(),
            (self.state() != ConnState::SignedOut)
                .then(|| self.lock.deadline())
                .flatten(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
