//! One authenticated Socket.IO session that keeps itself up: the
//! [`Supervisor`], the [`Link`] of the moment, the retry timer, liveness and
//! the access token, as one pure state machine shared by the desk
//! ([`crate::desk`]) and the waiting-room board ([`crate::board_client`]).
//!
//! Contract (quinn-proto style): feed it what happened with the time it
//! happened (`handle_socket`, `handle_grant`, `handle_timeout`, and the
//! commands `start`, `stop`, `retry_now`, `lose`, `healthy`), then drain
//! [`Session::poll_output`] (what the driver must do: open, send, close,
//! renew the token) and [`Session::poll_event`] (what the application above
//! must know: the state shown to the user, live or not, events from the
//! server), and sleep until [`Session::poll_timeout`]. It never touches a
//! socket or reads a clock.
//!
//! How a token is obtained is not its business: it asks for one
//! ([`SessionOutput::Renew`]) and the driver's [`crate::driver::Credentials`]
//! answer (a refresh for a desk, the fixed display token for a board).

use crate::backoff::Backoff;
use crate::clock::Now;
use crate::link::{Link, LinkEvent, LinkLimits, RefusalKind};
use crate::supervisor::{Action, ConnState, Input, Supervisor};
use rand::rngs::StdRng;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime};

/// How long a live session waits after a failed token renewal before it
/// asks again (the link stays up meanwhile, until the server closes it).
pub const RENEW_RETRY: Duration = Duration::from_secs(15);

/// What the driver must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionOutput {
    /// Open a WebSocket for link `generation` and report what comes of it
    /// (opened, frames, closed) tagged with that generation.
    Open { generation: u64 },
    /// Send a text frame on link `generation`.
    Send { generation: u64, frame: String },
    /// Close link `generation` (an old one may already be gone).
    Close { generation: u64 },
    /// Get a fresh access token; answer with [`Session::handle_grant`].
    Renew { force: bool },
}

/// What the application above the session must know.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// The state to show (offline, connecting, live, …) with a detail.
    State { state: ConnState, detail: String },
    /// CONNECT was accepted: the session is live.
    Live,
    /// The live session ended (lost, stopped, signed out).
    Down,
    /// An event from the server (already acknowledged if it asked).
    Event { name: String, data: Value },
    /// The server answered one of our emits.
    Ack { args: Vec<Value> },
    /// A token renewal the application was waiting for failed while live.
    GrantFailed { refused: bool, reason: String },
}

/// What a socket did, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketReport {
    /// The WebSocket is open (the Engine.IO handshake follows as text).
    Opened,
    Text(String),
    Binary(Vec<u8>),
    /// It could not be opened, or it closed; nothing more will come.
    Closed(String),
}

/// A fresh access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub token: String,
    /// Seconds it lives (as the server says); `None` for a token that does
    /// not expire by time (a display token).
    pub expires_in: Option<u64>,
}

/// Why no token could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantError {
    /// The server refused the credentials for good: signed out.
    Refused(String),
    /// The server could not be asked, or failed: try again later.
    Unavailable(String),
}

/// What a session is configured with.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub backoff: Backoff,
    /// Fields sent in CONNECT beside the token (the tenant).
    pub auth: Value,
    pub limits: LinkLimits,
}

#[derive(Debug, Clone)]
struct Access {
    token: String,
    /// When to replace it (None: never by time).
    renew_at: Option<SystemTime>,
    /// When it expires: past it, a live link's renewal is no longer
    /// attempted ahead of need (the server has closed that socket).
    expires_at: Option<SystemTime>,
}

/// The session's state.
#[derive(Debug)]
pub struct Session {
    supervisor: Supervisor,
    rng: StdRng,
    auth: Value,
    limits: LinkLimits,
    link: Option<Link>,
    generation: u64,
    retry_at: Option<Instant>,
    access: Option<Access>,
    /// A renewal is in flight.
    renewing: bool,
    /// After a failed renewal while live: not before this again.
    renew_retry_at: Option<Instant>,
    /// The supervisor waits for a token before it opens a link.
    awaiting_token: bool,
    /// The last time handed in: deadlines on the wall clock are placed on the
    /// monotonic one from it.
    now: Now,
    out: VecDeque<SessionOutput>,
    events: VecDeque<SessionEvent>,
}

/// When to replace a token that lives `expires_in` seconds from `now`: a
/// quarter of its lifetime (at most 30 s) early, so a request never carries
/// one that expires in flight, and the live socket is shown its successor
/// (`reauth`) before the server closes it at the old one's expiry.
///
/// Wall-clock time, not `Instant`: a laptop that slept through the expiry must
/// see the token as stale when it wakes. Only our own clock is compared with
/// itself, so a PC clock that is hours off does not matter. The server's
/// figure is capped at a day so a bogus one cannot overflow.
pub fn renew_at(expires_in: u64, now: SystemTime) -> SystemTime {
    let life = token_life(expires_in);
    now + life - (life / 4).min(Duration::from_secs(30))
}

/// How long a token said to live `expires_in` seconds surely lives: its
/// `exp` is in whole seconds, counted from when it was issued, so it may end
/// up to a second sooner than `expires_in` after we received it. A server
/// saying 0 must not make every call renew first: two seconds at least
/// (the server holds a socket to the token's real expiry, so a longer floor
/// would outlive it).
fn token_life(expires_in: u64) -> Duration {
    Duration::from_secs(expires_in.clamp(2, 86_400) - 1)
}

impl Session {
    /// A session, offline until [`Session::start`]. `rng` draws the backoff
    /// jitter (seeded from the OS by drivers, fixed by tests).
    pub fn new(config: SessionConfig, rng: StdRng, now: Now) -> Session {
        Session {
            supervisor: Supervisor::new(config.backoff),
            rng,
            auth: config.auth,
            limits: config.limits,
            link: None,
            generation: 0,
            retry_at: None,
            access: None,
            renewing: false,
            renew_retry_at: None,
            awaiting_token: false,
            now,
            out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The state shown to the user.
    pub fn state(&self) -> ConnState {
        self.supervisor.state()
    }

    /// Whether CONNECT was accepted and the link is up.
    pub fn is_live(&self) -> bool {
        self.supervisor.state() == ConnState::Live
    }

    /// A token granted before the session started (at sign-in).
    pub fn set_grant(&mut self, grant: Grant, now: Now) {
        self.now = now;
        self.access = Some(Access {
            renew_at: grant.expires_in.map(|s| renew_at(s, now.wall)),
            expires_at: grant.expires_in.map(|s| now.wall + token_life(s)),
            token: grant.token,
        });
    }

    /// The access token, if it is fresh at `now`.
    pub fn token(&self, now: Now) -> Option<&str> {
        self.access
            .as_ref()
            .filter(|a| a.renew_at.is_none_or(|t| t > now.wall))
            .map(|a| a.token.as_str())
    }

    /// Asks the driver for a fresh token unless one is already on its way.
    pub fn request_token(&mut self, force: bool) {
        if !self.renewing {
            self.renewing = true;
            self.out.push_back(SessionOutput::Renew { force });
        }
    }

    /// The server did not accept the token on a request: never use it again.
    pub fn forget_token(&mut self) {
        self.access = None;
    }

    /// A request made with `token` was refused: forget it, unless a newer
    /// one has been granted since (a late answer must not discard it).
    pub fn forget_token_if(&mut self, token: &str) {
        if self.access.as_ref().is_some_and(|a| a.token == token) {
            self.access = None;
        }
    }

    /// Starts connecting.
    pub fn start(&mut self, now: Now) {
        self.input(Input::Start, now);
    }

    /// Stops (the app quits, or the user signs out).
    pub fn stop(&mut self, sign_out: bool, now: Now) {
        self.input(Input::Stop { sign_out }, now);
        if sign_out {
            self.access = None;
        }
    }

    /// Retries at once if waiting to reconnect (the network came back).
    pub fn retry_now(&mut self, now: Now) {
        self.input(Input::RetryNow, now);
    }

    /// The application cannot work on this link (it could not catch up):
    /// drop it and reconnect after the backoff.
    pub fn lose(&mut self, reason: &str, now: Now) {
        if let Some(generation) = self.link.is_some().then_some(self.generation) {
            self.out.push_back(SessionOutput::Close { generation });
        }
        self.link = None;
        self.input(
            Input::LinkLost {
                reason: reason.to_owned(),
            },
            now,
        );
    }

    /// The live session did its job: the next loss backs off from the start.
    pub fn healthy(&mut self, now: Now) {
        self.input(Input::Healthy, now);
    }

    /// Emits `name(data)` with an ack request, if live. Returns whether it was sent.
    pub fn emit(&mut self, name: &str, data: Value) -> bool {
        if !self.is_live() {
            return false;
        }
        let Some(link) = self.link.as_mut() else {
            return false;
        };
        let (_, frame) = link.emit(name, data, true);
        self.out.push_back(SessionOutput::Send {
            generation: self.generation,
            frame,
        });
        true
    }

    /// What a socket did.
    pub fn handle_socket(&mut self, generation: u64, report: SocketReport, now: Now) {
        self.now = now;
        if generation != self.generation {
            return; // a report from a link already replaced
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let events = match report {
            SocketReport::Opened => Vec::new(),
            SocketReport::Text(t) => link.handle_text(&t, now.wall),
            SocketReport::Binary(b) => link.handle_binary(b, now.wall),
            SocketReport::Closed(reason) => vec![LinkEvent::Closed { reason }],
        };
        for e in events {
            self.link_event(e, now);
        }
    }

    /// The answer to [`SessionOutput::Renew`].
    pub fn handle_grant(&mut self, grant: Result<Grant, GrantError>, now: Now) {
        self.now = now;
        self.renewing = false;
        let waiting = std::mem::take(&mut self.awaiting_token);
        self.renew_retry_at = grant.is_err().then(|| now.mono + RENEW_RETRY);
        match grant {
            Ok(g) => {
                let expiring = g.expires_in.is_some();
                let token = g.token.clone();
                self.set_grant(g, now);
                if waiting {
                    self.input(Input::TokenReady, now);
                } else if expiring && self.is_live() {
                    // The live socket was authenticated with the old token,
                    // which the server holds it to: show it the new one.
                    self.emit(crate::REAUTH_EVENT, json!({ "token": token }));
                }
            }
            Err(e) => {
                let (refused, reason) = match e {
                    GrantError::Refused(r) => (true, r),
                    GrantError::Unavailable(r) => (false, r),
                };
                if !waiting && self.is_live() {
                    self.events.push_back(SessionEvent::GrantFailed {
                        refused,
                        reason: reason.clone(),
                    });
                }
                if waiting || refused {
                    self.input(
                        Input::RefreshFailed {
                            auth: refused,
                            reason,
                        },
                        now,
                    );
                }
            }
        }
    }

    /// Time passed: retry timer, liveness, the live token's renewal.
    pub fn handle_timeout(&mut self, now: Now) {
        self.now = now;
        if self.retry_at.is_some_and(|t| t <= now.mono) {
            self.retry_at = None;
            self.input(Input::RetryTimer, now);
        }
        if self.is_live()
            && self.renew_due(now.wall).is_some_and(|t| t <= now.wall)
            && self.renew_retry_at.is_none_or(|t| t <= now.mono)
        {
            // Renewed ahead of its expiry, so the socket never outlives it.
            self.request_token(false);
        }
        if let Some(dead) = self
            .link
            .as_ref()
            .and_then(|l| l.check_alive(now.wall).err())
        {
            let reason = format!(
                "no word from the server for {:.0}s",
                dead.silent_for.as_secs_f64()
            );
            self.link_event(LinkEvent::Closed { reason }, now);
        }
    }

    /// The next moment [`Session::handle_timeout`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let liveness = self.link.as_ref().map(|l| {
            self.now
                .mono_at(l.deadline() + Duration::from_millis(1))
                .max(self.now.mono)
        });
        let renewal = self
            .renew_due(self.now.wall)
            .filter(|_| self.is_live())
            .map(|t| {
                let due = self.now.mono_at(t).max(self.now.mono);
                self.renew_retry_at.map_or(due, |retry| due.max(retry))
            });
        [self.retry_at, liveness, renewal]
            .into_iter()
            .flatten()
            .min()
    }

    /// When the token should be replaced, unless a renewal is on its way.
    fn renew_due(&self, wall: SystemTime) -> Option<SystemTime> {
        if self.renewing {
            return None;
        }
        self.access
            .as_ref()
            .filter(|a| a.expires_at.is_some_and(|e| wall < e))
            .and_then(|a| a.renew_at)
    }

    /// The next thing the driver must do.
    pub fn poll_output(&mut self) -> Option<SessionOutput> {
        self.out.pop_front()
    }

    /// Whether events wait for [`Session::poll_event`].
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next thing the application must know.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    fn link_event(&mut self, event: LinkEvent, now: Now) {
        let generation = self.generation;
        match event {
            LinkEvent::Send(frame) => self
                .out
                .push_back(SessionOutput::Send { generation, frame }),
            LinkEvent::Connected { .. } => self.input(Input::Connected, now),
            LinkEvent::Refused(refusal) => {
                // Whatever the reason, this access token is not to be tried again.
                if refusal.kind == RefusalKind::Unauthorized {
                    self.access = None;
                }
                self.input(Input::Refused(refusal), now);
            }
            LinkEvent::Closed { reason } => {
                if self.link.take().is_some() {
                    self.out.push_back(SessionOutput::Close { generation });
                }
                let input = if self.is_live() {
                    Input::LinkLost { reason }
                } else {
                    Input::ConnectFailed { reason }
                };
                self.input(input, now);
            }
            LinkEvent::Event { name, args, ack } => {
                if let (Some(id), Some(l)) = (ack, &self.link) {
                    let frame = l.ack(id, vec![json!({"ok": true})]);
                    self.out
                        .push_back(SessionOutput::Send { generation, frame });
                }
                let data = args.into_iter().next().unwrap_or(Value::Null);
                self.events.push_back(SessionEvent::Event { name, data });
            }
            LinkEvent::Ack { args, .. } => self.events.push_back(SessionEvent::Ack { args }),
            LinkEvent::Ignored { reason } => tracing::debug!("ignored a frame: {reason}"),
        }
    }

    /// Feeds the supervisor and carries out what it asks, until nothing is left.
    fn input(&mut self, first: Input, now: Now) {
        self.now = now;
        let mut inputs = VecDeque::from([first]);
        while let Some(input) = inputs.pop_front() {
            let was_live = self.is_live();
            for action in self.supervisor.handle(input, &mut self.rng) {
                match action {
                    Action::Publish(state, detail) => {
                        self.events.push_back(SessionEvent::State { state, detail })
                    }
                    Action::EnsureToken { force } => {
                        if !force && self.token(now).is_some() {
                            inputs.push_back(Input::TokenReady);
                        } else {
                            if force {
                                self.access = None;
                            }
                            self.awaiting_token = true;
                            self.request_token(force);
                        }
                    }
                    Action::OpenLink => self.open_link(now),
                    Action::CloseLink => {
                        if self.link.take().is_some() {
                            self.out.push_back(SessionOutput::Close {
                                generation: self.generation,
                            });
                        }
                    }
                    Action::ScheduleRetry(d) => self.retry_at = Some(now.mono + d),
                    Action::CancelRetry => self.retry_at = None,
                }
            }
            match (was_live, self.is_live()) {
                (false, true) => self.events.push_back(SessionEvent::Live),
                (true, false) => self.events.push_back(SessionEvent::Down),
                _ => {}
            }
        }
    }

    fn open_link(&mut self, now: Now) {
        if self.link.take().is_some() {
            self.out.push_back(SessionOutput::Close {
                generation: self.generation,
            });
        }
        let Some(token) = self.token(now).map(str::to_owned) else {
            // The token went stale between the check and now: ask again.
            self.awaiting_token = true;
            self.request_token(false);
            return;
        };
        let mut auth = self.auth.clone();
        if let Value::Object(fields) = &mut auth {
            fields.insert("token".into(), Value::String(token));
        } else {
            auth = json!({ "token": token });
        }
        self.generation += 1;
        self.link = Some(Link::new(auth, self.limits, now.wall));
        self.out.push_back(SessionOutput::Open {
            generation: self.generation,
        });
    }
}

/// A session config and a starting time for unit tests of the cores.
#[cfg(test)]
pub(crate) fn test_config() -> (SessionConfig, Now) {
    let now = Now {
        mono: Instant::now(),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    };
    let config = SessionConfig {
        backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(30)),
        auth: json!({"tenant": "demo"}),
        limits: LinkLimits::default(),
    };
    (config, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn session() -> (Session, Now) {
        let (config, now) = test_config();
        (Session::new(config, StdRng::seed_from_u64(1), now), now)
    }

    fn grant(token: &str, expires_in: u64) -> Grant {
        Grant {
            token: token.into(),
            expires_in: Some(expires_in),
        }
    }

    const OPEN: &str = r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000}"#;

    /// A session live on its first link with token `t1` (valid 900 s).
    fn live() -> (Session, Now, u64) {
        let (mut s, now) = session();
        s.set_grant(grant("t1", 900), now);
        s.start(now);
        let mut generation = None;
        while let Some(o) = s.poll_output() {
            if let SessionOutput::Open { generation: g } = o {
                generation = Some(g);
            }
        }
        let g = generation.expect("a link is opened");
        s.handle_socket(g, SocketReport::Opened, now);
        s.handle_socket(g, SocketReport::Text(OPEN.into()), now);
        s.handle_socket(g, SocketReport::Text(r#"40{"sid":"x"}"#.into()), now);
        assert!(s.is_live());
        while s.poll_output().is_some() {}
        (s, now, g)
    }

    #[test]
    fn a_live_session_renews_its_token_ahead_of_expiry_and_shows_the_server_the_new_one() {
        let (mut s, start, g) = live();
        let mut renewals = Vec::new();
        // Fifteen minutes, the server pinging every 25 s as it does.
        for t in (5..=900).step_by(5) {
            let now = start.after(Duration::from_secs(t));
            if t % 25 == 0 {
                s.handle_socket(g, SocketReport::Text("2".into()), now);
            }
            if t <= 870 {
                let renewal = start.after(Duration::from_secs(870)).mono;
                assert!(
                    s.poll_timeout().is_some_and(|due| due <= renewal),
                    "wakes for it"
                );
            }
            s.handle_timeout(now);
            while let Some(o) = s.poll_output() {
                if let SessionOutput::Renew { force } = o {
                    renewals.push((t, force));
                }
            }
            if t == 875 {
                break;
            }
        }
        assert_eq!(
            renewals,
            [(870, false)],
            "once, 30 s before expiry, while live"
        );
        let now = start.after(Duration::from_secs(876));
        s.handle_grant(Ok(grant("t2", 900)), now);
        let sent: Vec<String> = std::iter::from_fn(|| s.poll_output())
            .filter_map(|o| match o {
                SessionOutput::Send { frame, .. } => Some(frame),
                _ => None,
            })
            .collect();
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(sent[0].contains(r#""reauth",{"token":"t2"}"#), "{sent:?}");
        assert!(s.is_live(), "the link was never dropped");
        // The next renewal is 870 s after this grant, not before.
        assert!(
            s.poll_timeout()
                .is_some_and(|due| due >= now.after(Duration::from_secs(25)).mono)
        );
        // A board's token does not expire by time: nothing to show.
        s.handle_grant(
            Ok(Grant {
                token: "d".into(),
                expires_in: None,
            }),
            now,
        );
        assert!(std::iter::from_fn(|| s.poll_output()).next().is_none());
    }

    #[test]
    fn a_failed_renewal_while_live_is_tried_again_after_a_pause_until_the_token_expires() {
        let (mut s, start, g) = live();
        let mut asked = Vec::new();
        for t in (5..=1200).step_by(5) {
            let now = start.after(Duration::from_secs(t));
            if t % 25 == 0 {
                s.handle_socket(g, SocketReport::Text("2".into()), now);
            }
            s.handle_timeout(now);
            while let Some(o) = s.poll_output() {
                if let SessionOutput::Renew { .. } = o {
                    asked.push(t);
                    s.handle_grant(Err(GrantError::Unavailable("503".into())), now);
                }
            }
        }
        // At 870 s, then every 15 s while the token is good; none once it expired.
        assert_eq!(asked, [870, 885]);
        assert!(s.is_live(), "the link is the server's to close");
    }

    #[test]
    fn a_late_refusal_does_not_discard_a_newer_token() {
        let (mut s, now) = session();
        s.set_grant(grant("t1", 900), now);
        s.set_grant(grant("t2", 900), now);
        s.forget_token_if("t1");
        assert_eq!(s.token(now), Some("t2"));
        s.forget_token_if("t2");
        assert_eq!(s.token(now), None);
    }

    #[test]
    fn tokens_are_renewed_ahead_of_expiry_and_never_live_under_two_seconds() {
        let (mut s, now) = session();
        s.set_grant(grant("t", 900), now);
        assert!(s.token(now.after(Duration::from_secs(868))).is_some());
        assert!(
            s.token(now.after(Duration::from_secs(870))).is_none(),
            "30 s early, and a second for exp's whole seconds"
        );
        s.set_grant(grant("z", 0), now);
        assert!(
            s.token(now.after(Duration::from_millis(500))).is_some(),
            "a floor, not 0"
        );
        assert!(s.token(now.after(Duration::from_millis(800))).is_none());
        // A display token never expires by time.
        s.set_grant(
            Grant {
                token: "d".into(),
                expires_in: None,
            },
            now,
        );
        assert!(
            s.token(now.after(Duration::from_secs(86_400 * 365)))
                .is_some()
        );
    }

    #[test]
    fn only_one_renewal_is_asked_for_at_a_time() {
        let (mut s, _) = session();
        s.request_token(false);
        s.request_token(true);
        let renewals = std::iter::from_fn(|| s.poll_output())
            .filter(|o| matches!(o, SessionOutput::Renew { .. }))
            .count();
        assert_eq!(renewals, 1);
    }
}
