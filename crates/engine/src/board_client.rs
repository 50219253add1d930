//! The waiting-room display's client: one socket with a display token, the
//! board refetched on every (re)connect, live queue events applied to it.
//!
//! [`BoardCore`] is a pure state machine over the same [`Session`] as the
//! desk, run by the same [`crate::driver`]: a board has no cache, no outbox
//! and no presence. What it shows survives outages (the last board stays up,
//! marked stale by its connection state) and restarts (it is kept in a small
//! file beside the app's data; it names no patient).
//!
//! A display token cannot be refreshed ([`FixedToken`]). When the server
//! refuses it (the board was removed), the supervisor's one forced retry is
//! answered with the same token, the second refusal signs the board out, and
//! it stops trying.

use crate::backoff::Backoff;
use crate::board::{Applied, BoardState};
use crate::clock::{Clock, Now, SystemClock};
use crate::connection::Tls;
use crate::driver::{self, Control, Core, Executor, FixedToken, Task};
use crate::error::{EngineError, Result};
use crate::rest::Api;
use crate::session::{Session, SessionConfig, SessionEvent};
use crate::supervisor::ConnState;
use frontdesk_protocol::api::{Board, CreateDisplay, DisplayToken};
use frontdesk_protocol::envelope::Envelope;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use serde_json::json;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
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
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct BoardView {
    pub state: ConnState,
    pub detail: String,
    pub board: Option<BoardState>,
}

/// What a board publishes to the screen.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
#[ts(export)]
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
    control: mpsc::UnboundedSender<Control<BoardCore>>,
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
        let stop = Control::Run(Box::new(|core: &mut BoardCore, now| core.stop(now)));
        if self.control.send(stop).is_ok() && self.control.send(Control::Stop(tx)).is_ok() {
            // An error means the driver already ended: stopped either way.
            rx.await.ok();
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
    // No providers named: the whole clinic, providers added later included.
    let req = CreateDisplay {
        name: name.trim().to_owned(),
        provider_ids: Vec::new(),
    };
    let created = api.create_display(&tokens.access_token, &req).await;
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
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let now = clock.now();
    let mut core = BoardCore::new(
        SessionConfig {
            backoff: config.backoff.clone(),
            auth: json!({ "tenant": config.tenant }),
            limits: driver::driven_limits(),
        },
        StdRng::from_os_rng(),
        saved,
        now,
    );
    core.start(now);
    let executor = BoardIo {
        api,
        saved: config.saved.clone(),
        updates: updates.clone(),
        view: view.clone(),
    };
    let token: Arc<dyn driver::Credentials> = Arc::new(FixedToken(token));
    let control = driver::spawn(core, executor, &config.server, tls, token, clock);
    Ok(BoardHandle {
        updates,
        view,
        control,
    })
}

/// What a [`BoardCore`] asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum BoardOut {
    /// `GET /api/board` with `token`; answer with [`BoardCore::handle_board`].
    Fetch { id: u64, token: String },
    /// Keep this board on disk (it survives a restart).
    Save(BoardState),
    /// Tell the screen.
    Update(BoardUpdate),
}

/// How a board fetch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// `401`: the display token is no longer accepted.
    Unauthorized(String),
    /// Anything else: try again after reconnecting.
    Failed(String),
}

/// The waiting-room board as a pure state machine: the session, the last
/// known board, and the one fetch that may be in flight.
pub struct BoardCore {
    session: Session,
    board: Option<BoardState>,
    fetching: Option<u64>,
    /// Live events that arrived while the fetch was in flight: applied on top
    /// of the fetched board (those it already reflects are skipped by seq).
    held: Vec<Envelope>,
    next_id: u64,
    out: VecDeque<BoardOut>,
}

impl BoardCore {
    /// A board that shows `saved` until it has fetched its own.
    pub fn new(
        config: SessionConfig,
        rng: StdRng,
        saved: Option<BoardState>,
        now: Now,
    ) -> BoardCore {
        BoardCore {
            session: Session::new(config, rng, now),
            board: saved,
            fetching: None,
            held: Vec::new(),
            next_id: 0,
            out: VecDeque::new(),
        }
    }

    /// Starts connecting.
    pub fn start(&mut self, now: Now) {
        self.session.start(now);
        self.after_session(now);
    }

    /// Stops and closes the socket.
    pub fn stop(&mut self, now: Now) {
        self.session.stop(false, now);
        self.after_session(now);
    }

    /// The board as last known.
    pub fn board(&self) -> Option<&BoardState> {
        self.board.as_ref()
    }

    /// The answer to [`BoardOut::Fetch`] `id`.
    pub fn handle_board(
        &mut self,
        id: u64,
        answer: std::result::Result<Board, FetchError>,
        now: Now,
    ) {
        if self.fetching != Some(id) {
            return; // asked on a link that is gone
        }
        self.fetching = None;
        match answer {
            Ok(b) => {
                let board = BoardState::fetched(b, now.utc());
                self.board = Some(board.clone());
                self.out.push_back(BoardOut::Save(board.clone()));
                self.out
                    .push_back(BoardOut::Update(BoardUpdate::Board { board }));
                for env in std::mem::take(&mut self.held) {
                    self.live_event(&env, now);
                }
                self.session.healthy(now);
            }
            // A display token cannot be renewed: refused here, the board was
            // removed (CONNECT let it in a moment before). Stop for good.
            Err(FetchError::Unauthorized(message)) => {
                tracing::info!("the board's token was refused: {message}");
                self.session.stop(true, now);
            }
            Err(FetchError::Failed(why)) => self
                .session
                .lose(&format!("could not read the board ({why})"), now),
        }
        self.after_session(now);
    }

    fn after_session(&mut self, now: Now) {
        while let Some(event) = self.session.poll_event() {
            match event {
                SessionEvent::State { state, detail } => self
                    .out
                    .push_back(BoardOut::Update(BoardUpdate::Connection { state, detail })),
                // After every connect: the board as the server has it now.
                SessionEvent::Live => match self.session.token(now).map(str::to_owned) {
                    Some(token) => {
                        self.next_id += 1;
                        self.fetching = Some(self.next_id);
                        self.out.push_back(BoardOut::Fetch {
                            id: self.next_id,
                            token,
                        });
                    }
                    None => self.session.lose("no display token", now),
                },
                SessionEvent::Down => {
                    self.fetching = None;
                    self.held.clear();
                }
                SessionEvent::Event { data, .. } => {
                    if let Ok(env) = serde_json::from_value::<Envelope>(data) {
                        if self.fetching.is_some() {
                            if self.held.len() < 1_000 {
                                self.held.push(env);
                            }
                        } else {
                            self.live_event(&env, now);
                        }
                    }
                }
                SessionEvent::Ack { .. } | SessionEvent::GrantFailed { .. } => {}
            }
        }
    }

    fn live_event(&mut self, env: &Envelope, now: Now) {
        let Some(board) = self.board.as_mut() else {
            return; // not fetched yet: the fetch will include it
        };
        let applied = board.apply(env, now.utc());
        if applied == Applied::Unchanged {
            return;
        }
        let board = board.clone();
        self.out.push_back(BoardOut::Save(board.clone()));
        if let Applied::Called(entry) = applied {
            let room = board.room_name(entry.room_id.as_deref()).to_owned();
            self.out.push_back(BoardOut::Update(BoardUpdate::Called {
                ticket: entry.ticket,
                room,
            }));
        }
        self.out
            .push_back(BoardOut::Update(BoardUpdate::Board { board }));
    }
}

impl Core for BoardCore {
    type Out = BoardOut;

    fn session(&self) -> &Session {
        &self.session
    }

    fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    fn settle(&mut self, now: Now) {
        self.after_session(now);
    }

    fn poll_app(&mut self) -> Option<BoardOut> {
        self.out.pop_front()
    }
}

/// Carries out a board's outputs: the fetch, the file, the screen.
struct BoardIo {
    api: Api,
    saved: Option<PathBuf>,
    updates: broadcast::Sender<BoardUpdate>,
    view: Arc<Mutex<BoardView>>,
}

impl Executor<BoardCore> for BoardIo {
    fn execute(&mut self, out: BoardOut) -> Option<Task<BoardCore>> {
        match out {
            BoardOut::Fetch { id, token } => {
                let api = self.api.clone();
                Some(Box::pin(async move {
                    let answer = match api.board(&token).await {
                        Ok(b) => Ok(b),
                        Err(EngineError::Server(p)) if p.status == 401 => {
                            Err(FetchError::Unauthorized(p.detail.unwrap_or(p.title)))
                        }
                        Err(e) => Err(FetchError::Failed(e.to_string())),
                    };
                    Box::new(move |core: &mut BoardCore, now| core.handle_board(id, answer, now))
                        as driver::Feedback<BoardCore>
                }))
            }
            BoardOut::Save(board) => {
                self.save(&board);
                None
            }
            BoardOut::Update(u) => {
                self.publish(u);
                None
            }
        }
    }
}

impl BoardIo {
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
        // No subscriber is fine: the view above holds the state.
        self.updates.send(u).ok();
    }

    fn save(&self, board: &BoardState) {
        let Some(path) = &self.saved else {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Grant, SessionOutput, SocketReport};
    use crate::supervisor::ConnState;
    use rand::SeedableRng;

    const OPEN: &str = r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":100000}"#;

    fn board() -> (BoardCore, Now) {
        let (config, now) = crate::session::test_config();
        let mut core = BoardCore::new(config, StdRng::seed_from_u64(1), None, now);
        core.start(now);
        (core, now)
    }

    /// Drains outputs; answers token requests with the fixed display token.
    fn drain(core: &mut BoardCore, now: Now) -> Vec<driver::Output<BoardOut>> {
        let mut all = Vec::new();
        while let Some(o) = core.poll_output() {
            if let driver::Output::Session(SessionOutput::Renew { .. }) = o {
                let grant = Grant {
                    token: "display-token".into(),
                    expires_in: None,
                };
                core.handle_grant(Ok(grant), now);
            }
            all.push(o);
        }
        all
    }

    fn opened(outputs: &[driver::Output<BoardOut>]) -> Option<u64> {
        outputs.iter().find_map(|o| match o {
            driver::Output::Session(SessionOutput::Open { generation }) => Some(*generation),
            _ => None,
        })
    }

    #[test]
    fn a_removed_board_is_refused_twice_then_stops_for_good() {
        let (mut core, mut now) = board();
        let mut opens = 0;
        for _ in 0..2 {
            let g = opened(&drain(&mut core, now)).expect("a socket is opened");
            opens += 1;
            core.handle_socket(g, SocketReport::Opened, now);
            core.handle_socket(g, SocketReport::Text(OPEN.into()), now);
            let refusal = r#"44{"message":"unauthorized: no such user or display in this tenant"}"#;
            core.handle_socket(g, SocketReport::Text(refusal.into()), now);
        }
        drain(&mut core, now);
        assert_eq!(core.session.state(), ConnState::SignedOut);
        // An hour later it has not knocked again.
        for _ in 0..3600 {
            now = now.after(Duration::from_secs(1));
            core.handle_timeout(now);
            assert!(opened(&drain(&mut core, now)).is_none());
        }
        assert_eq!(opens, 2);
    }

    #[test]
    fn a_live_board_fetches_its_board_and_is_healthy() {
        let (mut core, now) = board();
        let g = opened(&drain(&mut core, now)).expect("a socket is opened");
        core.handle_socket(g, SocketReport::Text(OPEN.into()), now);
        core.handle_socket(g, SocketReport::Text(r#"40{"sid":"x"}"#.into()), now);
        let fetch = drain(&mut core, now).into_iter().find_map(|o| match o {
            driver::Output::App(BoardOut::Fetch { id, token }) => Some((id, token)),
            _ => None,
        });
        let (id, token) = fetch.expect("the board is fetched once live");
        assert_eq!(token, "display-token");
        // A failed fetch drops the link to try again after the backoff.
        core.handle_board(id, Err(FetchError::Failed("503".into())), now);
        drain(&mut core, now);
        assert_eq!(core.session.state(), ConnState::Reconnecting);
    }

    #[test]
    fn a_call_that_arrives_while_the_board_is_fetched_is_not_lost() {
        let (mut core, now) = board();
        let g = opened(&drain(&mut core, now)).expect("a socket is opened");
        core.handle_socket(g, SocketReport::Text(OPEN.into()), now);
        core.handle_socket(g, SocketReport::Text(r#"40{"sid":"x"}"#.into()), now);
        let id = drain(&mut core, now)
            .into_iter()
            .find_map(|o| match o {
                driver::Output::App(BoardOut::Fetch { id, .. }) => Some(id),
                _ => None,
            })
            .expect("fetching");
        // Ticket A-001 is called while the fetch (at seq 7) is on its way.
        let ticket = json!({"id": "q1", "ticket": "A-001", "provider_id": "p1", "room_id": "r1",
            "initials": "N.Q.", "appointment_id": null, "status": "called", "priority": 0,
            "arrived_at": "2026-11-22T09:00:00Z", "called_at": "2026-11-22T09:10:00Z",
            "version": 2, "updated_at": "2026-11-22T09:10:00Z"});
        let env = json!({"seq": 8, "id": "e8", "type": "queue.called", "tenant": "demo",
            "at": "2026-11-22T09:10:00Z", "actor": "system", "data": ticket});
        let frame = format!("42{}", json!(["queue.called", env]));
        core.handle_socket(g, SocketReport::Text(frame), now);
        let board: Board = serde_json::from_value(json!({
            "seq": 7,
            "display": {"id": "d1", "name": "Lobby", "provider_ids": ["p1"], "created_at": "2026-11-22T08:00:00Z"},
            "rooms": [{"id": "r1", "name": "Room 1"}],
            "queue": []
        }))
        .unwrap();
        core.handle_board(id, Ok(board), now);
        let called = drain(&mut core, now).into_iter().any(|o| {
            matches!(o, driver::Output::App(BoardOut::Update(BoardUpdate::Called { ref ticket, .. })) if ticket == "A-001")
        });
        assert!(called, "the call is applied on top of the fetched board");
        assert_eq!(core.board().map(|b| b.seq), Some(8));
    }
}
