//! The engine: one task that owns the cache, the supervisor and the link, and
//! a cloneable [`EngineHandle`] to act on it and watch it.
//!
//! Everything that decides lives in the pure modules (`supervisor`, `link`,
//! `cache`, `activity`, `notify`); this file wires them to tokio, the
//! WebSocket and REST, and is deliberately just plumbing.

use crate::activity::{OwnPresence, RemoteTyping, TypingThrottle};
use crate::backoff::Backoff;
use crate::cache::outbox::{DeskAction, OutboxEntry, OutboxState};
use crate::cache::{Cache, CacheKey, Kind};
use crate::connection::{self, LinkHandle, LinkIo, Tls};
use crate::error::{EngineError, Result};
use crate::link::{Link, LinkEvent, LinkLimits};
use crate::notify::{Focus, Notifier, OsNotification, Policy, summarize};
use crate::rest::{Api, Replay, SendOutcome};
use crate::secrets::SecretStore;
use crate::supervisor::{Action, ConnState, Input, Supervisor};
use frontdesk_protocol::api::TokenResponse;
use frontdesk_protocol::envelope::{
    EmitAck, Envelope, PresenceEmit, TypingEmit, TypingEvent, ViewingEmit, ephemeral,
};
use frontdesk_protocol::records::{Presence, User};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Events per replay page.
pub const REPLAY_PAGE: u32 = 500;

/// Where and as whom the engine works.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `http://host:port` or `https://…`.
    pub server: String,
    pub tenant: String,
    pub username: String,
    /// Folder for the cache files.
    pub data_dir: PathBuf,
    /// Extra CA certificates (PEM) for clinics with their own.
    pub ca_file: Option<PathBuf>,
    /// First retry delay ceiling; doubles per failed attempt.
    pub backoff_base: Duration,
    /// Ceiling during the fast phase (the first `fast_attempts` retries).
    pub backoff_fast_cap: Duration,
    pub backoff_fast_attempts: u32,
    /// Ceiling after the fast phase.
    pub backoff_cap: Duration,
}

impl EngineConfig {
    /// Defaults: retries from 0.25 s, within 1.5 s for the first 40 attempts
    /// (about half a minute: a server restart), then up to 30 s.
    pub fn new(server: &str, tenant: &str, username: &str, data_dir: PathBuf) -> EngineConfig {
        EngineConfig {
            server: server.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            username: username.to_owned(),
            data_dir,
            ca_file: None,
            backoff_base: Duration::from_millis(250),
            backoff_fast_cap: Duration::from_millis(1500),
            backoff_fast_attempts: 40,
            backoff_cap: Duration::from_secs(30),
        }
    }

    /// Server + tenant + user: what a cache file and its secrets belong to.
    pub fn identity(&self) -> String {
        format!("{}|{}|{}", self.server, self.tenant, self.username)
    }

    /// The cache file for this identity.
    pub fn cache_path(&self) -> PathBuf {
        let name: String = self
            .identity()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.data_dir.join(format!("{name}.db"))
    }

    fn refresh_secret(&self) -> String {
        format!("refresh-token:{}", self.identity())
    }

    fn key_secret(&self) -> String {
        format!("cache-key:{}", self.identity())
    }
}

/// What the engine publishes to whoever watches (UI, CLI `tail`).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    /// The connection state changed.
    Connection { state: ConnState, detail: String },
    /// A durable event was applied to the cache.
    Applied { event: Envelope },
    /// A snapshot replaced the cache.
    Resynced { seq: u64 },
    /// The cache caught up with the server (after connecting or a gap).
    Synced { seq: u64 },
    /// Someone's presence changed.
    Presence { presence: Presence },
    /// Someone started or stopped typing (stops include expiry after 6 s).
    Typing {
        thread: String,
        user: String,
        typing: bool,
    },
    /// The outbox changed.
    Outbox { pending: usize, problems: usize },
    /// An OS notification was raised.
    Notified { notification: OsNotification },
    /// Something the user should know that is not an error of theirs.
    Warning { message: String },
}

enum Command {
    Act(DeskAction, oneshot::Sender<Result<OutboxEntry>>),
    Typing { thread: String, typing: bool },
    Dnd(bool),
    Activity,
    Viewing(Option<String>),
    Focus(Focus),
    RetryNow,
    Logout(oneshot::Sender<Result<()>>),
    Shutdown(oneshot::Sender<()>),
}

/// A handle to a running engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    cmd: mpsc::UnboundedSender<Command>,
    updates: broadcast::Sender<Update>,
    state: Arc<std::sync::Mutex<ConnState>>,
    synced: Arc<std::sync::atomic::AtomicBool>,
    config: EngineConfig,
    key: CacheKey,
    startup_warnings: Arc<Vec<String>>,
    logged_out: Arc<std::sync::atomic::AtomicBool>,
}

impl EngineHandle {
    /// A stream of [`Update`]s from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// The current connection state.
    pub fn state(&self) -> ConnState {
        self.state.lock().map(|s| *s).unwrap_or(ConnState::Offline)
    }

    /// Problems met while starting (a cache that had to be cleared, …), for
    /// the UI to show: they happen before anyone can subscribe to updates.
    pub fn startup_warnings(&self) -> &[String] {
        &self.startup_warnings
    }

    /// Whether the cache has caught up with the server since the connection
    /// went live (false while connecting or offline).
    pub fn is_synced(&self) -> bool {
        self.synced.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Queues a desk action: it is stored (pending) when this returns, and
    /// sent when live.
    pub async fn act(&self, action: DeskAction) -> Result<OutboxEntry> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Act(action, tx))?;
        rx.await
            .map_err(|_| EngineError::Invalid("engine stopped".into()))?
    }

    /// The user typed in (`typing: true`) or left/sent (`false`) a thread.
    pub fn typing(&self, thread: &str, typing: bool) -> Result<()> {
        self.send(Command::Typing {
            thread: thread.to_owned(),
            typing,
        })
    }

    /// Turns do-not-disturb on or off.
    pub fn set_dnd(&self, dnd: bool) -> Result<()> {
        self.send(Command::Dnd(dnd))
    }

    /// The user did something (resets the away timer).
    pub fn activity(&self) -> Result<()> {
        self.send(Command::Activity)
    }

    /// The patient whose record is open, or none.
    pub fn viewing(&self, patient: Option<String>) -> Result<()> {
        self.send(Command::Viewing(patient))
    }

    /// What the window shows (for the notification policy).
    pub fn focus(&self, focus: Focus) -> Result<()> {
        self.send(Command::Focus(focus))
    }

    /// Reconnect now (network came back, machine woke up).
    pub fn retry_now(&self) -> Result<()> {
        self.send(Command::RetryNow)
    }

    /// Signs out: revokes the login on the server (best effort), forgets the
    /// secrets and wipes the cache.
    pub async fn logout(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Logout(tx))?;
        rx.await
            .map_err(|_| EngineError::Invalid("engine stopped".into()))?
    }

    /// Stops the engine; the cache and secrets stay for next time.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// A second, read-only view of the cache for the UI or CLI to query.
    pub fn reader(&self) -> Result<Cache> {
        if self.logged_out.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(EngineError::SignedOut(
                "signed out; the local cache was wiped".into(),
            ));
        }
        Cache::open(&self.config.cache_path(), &self.key)
    }

    fn send(&self, c: Command) -> Result<()> {
        self.cmd
            .send(c)
            .map_err(|_| EngineError::Invalid("engine stopped".into()))
    }
}

/// Signs in with a password: stores the refresh token in `secrets` and
/// returns the tokens, to hand to [`start`] so it needs no refresh at once.
pub async fn sign_in(
    config: &EngineConfig,
    password: &str,
    secrets: &dyn SecretStore,
) -> Result<TokenResponse> {
    let api = Api::new(&config.server, config.ca_file.as_deref())?;
    let tokens = api
        .login(&config.tenant, &config.username, password)
        .await?;
    secrets.set(&config.refresh_secret(), &tokens.refresh_token)?;
    Ok(tokens)
}

/// Whether a refresh token is stored for this identity (signed in before).
pub fn has_session(config: &EngineConfig, secrets: &dyn SecretStore) -> Result<bool> {
    Ok(secrets.get(&config.refresh_secret())?.is_some())
}

/// Opens the cache (creating its key if needed; wiping it if the key no longer
/// opens it or it is damaged) and starts the engine task.
pub async fn start(
    config: EngineConfig,
    secrets: Arc<dyn SecretStore>,
    notifier: Arc<dyn Notifier>,
    tokens: Option<TokenResponse>,
) -> Result<EngineHandle> {
    std::fs::create_dir_all(&config.data_dir)?;
    let (updates, _) = broadcast::channel(4096);
    let key = match secrets
        .get(&config.key_secret())?
        .and_then(|h| CacheKey::from_hex(&h))
    {
        Some(k) => k,
        None => {
            let k = CacheKey::generate();
            secrets.set(&config.key_secret(), &k.to_hex())?;
            k
        }
    };
    let path = config.cache_path();
    let mut warnings = Vec::new();
    let cache = match Cache::open(&path, &key) {
        Ok(c) => c,
        Err(
            e @ (EngineError::CacheKey
            | EngineError::CacheCorrupt(_)
            | EngineError::CacheTooNew { .. }),
        ) => {
            warnings.push(format!(
                "{e}; it was cleared and will be rebuilt from the server"
            ));
            Cache::wipe(&path)?;
            Cache::open(&path, &key)?
        }
        Err(e) => return Err(e),
    };
    let api = Api::new(&config.server, config.ca_file.as_deref())?;
    let tls = Tls::new(config.ca_file.as_deref())?;
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let state = Arc::new(std::sync::Mutex::new(ConnState::Offline));
    let synced = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let logged_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let me = tokens.as_ref().map(|t| t.user.id.clone()).or_else(|| {
        cache
            .meta("me")
            .ok()
            .flatten()
            .and_then(|m| serde_json::from_str::<Value>(&m).ok())
            .and_then(|v| v["id"].as_str().map(str::to_owned))
    });
    let access = tokens.map(|t| (t.access_token, renew_at(t.expires_in)));
    let mut engine = Loop {
        supervisor: Supervisor::new(
            Backoff::new(config.backoff_base, config.backoff_cap)
                .with_fast_phase(config.backoff_fast_cap, config.backoff_fast_attempts),
        ),
        config: config.clone(),
        api,
        tls,
        secrets,
        notifier,
        cache,
        rng: StdRng::from_os_rng(),
        updates: updates.clone(),
        state: state.clone(),
        synced: synced.clone(),
        reports_tx,
        link: None,
        generation: 0,
        retry_at: None,
        access,
        presence: OwnPresence::new(Instant::now()),
        typing: TypingThrottle::default(),
        remote_typing: RemoteTyping::default(),
        viewing: None,
        focus: Focus::default(),
        policy: Policy::new(me.as_deref().unwrap_or("")),
        outbox_retry_at: None,
        deferred: VecDeque::new(),
        refresh_unsaved: None,
        logged_out: logged_out.clone(),
    };
    engine.refresh_names();
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let handle = EngineHandle {
        cmd: cmd_tx,
        updates,
        state,
        synced,
        config,
        key,
        startup_warnings: Arc::new(warnings),
        logged_out,
    };
    tokio::spawn(engine.run(cmd_rx, reports_rx));
    Ok(handle)
}

struct LiveLink {
    generation: u64,
    io: LinkHandle,
    link: Link,
}

struct Loop {
    config: EngineConfig,
    api: Api,
    tls: Tls,
    secrets: Arc<dyn SecretStore>,
    notifier: Arc<dyn Notifier>,
    cache: Cache,
    supervisor: Supervisor,
    rng: StdRng,
    updates: broadcast::Sender<Update>,
    state: Arc<std::sync::Mutex<ConnState>>,
    synced: Arc<std::sync::atomic::AtomicBool>,
    reports_tx: mpsc::UnboundedSender<(u64, LinkIo)>,
    link: Option<LiveLink>,
    generation: u64,
    retry_at: Option<tokio::time::Instant>,
    /// The access token and when it should be replaced (a quarter of its
    /// lifetime, at most 30 s, before it expires).
    access: Option<(String, SystemTime)>,
    presence: OwnPresence,
    typing: TypingThrottle,
    remote_typing: RemoteTyping,
    viewing: Option<String>,
    focus: Focus,
    policy: Policy,
    outbox_retry_at: Option<Instant>,
    /// A rotated refresh token the keyring failed to store.
    refresh_unsaved: Option<String>,
    /// Set by logout: the handle's reader must not re-create the wiped cache.
    logged_out: Arc<std::sync::atomic::AtomicBool>,
    /// Supervisor inputs discovered deep inside other work (a refresh refused
    /// during sync), fed in by [`Loop::input`]'s loop.
    deferred: VecDeque<Input>,
}

impl Loop {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut reports: mpsc::UnboundedReceiver<(u64, LinkIo)>,
    ) {
        self.publish_outbox();
        let signed_in = self
            .secrets
            .get(&self.config.refresh_secret())
            .ok()
            .flatten()
            .is_some()
            || self.access.is_some();
        if signed_in {
            self.input(Input::Start).await;
        } else {
            self.set_state(ConnState::SignedOut, "not signed in".into());
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let retry = self.retry_at;
            tokio::select! {
                // Frames first: pings and events already waiting must count
                // before the liveness check in `tick` looks at the clock.
                biased;
                Some((generation, io)) = reports.recv() => self.link_io(generation, io).await,
                cmd = commands.recv() => match cmd {
                    None => break,
                    Some(Command::Shutdown(done)) => {
                        self.input(Input::Stop { sign_out: false }).await;
                        let _ = done.send(());
                        break;
                    }
                    Some(c) => self.command(c).await,
                },
                _ = async { match retry { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                    self.retry_at = None;
                    self.input(Input::RetryTimer).await;
                }
                _ = tick.tick() => self.tick().await,
            }
            if let Some(next) = self.deferred.pop_front() {
                self.input(next).await;
            }
        }
    }

    fn publish(&self, u: Update) {
        let _ = self.updates.send(u);
    }

    fn set_state(&mut self, state: ConnState, detail: String) {
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
        if state != ConnState::Live {
            self.synced
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
        self.publish(Update::Connection { state, detail });
    }

    fn publish_outbox(&self) {
        if let Ok(list) = self.cache.outbox_list() {
            let pending = list
                .iter()
                .filter(|e| e.state == OutboxState::Pending)
                .count();
            self.publish(Update::Outbox {
                pending,
                problems: list.len() - pending,
            });
        }
    }

    fn refresh_names(&mut self) {
        if let Ok(users) = self.cache.list::<User>(Kind::User) {
            self.policy
                .set_names(users.into_iter().map(|u| (u.id, u.name)).collect());
        }
    }

    fn warn(&self, message: String) {
        tracing::warn!("{message}");
        self.publish(Update::Warning { message });
    }

    /// Feeds the supervisor and carries out what it asks, until nothing is left.
    async fn input(&mut self, first: Input) {
        let mut inputs = VecDeque::from([first]);
        loop {
            inputs.extend(self.deferred.drain(..));
            let Some(input) = inputs.pop_front() else {
                break;
            };
            let was_live = self.supervisor.state() == ConnState::Live;
            let actions = self.supervisor.handle(input, &mut self.rng);
            for action in actions {
                match action {
                    Action::Publish(state, detail) => self.set_state(state, detail),
                    Action::EnsureToken { force } => {
                        inputs.push_back(self.ensure_token(force).await)
                    }
                    Action::OpenLink => {
                        if let Some(next) = self.open_link().await {
                            inputs.push_back(next);
                        }
                    }
                    Action::CloseLink => self.close_link(),
                    Action::ScheduleRetry(d) => {
                        self.retry_at = Some(tokio::time::Instant::now() + d)
                    }
                    Action::CancelRetry => self.retry_at = None,
                }
            }
            if !was_live && self.supervisor.state() == ConnState::Live {
                self.on_live().await;
            }
        }
    }

    /// Makes sure a usable access token is in memory; reports the outcome as
    /// the supervisor's next input.
    async fn ensure_token(&mut self, force: bool) -> Input {
        if !force
            && let Some((_, renew)) = &self.access
            && *renew > SystemTime::now()
        {
            return Input::TokenReady;
        }
        match self.refresh().await {
            Ok(()) => Input::TokenReady,
            Err(EngineError::SignedOut(reason)) => Input::RefreshFailed { auth: true, reason },
            Err(e) => Input::RefreshFailed {
                auth: false,
                reason: e.to_string(),
            },
        }
    }

    async fn refresh(&mut self) -> Result<()> {
        let name = self.config.refresh_secret();
        let refresh = match self.refresh_unsaved.clone() {
            Some(t) => t,
            None => self
                .secrets
                .get(&name)?
                .ok_or_else(|| EngineError::SignedOut("no stored session".into()))?,
        };
        let tokens = self.api.refresh(&refresh).await?;
        // The old token is spent now: keep the new one even if the keyring
        // fails, or the next refresh would present the spent one and the
        // server would revoke the login.
        match self.secrets.set(&name, &tokens.refresh_token) {
            Ok(()) => self.refresh_unsaved = None,
            Err(e) => {
                self.warn(format!(
                    "could not save the session in the keyring ({e}); keeping it in memory"
                ));
                self.refresh_unsaved = Some(tokens.refresh_token.clone());
            }
        }
        self.access = Some((tokens.access_token, renew_at(tokens.expires_in)));
        Ok(())
    }

    /// A token for a REST call, refreshing if it is about to expire.
    async fn token(&mut self) -> Result<String> {
        let fresh = matches!(&self.access, Some((_, renew)) if *renew > SystemTime::now());
        if !fresh && let Err(e) = self.refresh().await {
            if let EngineError::SignedOut(reason) = &e {
                self.deferred.push_back(Input::RefreshFailed {
                    auth: true,
                    reason: reason.clone(),
                });
            }
            return Err(e);
        }
        self.access
            .as_ref()
            .map(|(t, _)| t.clone())
            .ok_or_else(|| EngineError::SignedOut("no token".into()))
    }

    async fn open_link(&mut self) -> Option<Input> {
        self.close_link();
        let token = self.access.as_ref()?.0.clone();
        self.generation += 1;
        let generation = self.generation;
        // The driver answers pings itself (see `connection`).
        let limits = LinkLimits {
            answer_pings: false,
            ..LinkLimits::default()
        };
        match connection::open(
            &self.config.server,
            &self.tls,
            limits.max_frame,
            generation,
            self.reports_tx.clone(),
        )
        .await
        {
            Ok(io) => {
                let auth = json!({"token": token, "tenant": self.config.tenant});
                self.link = Some(LiveLink {
                    generation,
                    io,
                    link: Link::new(auth, limits, SystemTime::now()),
                });
                None
            }
            Err(e) => Some(Input::ConnectFailed {
                reason: e.to_string(),
            }),
        }
    }

    fn close_link(&mut self) {
        if let Some(l) = self.link.take() {
            l.io.close_and_drop();
        }
    }

    async fn link_io(&mut self, generation: u64, io: LinkIo) {
        let Some(live) = self.link.as_mut().filter(|l| l.generation == generation) else {
            return; // a report from a link already replaced
        };
        let now = SystemTime::now();
        let events = match io {
            LinkIo::Text(t) => live.link.handle_text(&t, now),
            LinkIo::Binary(b) => live.link.handle_binary(b, now),
            LinkIo::Closed(reason) => vec![LinkEvent::Closed { reason }],
        };
        for e in events {
            self.link_event(e).await;
        }
    }

    async fn link_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Send(frame) => {
                if let Some(l) = &self.link {
                    l.io.send(frame);
                }
            }
            LinkEvent::Connected { .. } => self.input(Input::Connected).await,
            LinkEvent::Refused { message } => {
                // Whatever the reason, this access token is not to be tried again.
                if message.starts_with("unauthorized") {
                    self.access = None;
                }
                self.input(Input::Refused { message }).await
            }
            LinkEvent::Closed { reason } => {
                let connected = self.supervisor.state() == ConnState::Live;
                self.link = None;
                if connected {
                    // Who is here is re-sent by the server on the next connect.
                    let _ = self.cache.clear_presence();
                }
                let input = if connected {
                    Input::LinkLost { reason }
                } else {
                    Input::ConnectFailed { reason }
                };
                self.input(input).await;
            }
            LinkEvent::Event { name, args, ack } => {
                if let (Some(id), Some(l)) = (ack, &self.link) {
                    l.io.send(l.link.ack(id, vec![json!({"ok": true})]));
                }
                self.server_event(&name, args.into_iter().next().unwrap_or(Value::Null))
                    .await;
            }
            LinkEvent::Ack { args, .. } => {
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
            LinkEvent::Ignored { reason } => tracing::debug!("ignored: {reason}"),
        }
    }

    async fn server_event(&mut self, name: &str, data: Value) {
        match name {
            ephemeral::TYPING => {
                if let Ok(t) = serde_json::from_value::<TypingEvent>(data)
                    && self
                        .remote_typing
                        .signal(&t.thread, &t.user, t.typing, Instant::now())
                {
                    self.publish(Update::Typing {
                        thread: t.thread,
                        user: t.user,
                        typing: t.typing,
                    });
                }
            }
            ephemeral::PRESENCE => {
                if let Ok(p) = serde_json::from_value::<Presence>(data) {
                    let _ = self.cache.put_presence(&p);
                    self.publish(Update::Presence { presence: p });
                }
            }
            _ => match serde_json::from_value::<Envelope>(data) {
                Ok(env) => self.apply_live(env).await,
                Err(e) => tracing::debug!("event `{name}` is not an envelope: {e}"),
            },
        }
    }

    /// A live durable event: applied if next, skipped if old, replay on a gap.
    async fn apply_live(&mut self, env: Envelope) {
        if matches!(self.cache.last_seq(), Ok(None)) {
            // No snapshot yet: this event has nothing to apply to. Sync instead.
            self.sync().await;
            return;
        }
        match self.cache.apply_events(std::slice::from_ref(&env)) {
            Ok(applied) => {
                let gap = applied.gap.is_some();
                let shown = self.after_apply(applied.applied);
                for n in shown {
                    self.show(n);
                }
                if gap {
                    self.sync().await;
                }
            }
            Err(e) => self.warn(format!("could not apply event {}: {e}", env.seq)),
        }
    }

    /// Publishes applied events and returns the notifications they call for.
    fn after_apply(&mut self, applied: Vec<Envelope>) -> Vec<OsNotification> {
        let dnd = self.presence.dnd();
        let mut out = Vec::new();
        for env in applied {
            if let Ok(frontdesk_protocol::envelope::EventData::MessageCreated(m)) = env.decode()
                && self.remote_typing.message_from(&m.thread_id, &m.author_id)
            {
                self.publish(Update::Typing {
                    thread: m.thread_id.clone(),
                    user: m.author_id.clone(),
                    typing: false,
                });
            }
            if let Some(n) = self.policy.decide(&env, &self.focus, dnd) {
                out.push(n);
            }
            self.publish(Update::Applied { event: env });
        }
        out
    }

    fn show(&self, n: OsNotification) {
        self.notifier.notify(&n);
        self.publish(Update::Notified { notification: n });
    }

    /// Brings the cache up to date: a snapshot the first time (or after 410),
    /// else replay from the last applied `seq`, page by page.
    async fn sync(&mut self) {
        let mut replayed = Vec::new();
        for _attempt in 0..3 {
            match self.sync_once(&mut replayed).await {
                Ok(()) => {
                    for n in summarize(replayed) {
                        self.show(n);
                    }
                    let _ = self.cache.mark_synced();
                    let seq = self.cache.last_seq().ok().flatten().unwrap_or(0);
                    if self.supervisor.state() == ConnState::Live {
                        self.synced.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                    self.publish(Update::Synced { seq });
                    return;
                }
                Err(EngineError::Server(p)) if p.status == 401 => {
                    self.access = None;
                }
                Err(EngineError::Gap { expected, got }) => {
                    // The server's own history skipped (pruned under us?):
                    // only a snapshot can be trusted now.
                    self.warn(format!(
                        "replay skipped from {expected} to {got}; taking a snapshot"
                    ));
                    if let Err(e) = self.cache.forget_position() {
                        self.warn(format!("sync failed: {e}"));
                        break;
                    }
                }
                Err(e) => {
                    self.warn(format!("sync failed: {e}"));
                    break;
                }
            }
        }
        for n in summarize(replayed) {
            self.show(n);
        }
        // Not synced: drop the link so the supervisor reconnects (with
        // backoff) and the next connect syncs again.
        if self.supervisor.state() == ConnState::Live {
            self.deferred.push_back(Input::LinkLost {
                reason: "could not catch up with the server".into(),
            });
        }
    }

    async fn sync_once(&mut self, replayed: &mut Vec<OsNotification>) -> Result<()> {
        loop {
            let token = self.token().await?;
            let Some(last) = self.cache.last_seq()? else {
                return self.resnapshot(&token).await;
            };
            let page = while_alive(
                self.link.as_ref(),
                self.api.events(&token, last, REPLAY_PAGE),
            )
            .await?;
            match page {
                Replay::Gone => return self.resnapshot(&token).await,
                Replay::Page(page) => {
                    let applied = self.cache.apply_events(&page.events)?;
                    let done = page.events.is_empty()
                        || applied
                            .applied
                            .last()
                            .is_none_or(|e| e.seq >= page.latest_seq);
                    let gap = applied.gap;
                    // What was applied is published even if the page then skips.
                    replayed.extend(self.after_apply(applied.applied));
                    if let Some((expected, got)) = gap {
                        return Err(EngineError::Gap { expected, got });
                    }
                    if done {
                        return Ok(());
                    }
                }
            }
        }
    }

    async fn resnapshot(&mut self, token: &str) -> Result<()> {
        let snap = while_alive(self.link.as_ref(), self.api.snapshot(token)).await?;
        self.cache.replace_with_snapshot(&snap)?;
        self.policy = Policy::new(&snap.me.id);
        self.refresh_names();
        self.publish(Update::Resynced { seq: snap.seq });
        Ok(())
    }

    async fn on_live(&mut self) {
        self.sync().await;
        self.presence.reset_announced();
        self.announce_presence();
        // Always say what is open now (even nothing): the server may still
        // hold what we had open before the connection dropped.
        let viewing = self.viewing.clone();
        self.emit(ephemeral::VIEWING, json!(ViewingEmit { patient: viewing }));
        self.flush_outbox().await;
    }

    fn emit(&mut self, name: &str, data: Value) {
        if self.supervisor.state() != ConnState::Live {
            return;
        }
        if let Some(l) = &mut self.link {
            let (_, frame) = l.link.emit(name, data, true);
            l.io.send(frame);
        }
    }

    fn announce_presence(&mut self) {
        if self.supervisor.state() != ConnState::Live {
            return;
        }
        if let Some(state) = self.presence.to_announce(Instant::now()) {
            self.emit(ephemeral::PRESENCE, json!(PresenceEmit { state }));
        }
    }

    /// Sends pending outbox entries in order while live.
    async fn flush_outbox(&mut self) {
        self.outbox_retry_at = None;
        while self.supervisor.state() == ConnState::Live {
            let entry = match self.cache.outbox_next() {
                Ok(Some(e)) => e,
                Ok(None) => break,
                Err(e) => {
                    self.warn(format!("outbox unreadable: {e}"));
                    break;
                }
            };
            let request = match entry.action.request() {
                Ok(r) => r,
                Err(e) => {
                    let _ = self.cache.outbox_set_problem(
                        entry.n,
                        OutboxState::Refused,
                        &e.to_string(),
                        None,
                    );
                    continue;
                }
            };
            let _ = self.cache.outbox_attempted(entry.n);
            let mut outcome = SendOutcome::Unauthorized;
            for _ in 0..2 {
                let token = match self.token().await {
                    Ok(t) => t,
                    Err(e) => {
                        outcome = SendOutcome::Later(e.to_string());
                        break;
                    }
                };
                let send = async { Ok(self.api.send(&token, &request, &entry.key).await) };
                outcome = while_alive(self.link.as_ref(), send)
                    .await
                    .unwrap_or_else(|e| SendOutcome::Later(e.to_string()));
                if outcome != SendOutcome::Unauthorized {
                    break;
                }
                self.access = None;
            }
            let result = match outcome {
                SendOutcome::Applied(_) => self.cache.outbox_done(entry.n),
                SendOutcome::Conflict { current, problem } => {
                    let kind = match entry.subject_kind.as_str() {
                        "appointment" => Some(Kind::Appointment),
                        "queue" => Some(Kind::Queue),
                        _ => None,
                    };
                    if let (Some(kind), Some(record)) = (kind, &current) {
                        // A retry built from the cache then starts from the server's version.
                        let _ = self.cache.put_current(kind, record);
                    }
                    let both = json!({"mine": request.body, "current": current});
                    let why = problem.detail.unwrap_or(problem.title);
                    self.cache
                        .outbox_set_problem(entry.n, OutboxState::Conflict, &why, Some(&both))
                }
                SendOutcome::Refused(problem) => {
                    let why = problem.detail.unwrap_or(problem.title);
                    self.cache
                        .outbox_set_problem(entry.n, OutboxState::Refused, &why, None)
                }
                SendOutcome::Unauthorized | SendOutcome::Later(_) => {
                    self.outbox_retry_at = Some(Instant::now() + Duration::from_secs(5));
                    self.publish_outbox();
                    return;
                }
            };
            if let Err(e) = result {
                self.warn(format!("outbox: {e}"));
            }
            self.publish_outbox();
        }
    }

    async fn command(&mut self, c: Command) {
        match c {
            Command::Act(action, reply) => {
                let r = self.cache.outbox_push(&action);
                let ok = r.is_ok();
                let _ = reply.send(r);
                if ok {
                    self.publish_outbox();
                    if matches!(action, DeskAction::SendMessage { .. })
                        && let Some(thread) = self.typing.stop()
                    {
                        self.emit(
                            ephemeral::TYPING,
                            json!(TypingEmit {
                                thread,
                                typing: false
                            }),
                        );
                    }
                    self.flush_outbox().await;
                }
            }
            Command::Typing { thread, typing } => {
                self.presence.active(Instant::now());
                if typing {
                    if self.typing.keystroke(&thread, Instant::now()) {
                        self.emit(
                            ephemeral::TYPING,
                            json!(TypingEmit {
                                thread,
                                typing: true
                            }),
                        );
                    }
                } else if let Some(t) = self.typing.stop() {
                    self.emit(
                        ephemeral::TYPING,
                        json!(TypingEmit {
                            thread: t,
                            typing: false
                        }),
                    );
                }
                self.announce_presence();
            }
            Command::Dnd(on) => {
                self.presence.set_dnd(on);
                self.announce_presence();
            }
            Command::Activity => {
                self.presence.active(Instant::now());
                self.announce_presence();
            }
            Command::Viewing(patient) => {
                if patient != self.viewing {
                    self.viewing = patient.clone();
                    self.emit(ephemeral::VIEWING, json!(ViewingEmit { patient }));
                }
            }
            Command::Focus(f) => self.focus = f,
            Command::RetryNow => self.input(Input::RetryNow).await,
            Command::Logout(reply) => {
                let r = self.logout().await;
                let _ = reply.send(r);
            }
            Command::Shutdown(_) => {}
        }
    }

    async fn logout(&mut self) -> Result<()> {
        let name = self.config.refresh_secret();
        if let Ok(Some(refresh)) = self.secrets.get(&name)
            && let Err(e) = self.api.logout(&refresh).await
        {
            tracing::info!("server logout failed (the local sign-out still happens): {e}");
        }
        self.input(Input::Stop { sign_out: true }).await;
        self.access = None;
        self.refresh_unsaved = None;
        self.logged_out
            .store(true, std::sync::atomic::Ordering::SeqCst);
        // Patient data first: close the cache (swap in a throwaway) and wipe it.
        let path = self.config.cache_path();
        let throwaway = tempfile_path(&self.config);
        self.cache = Cache::open(&throwaway, &CacheKey::generate())?;
        let wiped = Cache::wipe(&path);
        let _ = Cache::wipe(&throwaway);
        // Then the secrets, each attempted whatever the other did.
        let forgot_token = self.secrets.delete(&name);
        let forgot_key = self.secrets.delete(&self.config.key_secret());
        self.publish_outbox();
        wiped.and(forgot_token).and(forgot_key)
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        // Liveness on wall-clock time: a machine waking from sleep notices at once.
        if let Some(l) = &self.link
            && let Err(dead) = l.link.check_alive(SystemTime::now())
        {
            let reason = format!(
                "no word from the server for {:.0}s",
                dead.silent_for.as_secs_f64()
            );
            self.link_event(LinkEvent::Closed { reason }).await;
        }
        for (thread, user) in self.remote_typing.expire(now) {
            self.publish(Update::Typing {
                thread,
                user,
                typing: false,
            });
        }
        self.announce_presence();
        if self.outbox_retry_at.is_some_and(|t| t <= now) {
            self.flush_outbox().await;
        }
    }
}

/// When to replace a token that lives `expires_in` seconds from now: a quarter
/// of its lifetime (at most 30 s) early, so a request never carries one that
/// expires in flight.
///
/// Wall-clock time, not `Instant`: a laptop that slept through the expiry must
/// see the token as stale when it wakes. The server's figure is capped at a
/// day so a bogus one cannot overflow.
fn renew_at(expires_in: u64) -> SystemTime {
    let life = Duration::from_secs(expires_in.min(86_400));
    SystemTime::now() + life - (life / 4).min(Duration::from_secs(30))
}

/// Runs a REST call, giving up as soon as the live link is found dead: the
/// engine loop waits on such calls, and a network that stalls mid-request
/// must be noticed by missed pings, not only when the call times out.
async fn while_alive<T>(
    link: Option<&LiveLink>,
    call: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let Some(live) = link else { return call.await };
    tokio::pin!(call);
    let mut every = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            r = &mut call => return r,
            _ = every.tick() => {
                // Frames wait in the channel while we are here, so judge by
                // what the reader task last heard.
                let silent = SystemTime::now().duration_since(live.io.last_heard()).unwrap_or_default();
                if silent > live.link.allowed_silence() {
                    return Err(EngineError::Network(format!(
                        "the connection went silent for {:.0}s during a request",
                        silent.as_secs_f64()
                    )));
                }
            }
        }
    }
}

fn tempfile_path(config: &EngineConfig) -> PathBuf {
    config
        .data_dir
        .join(format!(".closing-{}.db", uuid::Uuid::new_v4().simple()))
}
