//! The waiting-room display's client: one socket with a display token, the
//! board refetched on every (re)connect, live queue events applied to it.
//!
//! The same pure pieces as the desk engine ([`Supervisor`], [`Link`],
//! [`connection`]) under a much smaller loop: a board has no cache, no
//! outbox and no presence. What it shows survives outages (the last board
//! stays up, marked stale by its connection state) and restarts (it is kept
//! in a small file beside the app's data; it names no patient).
//!
//! A display token cannot be refreshed. When the server refuses it (the board
//! was removed), the supervisor's one forced retry is answered with the same
//! token, the second refusal signs the board out, and it stops trying.

use crate::backoff::Backoff;
use crate::board::{Applied, BoardState};
use crate::connection::{self, LinkHandle, LinkIo, Tls};
use crate::error::{EngineError, Result};
use crate::link::{Link, LinkEvent, LinkLimits};
use crate::rest::Api;
use crate::supervisor::{Action, ConnState, Input, Supervisor};
use frontdesk_protocol::api::{CreateDisplay, DisplayToken};
use frontdesk_protocol::envelope::Envelope;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{broadcast, mpsc};

/// Where a board connects and where it keeps its last known state.
#[derive(Debug, Clone)]
pub struct BoardConfig {
    pub server: String,
    pub tenant: String,
    /// The file the last board is kept in (None: memory only).
    pub saved: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// Retry delays, as for the desk engine.
    pub backoff: Backoff,
}

impl BoardConfig {
    /// Defaults: retries within 1.5 s for the first 40 attempts (a server
    /// restart), then up to 30 s.
    pub fn new(server: &str, tenant: &str, saved: Option<PathBuf>) -> BoardConfig {
        BoardConfig {
            server: server.trim_end_matches('/').to_owned(),
            tenant: tenant.to_owned(),
            saved,
            ca_file: None,
            backoff: Backoff::new(Duration::from_millis(250), Duration::from_secs(30))
                .with_fast_phase(Duration::from_millis(1500), 40),
        }
    }
}

/// What the screen draws: the connection and the last known board.
#[derive(Debug, Clone, Serialize)]
pub struct BoardView {
    pub state: ConnState,
    pub detail: String,
    pub board: Option<BoardState>,
}

/// What a board publishes to the screen.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BoardUpdate {
    Connection {
        state: ConnState,
        detail: String,
    },
    Board {
        board: BoardState,
    },
    /// A ticket was called (or recalled) to a room: chime.
    Called {
        ticket: String,
        room: String,
    },
}

/// A running board client.
#[derive(Clone)]
pub struct BoardHandle {
    updates: broadcast::Sender<BoardUpdate>,
    view: Arc<Mutex<BoardView>>,
    stop: mpsc::UnboundedSender<tokio::sync::oneshot::Sender<()>>,
}

impl BoardHandle {
    /// Updates from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<BoardUpdate> {
        self.updates.subscribe()
    }

    /// What the screen should show now.
    pub fn view(&self) -> BoardView {
        self.view
            .lock()
            .map(|v| v.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Stops the client and closes its socket.
    pub async fn shutdown(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.stop.send(tx).is_ok() {
            let _ = rx.await;
        }
    }
}

/// Registers a new waiting-room board as an admin of `tenant`, for all the
/// clinic's providers, and returns its token. The admin's session is ended
/// at once: the screen keeps only the display token, which can do nothing
/// but read its board.
pub async fn register(
    server: &str,
    tenant: &str,
    admin: &str,
    password: &str,
    name: &str,
    ca_file: Option<&std::path::Path>,
) -> Result<DisplayToken> {
    let api = Api::new(server, ca_file)?;
    let tokens = api.login(tenant, admin, password).await?;
    let created = async {
        let providers = api.snapshot(&tokens.access_token).await?.providers;
        let req = CreateDisplay {
            name: name.trim().to_owned(),
            provider_ids: providers.into_iter().map(|p| p.id).collect(),
        };
        api.create_display(&tokens.access_token, &req).await
    }
    .await;
    if let Err(e) = api.logout(&tokens.refresh_token).await {
        tracing::warn!("could not end the admin session used for display set-up: {e}");
    }
    created
}

/// Starts a board client with `token`.
pub fn start(config: BoardConfig, token: String) -> Result<BoardHandle> {
    let api = Api::new(&config.server, config.ca_file.as_deref())?;
    let tls = Tls::new(config.ca_file.as_deref())?;
    let saved = config
        .saved
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice::<BoardState>(&b).ok());
    let view = Arc::new(Mutex::new(BoardView {
        state: ConnState::Offline,
        detail: "starting".into(),
        board: saved.clone(),
    }));
    let (updates, _) = broadcast::channel(256);
    let (stop, stop_rx) = mpsc::unbounded_channel();
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let board_loop = BoardLoop {
        supervisor: Supervisor::new(config.backoff.clone()),
        config,
        api,
        tls,
        token,
        rng: StdRng::from_os_rng(),
        updates: updates.clone(),
        view: view.clone(),
        board: saved,
        link: None,
        generation: 0,
        reports_tx,
        retry_at: None,
    };
    tokio::spawn(board_loop.run(stop_rx, reports_rx));
    Ok(BoardHandle {
        updates,
        view,
        stop,
    })
}

struct OpenLink {
    generation: u64,
    io: LinkHandle,
    link: Link,
}

struct BoardLoop {
    config: BoardConfig,
    api: Api,
    tls: Tls,
    token: String,
    supervisor: Supervisor,
    rng: StdRng,
    updates: broadcast::Sender<BoardUpdate>,
    view: Arc<Mutex<BoardView>>,
    board: Option<BoardState>,
    link: Option<OpenLink>,
    generation: u64,
    reports_tx: mpsc::UnboundedSender<(u64, LinkIo)>,
    retry_at: Option<tokio::time::Instant>,
}

impl BoardLoop {
    async fn run(
        mut self,
        mut stop: mpsc::UnboundedReceiver<tokio::sync::oneshot::Sender<()>>,
        mut reports: mpsc::UnboundedReceiver<(u64, LinkIo)>,
    ) {
        self.input(Input::Start).await;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            let retry = self.retry_at;
            tokio::select! {
                biased;
                Some((generation, io)) = reports.recv() => self.link_io(generation, io).await,
                done = stop.recv() => {
                    self.input(Input::Stop { sign_out: false }).await;
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                    break;
                }
                _ = async { match retry { Some(t) => tokio::time::sleep_until(t).await, None => std::future::pending().await } } => {
                    self.retry_at = None;
                    self.input(Input::RetryTimer).await;
                }
                _ = tick.tick() => {
                    // Liveness on wall-clock time, as in the desk engine.
                    if let Some(l) = &self.link
                        && let Err(dead) = l.link.check_alive(SystemTime::now())
                    {
                        let reason = format!("no word from the server for {:.0}s", dead.silent_for.as_secs_f64());
                        self.link_event(LinkEvent::Closed { reason }).await;
                    }
                }
            }
        }
    }

    fn publish(&self, u: BoardUpdate) {
        if let Ok(mut v) = self.view.lock() {
            match &u {
                BoardUpdate::Connection { state, detail } => {
                    v.state = *state;
                    v.detail = detail.clone();
                }
                BoardUpdate::Board { board } => v.board = Some(board.clone()),
                BoardUpdate::Called { .. } => {}
            }
        }
        let _ = self.updates.send(u);
    }

    /// Feeds the supervisor and carries out what it asks, until nothing is left.
    async fn input(&mut self, first: Input) {
        let mut inputs = VecDeque::from([first]);
        while let Some(input) = inputs.pop_front() {
            let was_live = self.supervisor.state() == ConnState::Live;
            for action in self.supervisor.handle(input, &mut self.rng) {
                match action {
                    Action::Publish(state, detail) => {
                        self.publish(BoardUpdate::Connection { state, detail })
                    }
                    // The display token is all there is: a forced "refresh"
                    // presents it once more, and a second refusal signs out.
                    Action::EnsureToken { .. } => inputs.push_back(Input::TokenReady),
                    Action::OpenLink => inputs.extend(self.open_link().await),
                    Action::CloseLink => self.close_link(),
                    Action::ScheduleRetry(d) => {
                        self.retry_at = Some(tokio::time::Instant::now() + d)
                    }
                    Action::CancelRetry => self.retry_at = None,
                }
            }
            if !was_live && self.supervisor.state() == ConnState::Live {
                inputs.extend(self.refetch().await);
            }
        }
    }

    /// After every connect: the board as the server has it now.
    async fn refetch(&mut self) -> Option<Input> {
        match self.api.board(&self.token).await {
            Ok(b) => {
                let board = BoardState::fetched(b, chrono::Utc::now());
                self.save(&board);
                self.board = Some(board.clone());
                self.publish(BoardUpdate::Board { board });
                None
            }
            Err(EngineError::Server(p)) if p.status == 401 => Some(Input::Refused {
                message: format!("unauthorized: {}", p.detail.as_deref().unwrap_or(&p.title)),
            }),
            Err(e) => Some(Input::LinkLost {
                reason: format!("could not read the board ({e})"),
            }),
        }
    }

    fn save(&self, board: &BoardState) {
        let Some(path) = &self.config.saved else {
            return;
        };
        let written = serde_json::to_vec(board)
            .map_err(std::io::Error::other)
            .and_then(|bytes| {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, bytes)?;
                std::fs::rename(&tmp, path)
            });
        if let Err(e) = written {
            tracing::warn!("could not keep the board in {}: {e}", path.display());
        }
    }

    async fn open_link(&mut self) -> Option<Input> {
        self.close_link();
        self.generation += 1;
        let limits = LinkLimits {
            answer_pings: false,
            ..LinkLimits::default()
        };
        match connection::open(
            &self.config.server,
            &self.tls,
            limits.max_frame,
            self.generation,
            self.reports_tx.clone(),
        )
        .await
        {
            Ok(io) => {
                let auth = json!({"token": self.token, "tenant": self.config.tenant});
                self.link = Some(OpenLink {
                    generation: self.generation,
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
        let Some(open) = self.link.as_mut().filter(|l| l.generation == generation) else {
            return;
        };
        let now = SystemTime::now();
        let events = match io {
            LinkIo::Text(t) => open.link.handle_text(&t, now),
            LinkIo::Binary(b) => open.link.handle_binary(b, now),
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
            LinkEvent::Refused { message } => self.input(Input::Refused { message }).await,
            LinkEvent::Closed { reason } => {
                self.link = None;
                let input = if self.supervisor.state() == ConnState::Live {
                    Input::LinkLost { reason }
                } else {
                    Input::ConnectFailed { reason }
                };
                self.input(input).await;
            }
            LinkEvent::Event { args, ack, .. } => {
                if let (Some(id), Some(l)) = (ack, &self.link) {
                    l.io.send(l.link.ack(id, vec![json!({"ok": true})]));
                }
                self.live_event(args.into_iter().next().unwrap_or(Value::Null));
            }
            LinkEvent::Ack { .. } => {}
            LinkEvent::Ignored { reason } => tracing::debug!("board ignored a frame: {reason}"),
        }
    }

    fn live_event(&mut self, data: Value) {
        let Some(board) = self.board.as_mut() else {
            return; // not fetched yet: the fetch will include it
        };
        let Ok(env) = serde_json::from_value::<Envelope>(data) else {
            return;
        };
        let applied = board.apply(&env, chrono::Utc::now());
        if applied == Applied::Unchanged {
            return;
        }
        let board = board.clone();
        self.save(&board);
        if let Applied::Called(entry) = applied {
            let room = board.room_name(entry.room_id.as_deref()).to_owned();
            self.publish(BoardUpdate::Called {
                ticket: entry.ticket,
                room,
            });
        }
        self.publish(BoardUpdate::Board { board });
    }
}
