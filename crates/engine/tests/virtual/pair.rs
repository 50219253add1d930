//! A desk core and a [`FakeClinic`] joined by in-memory queues on one
//! virtual clock (quinn-proto's test `Pair`): [`Pair::step`] carries out what
//! the desk asked, delivers one message, or jumps to the next deadline of
//! either side. Loss is injected by flags (`silent` swallows everything both
//! ways, `clinic.reachable = false` refuses everything, `drop_next_event`
//! loses one broadcast), a laptop's sleep by [`Pair::sleep`], a wrong PC
//! clock by `skew`, a full disk by `fail_writes`.
//!
//! The cache is the real SQLCipher [`Cache`] in a temporary folder.

use crate::clinic::{FakeClinic, Frames};
use frontdesk_engine::backoff::Backoff;
use frontdesk_engine::cache::outbox::{DeskAction, OutboxEntry, OutboxProblem, OutboxState};
use frontdesk_engine::cache::{Applied, Cache, CacheKey, Kind};
use frontdesk_engine::clock::Now;
use frontdesk_engine::desk::{CallError, DeskAnswer, DeskCore, DeskOut, DeskStore, Update};
use frontdesk_engine::driver::{Core, Output, WAKE_EVERY};
use frontdesk_engine::error::{EngineError, Result};
use frontdesk_engine::link::LinkLimits;
use frontdesk_engine::notify::OsNotification;
use frontdesk_engine::session::{Grant, GrantError, SessionConfig, SessionOutput, SocketReport};
use frontdesk_engine::supervisor::ConnState;
use frontdesk_protocol::api::Snapshot;
use frontdesk_protocol::envelope::Envelope;
use frontdesk_protocol::records::Presence;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The real cache, whose writes fail while `fail` is set (a full disk).
pub struct FaultyStore {
    pub cache: Cache,
    pub fail: Arc<AtomicBool>,
}

impl FaultyStore {
    fn check(&self) -> Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            Err(EngineError::Io(std::io::Error::other(
                "database or disk is full",
            )))
        } else {
            Ok(())
        }
    }
}

impl DeskStore for FaultyStore {
    fn last_seq(&self) -> Result<Option<u64>> {
        self.cache.last_seq()
    }
    fn last_event_id(&self) -> Result<Option<String>> {
        self.cache.last_event_id()
    }
    fn apply_events(&mut self, events: &[Envelope]) -> Result<Applied> {
        self.check()?;
        self.cache.apply_events(events)
    }
    fn replace_with_snapshot(
        &mut self,
        snap: &Snapshot,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        self.check()?;
        self.cache.replace_with_snapshot(snap, at)
    }
    fn mark_synced(&self, at: chrono::DateTime<chrono::Utc>) -> Result<()> {
        self.check()?;
        self.cache.mark_synced(at)
    }
    fn forget_position(&self) -> Result<()> {
        self.check()?;
        self.cache.forget_position()
    }
    fn clear_presence(&self) -> Result<()> {
        self.check()?;
        self.cache.clear_presence()
    }
    fn put_presence(&self, p: &Presence) -> Result<()> {
        self.check()?;
        self.cache.put_presence(p)
    }
    fn put_current(&self, kind: Kind, record: &Value) -> Result<bool> {
        self.check()?;
        self.cache.put_current(kind, record)
    }
    fn outbox_push(
        &self,
        action: &DeskAction,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<OutboxEntry> {
        self.check()?;
        self.cache.outbox_push(action, at)
    }
    fn outbox_next(&self) -> Result<Option<OutboxEntry>> {
        self.cache.outbox_next()
    }
    fn outbox_attempted(&self, n: i64) -> Result<()> {
        self.check()?;
        self.cache.outbox_attempted(n)
    }
    fn outbox_done(&self, n: i64) -> Result<()> {
        self.check()?;
        self.cache.outbox_done(n)
    }
    fn outbox_set_problem(
        &self,
        n: i64,
        state: OutboxState,
        error: &str,
        conflict: Option<&OutboxProblem>,
    ) -> Result<()> {
        self.check()?;
        self.cache.outbox_set_problem(n, state, error, conflict)
    }
    fn outbox_resend(&self, n: i64, action: &DeskAction) -> Result<()> {
        self.check()?;
        self.cache.outbox_resend(n, action)
    }
    fn outbox_counts(&self) -> Result<(usize, usize)> {
        self.cache.outbox_counts()
    }
    fn user_names(&self) -> Result<HashMap<String, String>> {
        self.cache.user_names()
    }
    fn me(&self) -> Result<Option<String>> {
        self.cache.me()
    }
    fn tenant(&self) -> Result<Option<frontdesk_protocol::records::Tenant>> {
        self.cache.tenant()
    }
    fn evict_before(
        &self,
        start: chrono::DateTime<chrono::Utc>,
        first_day: chrono::NaiveDate,
    ) -> Result<usize> {
        self.check()?;
        self.cache.evict_before(start, first_day)
    }
    fn covered(&self) -> Result<Option<frontdesk_protocol::window::SyncWindow>> {
        self.cache.covered()
    }
    fn oldest_message(&self, thread: &str) -> Result<Option<String>> {
        self.cache.oldest_message(thread)
    }
    fn put_messages(&mut self, messages: &[frontdesk_protocol::records::Message]) -> Result<()> {
        self.check()?;
        self.cache.put_messages(messages)
    }
    fn store_fetched(
        &mut self,
        page: &frontdesk_protocol::api::AppointmentsPage,
        covered: Option<frontdesk_protocol::window::SyncWindow>,
    ) -> Result<()> {
        self.check()?;
        self.cache.store_fetched(page, covered)
    }
    fn finish_day(
        &mut self,
        day: chrono::NaiveDate,
        range: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
        ids: &[String],
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        self.check()?;
        self.cache.finish_day(day, range, ids, at)
    }
}

enum Inbox {
    Socket(u64, SocketReport),
    Answer(u64, DeskAnswer),
    Grant(std::result::Result<Grant, GrantError>),
}

/// How long a request hangs on a silent network before it fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The desk and the clinic on one virtual clock.
pub struct Pair {
    pub desk: DeskCore<FaultyStore>,
    pub clinic: FakeClinic,
    /// The refresh token in the desk's keyring.
    pub keyring: Option<String>,
    /// Virtual time since the start (the server's clock runs on it).
    pub t: Duration,
    /// Monotonic time the desk lost to sleep.
    frozen: Duration,
    /// How far the desk's wall clock is ahead of the server's (behind if negative).
    pub skew_secs: i64,
    base_mono: Instant,
    base_wall: SystemTime,
    inbox: VecDeque<Inbox>,
    /// REST calls hanging on a silent network: (when they fail, id, what).
    stalled: Vec<(Duration, u64, DeskAnswer)>,
    /// Everything the desk published, with when.
    pub updates: Vec<(Duration, Update)>,
    pub notified: Vec<OsNotification>,
    /// When the desk opened each socket.
    pub opens: Vec<Duration>,
    /// The network swallows everything, both ways.
    pub silent: bool,
    /// The next broadcast event is lost on its way to the desk.
    pub drop_next_event: bool,
    pub fail_writes: Arc<AtomicBool>,
    /// Holds the cache file for the life of the pair.
    _dir: tempfile::TempDir,
}

impl Pair {
    /// A signed-in desk (refresh token in its keyring) and a clinic with
    /// `tickets` walk-ins already, not yet started.
    pub fn new(seed: u64, tickets: usize) -> Pair {
        Pair::starting_at(seed, tickets, "2026-11-18T09:00:00Z", "UTC")
    }

    /// A pair whose clocks start at `start` (RFC 3339, the server's and, unless
    /// skewed, the desk's) for a clinic in time zone `zone`.
    pub fn starting_at(seed: u64, tickets: usize, start: &str, zone: &str) -> Pair {
        let start: chrono::DateTime<chrono::Utc> = start.parse().expect("an RFC 3339 time");
        let base_wall = SystemTime::from(start);
        let mut clinic = FakeClinic::new(base_wall);
        clinic.time_zone = zone.to_owned();
        for i in 0..tickets {
            clinic.walk_in(&format!("t{i}"));
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let cache = Cache::open(&dir.path().join("desk.db"), &CacheKey::generate()).expect("cache");
        let fail_writes = Arc::new(AtomicBool::new(false));
        let store = FaultyStore {
            cache,
            fail: fail_writes.clone(),
        };
        let base_mono = Instant::now();
        let config = SessionConfig {
            backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(30))
                .with_fast_phase(Duration::from_millis(1500), 40),
            auth: json!({"tenant": "demo"}),
            limits: LinkLimits::default(),
        };
        let now = Now {
            mono: base_mono,
            wall: base_wall,
        };
        let desk = DeskCore::new(store, config, StdRng::seed_from_u64(seed), now);
        let keyring = Some(clinic.login());
        Pair {
            desk,
            clinic,
            keyring,
            t: Duration::ZERO,
            frozen: Duration::ZERO,
            skew_secs: 0,
            base_mono,
            base_wall,
            inbox: VecDeque::new(),
            stalled: Vec::new(),
            updates: Vec::new(),
            notified: Vec::new(),
            opens: Vec::new(),
            silent: false,
            drop_next_event: false,
            fail_writes,
            _dir: dir,
        }
    }

    /// The desk's reading of its clocks now.
    pub fn now(&self) -> Now {
        let wall = self.base_wall + self.t;
        let wall = if self.skew_secs >= 0 {
            wall + Duration::from_secs(self.skew_secs as u64)
        } else {
            wall - Duration::from_secs(self.skew_secs.unsigned_abs())
        };
        Now {
            mono: self.base_mono + self.t - self.frozen,
            wall,
        }
    }

    fn sync_clinic_clock(&mut self) {
        self.clinic.now = self.base_wall + self.t;
    }

    /// Starts the desk.
    pub fn start(&mut self) {
        let now = self.now();
        self.desk.start(now);
    }

    /// Runs `f` on the desk with the time (a command from the UI).
    pub fn with_desk<T>(&mut self, f: impl FnOnce(&mut DeskCore<FaultyStore>, Now) -> T) -> T {
        let now = self.now();
        f(&mut self.desk, now)
    }

    fn deliver(&mut self, frames: Frames) {
        let broadcasts = self.clinic.take_broadcasts();
        if self.silent {
            return;
        }
        let frames = frames.into_iter().chain(broadcasts);
        for (g, f) in frames {
            self.inbox
                .push_back(Inbox::Socket(g, SocketReport::Text(f)));
        }
    }

    /// The server tells this desk's user that patient `name` arrived.
    pub fn tell_me_arrived(&mut self, id: &str, name: &str) {
        self.sync_clinic_clock();
        self.clinic.tell_me_arrived(id, name);
        self.deliver(Vec::new());
    }

    /// An admin changes the clinic's lock time and window.
    pub fn change_clinic(&mut self, lock_after_seconds: u32, window_days_ahead: u32) {
        self.sync_clinic_clock();
        self.clinic
            .change_clinic(lock_after_seconds, window_days_ahead);
        self.deliver(Vec::new());
    }

    /// Whether the desk has said it is locked (and not unlocked since).
    pub fn locked(&self) -> bool {
        self.updates
            .iter()
            .rev()
            .find_map(|(_, u)| match u {
                Update::Locked { .. } => Some(true),
                Update::Unlocked => Some(false),
                _ => None,
            })
            .unwrap_or(false)
    }

    /// Another desk registers a walk-in; the clinic broadcasts it.
    pub fn walk_in(&mut self, id: &str) -> Envelope {
        self.sync_clinic_clock();
        let env = self.clinic.walk_in(id);
        if std::mem::take(&mut self.drop_next_event) {
            self.clinic.take_broadcasts();
            return env;
        }
        self.deliver(Vec::new());
        env
    }

    /// Another desk books or moves appointment `id` to `start`.
    pub fn book(&mut self, id: &str, start: chrono::DateTime<chrono::Utc>) -> Envelope {
        self.sync_clinic_clock();
        let env = self.clinic.book(id, start);
        self.deliver(Vec::new());
        env
    }

    /// Ids of a kind in the desk's cache, sorted.
    pub fn cached(&self, kind: Kind) -> Vec<String> {
        let mut ids: Vec<String> = self
            .desk
            .store()
            .cache
            .list::<Value>(kind)
            .expect("cache readable")
            .into_iter()
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    /// The server's clock now.
    pub fn server_time(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from(self.base_wall + self.t)
    }

    /// An ephemeral event from the clinic to the desk.
    pub fn broadcast(&mut self, name: &str, data: Value) {
        let frames = self.clinic.broadcast(name, data);
        self.deliver(frames);
    }

    /// The laptop sleeps for `d`: its monotonic clock stands still, the wall
    /// clocks run on, and the server drops its sockets meanwhile.
    pub fn sleep(&mut self, d: Duration) {
        self.t += d;
        self.frozen += d;
        self.sync_clinic_clock();
        self.clinic.drop_sockets();
    }

    /// Carries out the desk's outputs and delivers one message; false if
    /// there was nothing to do without time passing.
    fn pump(&mut self) -> bool {
        let mut any = false;
        while let Some(out) = self.desk.poll_output() {
            any = true;
            self.carry_out(out);
        }
        if let Some(item) = self.inbox.pop_front() {
            let now = self.now();
            match item {
                Inbox::Socket(g, r) => self.desk.handle_socket(g, r, now),
                Inbox::Answer(id, a) => self.desk.handle_answer(id, a, now),
                Inbox::Grant(g) => self.desk.handle_grant(g, now),
            }
            any = true;
            // What it did is carried out before anyone looks.
            while let Some(out) = self.desk.poll_output() {
                self.carry_out(out);
            }
        }
        any
    }

    fn carry_out(&mut self, out: Output<DeskOut>) {
        self.sync_clinic_clock();
        match out {
            Output::Session(SessionOutput::Open { generation }) => {
                self.opens.push(self.t);
                if !self.clinic.reachable {
                    self.inbox.push_back(Inbox::Socket(
                        generation,
                        SocketReport::Closed("connection refused".into()),
                    ));
                } else if !self.silent {
                    self.inbox
                        .push_back(Inbox::Socket(generation, SocketReport::Opened));
                    let frames = self.clinic.open(generation);
                    self.deliver(frames);
                }
            }
            Output::Session(SessionOutput::Send { generation, frame }) => {
                if !self.silent {
                    let frames = self.clinic.receive(generation, &frame);
                    self.deliver(frames);
                }
            }
            Output::Session(SessionOutput::Close { generation }) => self.clinic.close(generation),
            Output::Session(SessionOutput::Renew { .. }) => {
                let result = match (&self.keyring, self.silent) {
                    (_, true) => Err(GrantError::Unavailable("timed out".into())),
                    (Some(rt), false) => {
                        let rt = rt.clone();
                        self.clinic.refresh(&rt).map(|(grant, next)| {
                            self.keyring = Some(next);
                            grant
                        })
                    }
                    (None, false) => Err(GrantError::Refused("no stored session".into())),
                };
                self.inbox.push_back(Inbox::Grant(result));
            }
            Output::App(DeskOut::Call { id, token, call }) => {
                if self.silent {
                    let failed = match call {
                        frontdesk_engine::desk::DeskCall::Snapshot => {
                            DeskAnswer::Snapshot(Err(CallError::Failed("timed out".into())))
                        }
                        frontdesk_engine::desk::DeskCall::Events { .. } => {
                            DeskAnswer::Events(Err(CallError::Failed("timed out".into())))
                        }
                        frontdesk_engine::desk::DeskCall::Send { .. } => DeskAnswer::Sent(
                            frontdesk_engine::rest::SendOutcome::Later("timed out".into()),
                        ),
                        frontdesk_engine::desk::DeskCall::Appointments { .. } => {
                            DeskAnswer::Appointments(Err(CallError::Failed("timed out".into())))
                        }
                        frontdesk_engine::desk::DeskCall::OlderMessages { .. } => {
                            DeskAnswer::OlderMessages(Err(CallError::Failed("timed out".into())))
                        }
                    };
                    self.stalled.push((self.t + REQUEST_TIMEOUT, id, failed));
                } else {
                    let answer = self.clinic.answer(&token, &call);
                    self.inbox.push_back(Inbox::Answer(id, answer));
                    // What the call committed reaches the desk's socket after its answer.
                    self.deliver(Vec::new());
                }
            }
            Output::App(DeskOut::Update(u)) => self.updates.push((self.t, u)),
            Output::App(DeskOut::Notify(n)) => self.notified.push(n),
        }
    }

    /// One step: work without time passing if there is any, else a jump to
    /// the next deadline (but not past `until`). False when nothing will
    /// ever happen again.
    pub fn step(&mut self, until: Duration) -> bool {
        if self.pump() {
            return true;
        }
        let now = self.now();
        // As the real driver does: the desk is handed the time at least
        // every WAKE_EVERY, whatever its deadlines (wall-clock checks).
        let desk = self
            .desk
            .poll_timeout()
            .map(|m| m.saturating_duration_since(now.mono).min(WAKE_EVERY))
            .or(Some(WAKE_EVERY))
            .map(|d| self.t + d);
        let clinic = self
            .clinic
            .next_deadline()
            .map(|w| w.duration_since(self.base_wall).unwrap_or_default());
        let stalled = self.stalled.iter().map(|(t, _, _)| *t).min();
        let Some(next) = [desk, clinic, stalled].into_iter().flatten().min() else {
            return false;
        };
        if next > until {
            self.t = self.t.max(until);
            self.sync_clinic_clock();
            return false;
        }
        self.t = self.t.max(next);
        self.sync_clinic_clock();
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stalled)
            .into_iter()
            .partition(|(t, _, _)| *t <= self.t);
        self.stalled = later;
        for (_, id, answer) in due {
            self.inbox.push_back(Inbox::Answer(id, answer));
        }
        let pings = self.clinic.tick();
        self.deliver(pings);
        let now = self.now();
        self.desk.handle_timeout(now);
        true
    }

    /// Steps until `done` holds or `limit` of virtual time has passed;
    /// returns whether `done` held. Panics if the desk does work without
    /// time passing for too long (a loop spinning on something).
    pub fn drive_bounded(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
        let until = self.t + limit;
        let mut same_time = 0u32;
        while self.t <= until {
            if done(self) {
                return true;
            }
            let before = self.t;
            if !self.step(until) {
                return done(self);
            }
            if self.t == before {
                same_time += 1;
                assert!(
                    same_time < 100_000,
                    "the desk kept working without time passing (spinning?) at {:?}",
                    self.t
                );
            } else {
                same_time = 0;
            }
        }
        done(self)
    }

    /// Runs for `d` of virtual time whatever happens.
    pub fn run_for(&mut self, d: Duration) {
        self.drive_bounded(d, |_| false);
    }

    /// The connection state as last published.
    pub fn state(&self) -> ConnState {
        self.desk.state()
    }

    /// Live and caught up.
    pub fn synced(&self) -> bool {
        self.desk.is_synced()
    }

    /// Ticket ids in the desk's cache, sorted.
    pub fn cached_tickets(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .desk
            .store()
            .cache
            .list::<Value>(Kind::Queue)
            .expect("cache readable")
            .into_iter()
            .filter_map(|v| v["id"].as_str().map(str::to_owned))
            .collect();
        ids.sort();
        ids
    }

    /// The seq the desk has applied.
    pub fn last_seq(&self) -> Option<u64> {
        self.desk.store().cache.last_seq().expect("cache readable")
    }

    /// Published updates matching `f`, with when.
    pub fn updates_where(&self, f: impl Fn(&Update) -> bool) -> Vec<Duration> {
        self.updates
            .iter()
            .filter(|(_, u)| f(u))
            .map(|(t, _)| *t)
            .collect()
    }

    /// Presence states the desk announced, in order.
    pub fn announced_presence(&self) -> Vec<String> {
        self.clinic
            .emits
            .iter()
            .filter(|(n, _)| n == "presence")
            .filter_map(|(_, d)| d["state"].as_str().map(str::to_owned))
            .collect()
    }
}
