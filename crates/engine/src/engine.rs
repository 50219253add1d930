//! The desk engine's driver: [`start`] opens the cache and runs a
//! [`DeskCore`] under the shared [`driver`], and [`EngineHandle`] is the
//! cloneable handle to act on it and watch it.
//!
//! Everything that decides lives in [`crate::desk`] (and the session below
//! it); this file only carries out what the core asks: REST calls over
//! [`Api`], tokens from the keyring ([`RefreshCredentials`]), updates to the
//! broadcast channel, notifications to the [`Notifier`].

use crate::cache::day;
use crate::cache::outbox::{DeskAction, OutboxEntry};
use crate::cache::{Cache, CacheKey, DayView};
use crate::clock::{Clock, SystemClock};
use crate::connection::Tls;
use crate::desk::{CallError, DeskAnswer, DeskCall, DeskCore, DeskOut};
use crate::driver::{self, Control, Credentials, Executor, Feedback, Task};
use crate::error::{EngineError, Result};
use crate::lookup::{self, Asked, FreeSlots, PatientMatches, PatientRecord, Registered, Source};
use crate::notify::{Focus, Notifier};
use crate::rest::Api;
use crate::screen_lock::LockReason;
use crate::secrets::SecretStore;
use crate::session::{Grant, GrantError, SessionConfig};
use crate::supervisor::ConnState;
use crate::unlock::{self, UnlockGuard};
use chrono::{DateTime, NaiveDate, Utc};
use frontdesk_protocol::api::{NewPatient, TokenResponse};
use frontdesk_protocol::records::Appointment;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::json;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

pub use crate::desk::{REPLAY_PAGE, Update};

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
    /// Where the engine reads the time (the machine's clocks; a skewed wall
    /// clock in tests of a PC whose clock is wrong).
    pub clock: Arc<dyn Clock>,
    /// Start locked when opening on a stored sign-in (the desktop app on a
    /// shared PC: whoever starts it must know the password); the CLI does not.
    pub locked_at_start: bool,
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
            clock: Arc::new(SystemClock),
            locked_at_start: false,
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

    /// The lock file that serialises token refreshes of this identity
    /// between processes (the app and `frontdesk-cli` on one PC).
    fn refresh_lock_path(&self) -> PathBuf {
        let mut p = self.cache_path().into_os_string();
        p.push(".refresh-lock");
        PathBuf::from(p)
    }

    fn refresh_secret(&self) -> String {
        format!("refresh-token:{}", self.identity())
    }

    fn key_secret(&self) -> String {
        format!("cache-key:{}", self.identity())
    }

    fn unlock_secret(&self) -> String {
        format!("unlock-verifier:{}", self.identity())
    }
}

/// A handle to a running engine. Cheap to clone.
#[derive(Clone)]
pub struct EngineHandle {
    control: mpsc::UnboundedSender<Control<Desk>>,
    /// For lookups the screen waits on (search, slots), outside the desk core.
    api: Api,
    updates: broadcast::Sender<Update>,
    state: Arc<std::sync::Mutex<ConnState>>,
    synced: Arc<AtomicBool>,
    config: EngineConfig,
    key: CacheKey,
    credentials: Arc<RefreshCredentials>,
    startup_warnings: Arc<Vec<String>>,
    logged_out: Arc<AtomicBool>,
    unlock_guard: Arc<std::sync::Mutex<UnlockGuard>>,
    /// The week view's last answer from the clinic (see [`day::ASKED_FRESH`]).
    asked_week: Arc<std::sync::Mutex<Option<day::AskedWeek>>>,
}

/// The desk core as the app runs it: over the SQLCipher cache.
type Desk = DeskCore<Cache>;

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
        self.synced.load(Ordering::SeqCst)
    }

    /// Queues a desk action: it is stored (pending) when this returns, and
    /// sent when live.
    pub async fn act(&self, action: DeskAction) -> Result<OutboxEntry> {
        self.ask(move |core, now| core.act(action, now)).await?
    }

    /// Goes on with the conflicted or refused outbox entry `n` by sending
    /// `action` instead (see [`DeskCore::resend`]).
    pub async fn resend(&self, n: i64, action: DeskAction) -> Result<()> {
        self.ask(move |core, now| core.resend(n, action, now))
            .await?
    }

    /// The user typed in (`typing: true`) or left/sent (`false`) a thread.
    pub fn typing(&self, thread: &str, typing: bool) -> Result<()> {
        let thread = thread.to_owned();
        self.run(move |core, now| core.typing(&thread, typing, now))
    }

    /// Turns do-not-disturb on or off.
    pub fn set_dnd(&self, dnd: bool) -> Result<()> {
        self.run(move |core, now| core.set_dnd(dnd, now))
    }

    /// The user did something (resets the away timer).
    pub fn activity(&self) -> Result<()> {
        self.run(|core, now| core.activity(now))
    }

    /// The patient whose record is open, or none.
    pub fn viewing(&self, patient: Option<String>) -> Result<()> {
        self.run(move |core, _| core.viewing(patient))
    }

    /// The day the schedule shows (`None`: none): a day outside the sync
    /// window is kept live while on screen ([`Update::DayFetched`]).
    pub fn show_day(&self, day: Option<chrono::NaiveDate>) -> Result<()> {
        self.run(move |core, now| core.show_day(day, now))
    }

    /// The user scrolled back in `thread`: read earlier messages into the
    /// cache ([`Update::OlderMessages`] says when they are in).
    pub fn load_older(&self, thread: &str) -> Result<()> {
        let thread = thread.to_owned();
        self.run(move |core, now| core.load_older(&thread, now))
    }

    /// What the window shows (for the notification policy).
    pub fn focus(&self, focus: Focus) -> Result<()> {
        self.run(move |core, _| core.focus(focus))
    }

    /// Locks the desk now (the shortcut, the tray): see [`crate::screen_lock`].
    pub fn lock(&self) -> Result<()> {
        self.run(|core, _| core.lock_screen(LockReason::Asked))
    }

    /// Why the desk is locked, if it is.
    pub async fn locked(&self) -> Result<Option<LockReason>> {
        self.ask(|core, _| core.locked()).await
    }

    /// Unlocks the desk with the signed-in user's password, checked against
    /// the verifier kept at sign-in (no server needed). Refused while the
    /// session is over (sign in again), and slowed after wrong tries.
    pub async fn unlock(&self, password: &str) -> Result<()> {
        let mono = self.config.clock.now().mono;
        let guard_state = self
            .unlock_guard
            .lock()
            .map_err(|_| EngineError::Invalid("unlock guard poisoned".into()))?
            .check(mono);
        if let Err(wait) = guard_state {
            return Err(EngineError::UnlockWait(wait.as_secs().max(1)));
        }
        let secrets = self.credentials.secrets.clone();
        if self.state() == ConnState::SignedOut || !has_session(&self.config, secrets.as_ref())? {
            return Err(EngineError::SignedOut(
                "this sign-in has ended: sign in again".into(),
            ));
        }
        let verifier = secrets.get(&self.config.unlock_secret())?.ok_or_else(|| {
            EngineError::SignedOut(
                "this desk was signed in before it could be unlocked offline: sign in again".into(),
            )
        })?;
        let password = password.to_owned();
        let right = tokio::task::spawn_blocking(move || unlock::matches(&verifier, &password))
            .await
            .map_err(|e| EngineError::Invalid(format!("password check stopped: {e}")))?;
        let now = self.config.clock.now().mono;
        let mut guard = self
            .unlock_guard
            .lock()
            .map_err(|_| EngineError::Invalid("unlock guard poisoned".into()))?;
        if !right {
            guard.failed(now);
            return Err(EngineError::WrongPassword(self.config.username.clone()));
        }
        guard.succeeded();
        drop(guard);
        self.run(|core, now| core.unlock_screen(now))
    }

    /// Reconnect now (network came back, machine woke up).
    pub fn retry_now(&self) -> Result<()> {
        self.run(|core, now| core.retry_now(now))
    }

    /// Signs out: revokes the login on the server (best effort), forgets the
    /// secrets and wipes the cache.
    pub async fn logout(&self) -> Result<()> {
        // The session first (under the refresh lock), then the patient data.
        let forgot = self.credentials.sign_out().await;
        let config = self.config.clone();
        let logged_out = self.logged_out.clone();
        let wiped = self
            .ask(move |core, now| {
                core.stop(true, now);
                logged_out.store(true, Ordering::SeqCst);
                // Patient data first: close the cache (swap in a throwaway) and wipe it.
                let path = config.cache_path();
                let throwaway = closing_path(&config);
                let closed = Cache::open(&throwaway, &CacheKey::generate())
                    .map(|spare| drop(core.replace_store(spare)));
                let wiped = closed.and_then(|()| Cache::wipe(&path));
                if let Err(e) = Cache::wipe(&throwaway) {
                    tracing::warn!("could not remove {}: {e}", throwaway.display());
                }
                wiped
            })
            .await?;
        // Then the cache key and the unlock verifier, whatever became of the rest.
        let forgot_key = self.credentials.secrets.delete(&self.config.key_secret());
        let forgot_verifier = self
            .credentials
            .secrets
            .delete(&self.config.unlock_secret());
        wiped.and(forgot).and(forgot_key).and(forgot_verifier)
    }

    /// Stops the engine; the cache and secrets stay for next time.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        let stopped = self
            .run(|core, now| core.stop(false, now))
            .and_then(|()| self.send(Control::Stop(tx)));
        if stopped.is_ok() {
            // An error means the driver already ended: stopped either way.
            rx.await.ok();
        }
    }

    /// A token to ask the server with, when the desk is live (lookups are
    /// answered from the cache otherwise).
    async fn live_token(&self) -> Result<Option<String>> {
        self.ask(|core, now| core.lookup_token(now)).await
    }

    /// An administration request (see [`Api::admin`]) as the signed-in user;
    /// it needs the clinic server (there is no offline administration).
    pub async fn admin<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<serde_json::Value>,
    ) -> Result<T> {
        let token = self.admin_token().await?;
        self.api
            .admin(&token, method, path, query, body.as_ref())
            .await
    }

    /// An administration read as text (the audit trail's CSV).
    pub async fn admin_text(&self, path: &str, query: &[(&str, String)]) -> Result<String> {
        let token = self.admin_token().await?;
        self.api.get_text(&token, path, query).await
    }

    /// Changes the user's own password with the old one (online only); the
    /// account's other sessions end, this one goes on, and the lock screen
    /// takes the new password from now on.
    pub async fn change_password(&self, old: &str, new: &str) -> Result<()> {
        let body = serde_json::to_value(frontdesk_protocol::api::ChangePassword {
            old_password: old.to_owned(),
            new_password: new.to_owned(),
        })?;
        let _: serde_json::Value = self
            .admin(reqwest::Method::POST, "/api/auth/password", &[], Some(body))
            .await?;
        let owned = new.to_owned();
        let verifier = tokio::task::spawn_blocking(move || unlock::verifier(&owned))
            .await
            .map_err(|e| EngineError::Invalid(format!("unlock verifier: {e}")))??;
        self.credentials
            .secrets
            .set(&self.config.unlock_secret(), &verifier)
    }

    async fn admin_token(&self) -> Result<String> {
        self.live_token().await?.ok_or_else(|| {
            EngineError::Network(
                "administration needs the clinic server, and this desk is not connected to it"
                    .into(),
            )
        })
    }

    /// Patients answering `q` (what was typed), best first, from `offset`:
    /// the server's whole register when live, this desk's cached patients
    /// otherwise (`source` says which).
    pub async fn search_patients(&self, q: &str, offset: u32) -> Result<PatientMatches> {
        let query = lookup::parse_query(q)?;
        if let Some(token) = self.live_token().await? {
            match Asked::from_result(self.api.search_patients(&token, q, offset).await) {
                Asked::Answer(page) => return Ok(lookup::from_server(page)),
                Asked::Refused(e) => return Err(e),
                Asked::Unavailable => {}
            }
        }
        self.reader()?
            .search_patients(&query, offset as usize, lookup::SEARCH_PAGE)
    }

    /// A patient with their upcoming and past appointments (offline: those
    /// this desk holds; `None` if it holds no such patient).
    pub async fn patient(&self, id: &str) -> Result<Option<PatientRecord>> {
        if let Some(token) = self.live_token().await? {
            match Asked::from_result(self.api.patient(&token, id).await) {
                Asked::Answer(details) => {
                    return Ok(Some(PatientRecord {
                        details,
                        source: Source::Server,
                    }));
                }
                Asked::Refused(e) => return Err(e),
                Asked::Unavailable => {}
            }
        }
        let now = self.config.clock.now().utc();
        self.reader()?.patient_record(id, now)
    }

    /// A week from `first` for the week view: the days this desk holds from
    /// its cache; while live, the others as the clinic has them now
    /// ([`crate::cache::DayHeld::Asked`], not kept); offline they stay not
    /// held.
    /// An answer less than [`day::ASKED_FRESH`] old for the same days is
    /// shown again; a clinic too busy to answer (429) leaves them not held.
    pub async fn week(&self, first: NaiveDate) -> Result<Vec<DayView>> {
        let mut days = self.reader()?.week(first)?;
        let Some(range) = day::not_held(&days) else {
            return Ok(days);
        };
        let Some(token) = self.live_token().await? else {
            return Ok(days);
        };
        let now = self.config.clock.now().utc();
        let kept = self
            .asked_week
            .lock()
            .ok()
            .and_then(|k| k.clone().filter(|w| w.serves(range, now)));
        let answer = match kept {
            Some(answer) => answer,
            None => {
                let Some(found) = self.appointments_of(&token, range).await? else {
                    return Ok(days);
                };
                let answer = day::AskedWeek {
                    from: range.0,
                    to: range.1,
                    at: now,
                    found,
                };
                if let Ok(mut k) = self.asked_week.lock() {
                    *k = Some(answer.clone());
                }
                answer
            }
        };
        day::fill_not_held(&mut days, &answer.found, answer.at);
        Ok(days)
    }

    /// The clinic's appointments of the days `from..=to`, every page; `None`
    /// when it cannot answer now (offline, a server error, too busy).
    async fn appointments_of(
        &self,
        token: &str,
        (from, to): (NaiveDate, NaiveDate),
    ) -> Result<Option<Vec<Appointment>>> {
        let mut found = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let asked = self
                .api
                .appointments(token, from, to, cursor.as_deref())
                .await;
            match Asked::from_result(asked) {
                Asked::Answer(page) => {
                    found.extend(page.appointments);
                    match page.next {
                        Some(next) => cursor = Some(next),
                        None => return Ok(Some(found)),
                    }
                }
                Asked::Refused(EngineError::Server(p)) if p.status == 429 => return Ok(None),
                Asked::Refused(e) => return Err(e),
                Asked::Unavailable => return Ok(None),
            }
        }
    }

    /// Free slots of `minutes` on clinic days `first..=last` for one provider
    /// or all (offline: computed from the cached hours and the days held).
    pub async fn slots(
        &self,
        provider: Option<&str>,
        (first, last): (NaiveDate, NaiveDate),
        minutes: u32,
    ) -> Result<FreeSlots> {
        if let Some(token) = self.live_token().await? {
            let asked = self
                .api
                .slots(&token, provider, (first, last), minutes)
                .await;
            match Asked::from_result(asked) {
                Asked::Answer(a) => return Ok(lookup::slots_from_server(a)),
                Asked::Refused(e) => return Err(e),
                Asked::Unavailable => {}
            }
        }
        let now = self.config.clock.now().utc();
        let length = chrono::Duration::minutes(i64::from(minutes));
        self.reader()?
            .free_slots(provider, (first, last), length, now)
    }

    /// The earliest free slots of `minutes` from `after`, across every
    /// provider or one (offline: within the days this desk holds).
    pub async fn next_slots(
        &self,
        provider: Option<&str>,
        after: DateTime<Utc>,
        minutes: u32,
        limit: u32,
    ) -> Result<FreeSlots> {
        if let Some(token) = self.live_token().await? {
            let asked = self
                .api
                .next_slots(&token, provider, after, minutes, limit)
                .await;
            match Asked::from_result(asked) {
                Asked::Answer(a) => return Ok(lookup::slots_from_server(a)),
                Asked::Refused(e) => return Err(e),
                Asked::Unavailable => {}
            }
        }
        let cache = self.reader()?;
        let zone = cache.zone()?;
        let first = after.with_timezone(&zone).date_naive();
        let last = first + chrono::Duration::days(lookup::OFFLINE_SLOT_DAYS);
        let length = chrono::Duration::minutes(i64::from(minutes));
        let mut free = cache.free_slots(provider, (first, last), length, after)?;
        free.slots.truncate(limit as usize);
        Ok(free)
    }

    /// Registers a patient now (it needs the server: only it knows whether
    /// they are registered already). Offline, book with the new patient
    /// inline instead; the server checks them when the booking is sent.
    pub async fn register_patient(&self, new: NewPatient) -> Result<Registered> {
        lookup::check_new_patient(&new)?;
        let token = self.live_token().await?.ok_or_else(|| {
            EngineError::Network("registering a patient needs the connection to the clinic".into())
        })?;
        let key = format!("fd-{}", uuid::Uuid::new_v4().simple());
        match self.api.register_patient(&token, &new, &key).await {
            Ok(patient) => Ok(Registered::Created { patient }),
            Err(EngineError::Server(p)) if p.kind == "possible-duplicate" => {
                Ok(Registered::PossibleDuplicate {
                    candidates: p.candidates.unwrap_or_default(),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// A second, read-only view of the cache for the UI or CLI to query.
    pub fn reader(&self) -> Result<Cache> {
        if self.logged_out.load(Ordering::SeqCst) {
            return Err(EngineError::SignedOut(
                "signed out; the local cache was wiped".into(),
            ));
        }
        Cache::open(&self.config.cache_path(), &self.key)
    }

    fn send(&self, c: Control<Desk>) -> Result<()> {
        self.control
            .send(c)
            .map_err(|_| EngineError::Invalid("engine stopped".into()))
    }

    fn run(&self, f: impl FnOnce(&mut Desk, crate::clock::Now) + Send + 'static) -> Result<()> {
        self.send(Control::Run(Box::new(f)))
    }

    async fn ask<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Desk, crate::clock::Now) -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = oneshot::channel();
        self.run(move |core, now| {
            // The caller may have given up waiting; the work is done anyway.
            tx.send(f(core, now)).ok();
        })?;
        rx.await
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
    let owned = password.to_owned();
    let verifier = tokio::task::spawn_blocking(move || unlock::verifier(&owned))
        .await
        .map_err(|e| EngineError::Invalid(format!("unlock verifier: {e}")))??;
    secrets.set(&config.refresh_secret(), &tokens.refresh_token)?;
    secrets.set(&config.unlock_secret(), &verifier)?;
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
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let api = Api::new(&config.server, config.ca_file.as_deref())?;
    let tls = Tls::new(config.ca_file.as_deref())?;
    let credentials = Arc::new(RefreshCredentials {
        api: api.clone(),
        secrets: secrets.clone(),
        name: config.refresh_secret(),
        lock: config.refresh_lock_path(),
        unsaved: Arc::new(std::sync::Mutex::new(None)),
        updates: updates.clone(),
    });
    let signed_in = has_session(&config, secrets.as_ref()).unwrap_or(false) || tokens.is_some();
    let session = SessionConfig {
        backoff: crate::backoff::Backoff::new(config.backoff_base, config.backoff_cap)
            .with_fast_phase(config.backoff_fast_cap, config.backoff_fast_attempts),
        auth: json!({ "tenant": config.tenant }),
        limits: driver::driven_limits(),
    };
    let clock = config.clock.clone();
    let now = clock.now();
    let mut core = DeskCore::new(cache, session, StdRng::from_os_rng(), now);
    let tokens_given = tokens.as_ref().map(|_| ());
    if let Some(t) = tokens {
        core.set_grant(
            Grant {
                token: t.access_token,
                expires_in: Some(t.expires_in),
            },
            now,
        );
    }
    if signed_in && tokens_given.is_none() && config.locked_at_start {
        core.lock_screen(LockReason::Started);
    }
    if signed_in {
        core.start(now);
    } else {
        core.not_signed_in();
    }
    let state = Arc::new(std::sync::Mutex::new(ConnState::Offline));
    let synced = Arc::new(AtomicBool::new(false));
    let api_for_lookups = api.clone();
    let executor = DeskIo {
        api,
        notifier,
        updates: updates.clone(),
        state: state.clone(),
        synced: synced.clone(),
    };
    let control = driver::spawn(
        core,
        executor,
        &config.server,
        tls,
        credentials.clone(),
        clock,
    );
    Ok(EngineHandle {
        control,
        api: api_for_lookups,
        updates,
        state,
        synced,
        config,
        key,
        credentials,
        startup_warnings: Arc::new(warnings),
        logged_out: Arc::new(AtomicBool::new(false)),
        unlock_guard: Arc::default(),
        asked_week: Arc::default(),
    })
}

/// Carries out the desk core's own outputs.
struct DeskIo {
    api: Api,
    notifier: Arc<dyn Notifier>,
    updates: broadcast::Sender<Update>,
    state: Arc<std::sync::Mutex<ConnState>>,
    synced: Arc<AtomicBool>,
}

impl DeskIo {
    fn publish(&self, u: Update) {
        match &u {
            Update::Connection { state, .. } => {
                if let Ok(mut s) = self.state.lock() {
                    *s = *state;
                }
                if *state != ConnState::Live {
                    self.synced.store(false, Ordering::SeqCst);
                }
            }
            Update::Synced { .. } => self.synced.store(true, Ordering::SeqCst),
            _ => {}
        }
        // Nobody subscribed is fine: the cache and the handle hold the state.
        self.updates.send(u).ok();
    }
}

fn call_error(e: EngineError) -> CallError {
    match e {
        EngineError::Server(p) if p.status == 401 => CallError::Unauthorized,
        e => CallError::Failed(e.to_string()),
    }
}

impl Executor<Desk> for DeskIo {
    fn execute(&mut self, out: DeskOut) -> Option<Task<Desk>> {
        match out {
            DeskOut::Update(u) => {
                self.publish(u);
                None
            }
            DeskOut::Notify(n) => {
                self.notifier.notify(&n);
                self.publish(Update::Notified { notification: n });
                None
            }
            DeskOut::Call { id, token, call } => {
                let api = self.api.clone();
                Some(Box::pin(async move {
                    let answer = match call {
                        DeskCall::Snapshot => DeskAnswer::Snapshot(
                            api.snapshot(&token).await.map(Box::new).map_err(call_error),
                        ),
                        DeskCall::Events {
                            after,
                            after_id,
                            limit,
                        } => DeskAnswer::Events(
                            api.events(&token, after, after_id.as_deref(), limit)
                                .await
                                .map_err(call_error),
                        ),
                        DeskCall::Send { request, key } => {
                            DeskAnswer::Sent(api.send(&token, &request, &key).await)
                        }
                        DeskCall::OlderMessages { thread, before } => DeskAnswer::OlderMessages(
                            api.older_messages(&token, &thread, before.as_deref())
                                .await
                                .map(Box::new)
                                .map_err(call_error),
                        ),
                        DeskCall::Appointments { from, to, cursor } => DeskAnswer::Appointments(
                            api.appointments(&token, from, to, cursor.as_deref())
                                .await
                                .map(Box::new)
                                .map_err(call_error),
                        ),
                    };
                    Box::new(move |core: &mut Desk, now| core.handle_answer(id, answer, now))
                        as Feedback<Desk>
                }))
            }
        }
    }
}

/// A desk's tokens: the refresh token in the keyring, spent and rotated on
/// every renewal.
///
/// Refresh tokens rotate and a spent one presented again revokes the login,
/// so two processes of one user on one PC (the app and `frontdesk-cli`) must
/// not refresh at the same moment: a lock file beside the cache serialises
/// them, and the stored token is read only once the lock is held (the other
/// process may just have rotated it).
pub struct RefreshCredentials {
    api: Api,
    secrets: Arc<dyn SecretStore>,
    /// The keyring entry of the refresh token.
    name: String,
    lock: PathBuf,
    /// A rotated refresh token the keyring failed to store.
    unsaved: Arc<std::sync::Mutex<Option<String>>>,
    updates: broadcast::Sender<Update>,
}

impl RefreshCredentials {
    fn stored(&self) -> Result<String> {
        if let Some(t) = self.unsaved.lock().ok().and_then(|u| u.clone()) {
            return Ok(t);
        }
        self.secrets
            .get(&self.name)?
            .ok_or_else(|| EngineError::SignedOut("no stored session".into()))
    }

    async fn refresh(&self) -> Result<TokenResponse> {
        let _held = RefreshLock::acquire(&self.lock).await?;
        let refresh = self.stored()?;
        let tokens = self.api.refresh(&refresh).await?;
        // The old token is spent now: keep the new one even if the keyring
        // fails, or the next refresh would present the spent one and the
        // server would revoke the login.
        let saved = self.secrets.set(&self.name, &tokens.refresh_token);
        let unsaved = match saved {
            Ok(()) => None,
            Err(e) => {
                let message = format!(
                    "could not save the session in the keyring ({e}); keeping it in memory"
                );
                tracing::warn!("{message}");
                self.updates.send(Update::Warning { message }).ok();
                Some(tokens.refresh_token.clone())
            }
        };
        if let Ok(mut u) = self.unsaved.lock() {
            *u = unsaved;
        }
        Ok(tokens)
    }

    /// Ends the login on the server (best effort).
    /// Ends the login: on the server (best effort) and here. Under the
    /// refresh lock, so a refresh in flight finishes first and its rotated
    /// token is the one revoked and forgotten, not written back afterwards.
    async fn sign_out(&self) -> Result<()> {
        let _held = RefreshLock::acquire(&self.lock).await?;
        match self.stored() {
            Ok(refresh) => {
                if let Err(e) = self.api.logout(&refresh).await {
                    tracing::info!("server logout failed (the local sign-out still happens): {e}");
                }
            }
            Err(e) => tracing::info!("no session to end on the server: {e}"),
        }
        if let Ok(mut u) = self.unsaved.lock() {
            *u = None;
        }
        self.secrets.delete(&self.name)
    }
}

impl Credentials for RefreshCredentials {
    fn renew(
        &self,
        _force: bool,
    ) -> Pin<Box<dyn Future<Output = std::result::Result<Grant, GrantError>> + Send>> {
        let me = RefreshCredentials {
            api: self.api.clone(),
            secrets: self.secrets.clone(),
            name: self.name.clone(),
            lock: self.lock.clone(),
            unsaved: self.unsaved.clone(),
            updates: self.updates.clone(),
        };
        // On a task of its own: once the server has rotated the token, the new
        // one must reach the keyring even if the engine stops meanwhile (the
        // spent one presented at the next start would revoke the login).
        let refresh = tokio::spawn(async move { me.refresh().await });
        Box::pin(async move {
            let done = refresh
                .await
                .unwrap_or_else(|e| Err(EngineError::Network(format!("refresh task: {e}"))));
            match done {
                Ok(t) => Ok(Grant {
                    token: t.access_token,
                    expires_in: Some(t.expires_in),
                }),
                Err(EngineError::SignedOut(reason)) => Err(GrantError::Refused(reason)),
                Err(e) => Err(GrantError::Unavailable(e.to_string())),
            }
        })
    }
}

/// An exclusive lock on a file, held while one process refreshes.
struct RefreshLock(std::fs::File);

impl RefreshLock {
    /// Waits (without blocking the runtime) until no other process holds it.
    async fn acquire(path: &std::path::Path) -> Result<RefreshLock> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(RefreshLock(file)),
                Err(std::fs::TryLockError::WouldBlock)
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(EngineError::Network(
                        "another Frontdesk process has been refreshing this session for 30 s"
                            .into(),
                    ));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
            }
        }
    }
}

impl Drop for RefreshLock {
    fn drop(&mut self) {
        if let Err(e) = self.0.unlock() {
            tracing::warn!("could not release the refresh lock: {e}");
        }
    }
}

fn closing_path(config: &EngineConfig) -> PathBuf {
    config
        .data_dir
        .join(format!(".closing-{}.db", uuid::Uuid::new_v4().simple()))
}
