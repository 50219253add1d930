//! The Frontdesk reference clinic server.
//!
//! REST (`/api/...`, axum) and Socket.IO v5 (`/socket.io/`, socketioxide) over
//! one listener, with SQLite (rusqlite, WAL) for storage. The wire contract is
//! in `docs/protocol.md`; the types are in `frontdesk-protocol`.
//!
//! Module map:
//! - [`config`]: settings and the signing secret.
//! - [`clock`]: the time, read from one injected [`clock::Clock`].
//! - [`db`]: connections, pragmas, versioned migrations.
//! - [`store`]: one module per record kind; the event log in [`store::events`].
//! - [`auth`]: passwords, JWTs, rate limits.
//! - [`commands`]: every desk mutation as one unit (roles, checks, change,
//!   events, answer), run by [`commands::execute`] through [`http::mutate::commit`].
//! - [`http`]: REST routes, thin: they build commands and read state.
//! - [`realtime`]: sockets: auth at CONNECT, rooms, presence, typing, broadcast.
//! - [`demo`]: the demo clinic.
//!
//! [`start`] runs the whole server in-process on a given (or free) port, which
//! is how the binary, the desktop app's `--demo` and every test use it.

pub mod auth;
pub mod clock;
pub mod commands;
pub mod config;
pub mod db;
pub mod demo;
pub mod demo_history;
pub mod error;
pub mod http;
pub mod listen;
pub mod realtime;
pub mod settings;
pub mod state;
pub mod store;
pub mod tls;

pub use config::ServerConfig;
pub use db::{Db, DbLocation};
pub use error::ApiError;
pub use state::AppState;

use socketioxide::{ParserConfig, SocketIo, TransportType};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server running in this process. Dropping it without [`RunningServer::shutdown`]
/// leaves it running until the runtime ends.
pub struct RunningServer {
    /// The address actually bound (useful with port 0).
    pub addr: SocketAddr,
    /// Whether it serves `https://` and `wss://` itself.
    pub tls: bool,
    /// Shared state, for tests that inspect or seed the database.
    pub state: AppState,
    io: SocketIo,
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// `http://addr` (or `https://` with TLS), the base URL for REST and Socket.IO.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Closes every socket, stops accepting, lets in-flight requests finish
    /// (for up to two seconds), and stops the background tasks.
    pub async fn shutdown(mut self) {
        self.io.close().await;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let mut tasks = self.tasks.drain(..);
        if let Some(serve) = tasks.next() {
            let abort = serve.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), serve)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Opens the database and starts serving REST and Socket.IO on `config.listen`.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ApiError> {
    config.validate()?;
    let db = Db::open(&config.db)?;
    start_with_db(config, db).await
}

/// Like [`start`], with a database the caller has already opened (and seeded).
pub async fn start_with_db(config: ServerConfig, db: Db) -> Result<RunningServer, ApiError> {
    config.validate()?;
    let tls = match (&config.tls_certificate, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let state = AppState::new(config.clone(), db, tx);

    let (layer, io) = SocketIo::builder()
        .req_path("/socket.io")
        .transports([TransportType::Websocket])
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
        .max_payload(config.max_payload)
        .ws_max_message_size(config.max_payload as usize)
        .ws_max_frame_size(config.max_payload as usize)
        .max_buffer_size(config.socket_buffer)
        // Frames here are small; a 1 KiB read buffer (default 4 KiB) saves
        // ~3 KiB per held connection and grows on demand for larger ones.
        .ws_read_buffer_size(1024)
        // The protocol has no binary: a packet announcing attachments is
        // refused at once (the connection closes) instead of buffering up
        // to 10 MB per connection while it waits for them.
        .with_parser(
            ParserConfig::common()
                .max_incoming_binaries(0)
                .max_incoming_binary_buf_size(0),
        )
        .with_state(state.clone())
        .build_layer();
    realtime::attach(&io);

    let app = http::router(state.clone()).layer(layer);
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| ApiError::internal(format!("binding {}: {e}", config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ApiError::internal(format!("reading bound address: {e}")))?;

    let (stop, stopped) = oneshot::channel::<()>();
    let limits = listen::Limits {
        per_address: config.max_connections_per_address,
        total: config.max_connections,
        header_timeout: config.header_timeout,
    };
    let serves_tls = tls.is_some();
    let serve = tokio::spawn(listen::serve(listener, app, limits, tls, async {
        // A dropped sender is a stop too.
        stopped.await.ok();
    }));
    let broadcaster = tokio::spawn(realtime::broadcast::run(io.clone(), rx));
    let presence = tokio::spawn(realtime::expire_presence(io.clone(), state.clone()));
    let upkeep = tokio::spawn(maintenance(state.clone()));
    let checkpoints = tokio::spawn(checkpoint_wal(state.clone()));
    let scheme = if serves_tls { "https" } else { "http" };
    tracing::info!("clinic server listening on {scheme}://{addr}");
    Ok(RunningServer {
        addr,
        tls: serves_tls,
        state,
        io,
        stop: Some(stop),
        tasks: vec![serve, broadcaster, presence, upkeep, checkpoints],
    })
}

/// Hourly housekeeping: forgets idempotency keys older than a week and refresh
/// tokens long expired, so the database does not grow without bound.
async fn maintenance(state: AppState) {
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        let now = state.now();
        let result = state
            .db
            .write(move |conn| {
                let keys = store::idempotency::prune(conn, 7, now)?;
                let tokens = store::sessions::prune_expired(conn, now)?;
                Ok((keys, tokens))
            })
            .await;
        match result {
            Ok((keys, tokens)) => {
                tracing::debug!(keys, tokens, "pruned idempotency keys and refresh tokens")
            }
            Err(e) => tracing::warn!("maintenance failed: {e}"),
        }
    }
}

/// Moves the WAL into the database file once a second, off the commit path.
async fn checkpoint_wal(state: AppState) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut ticks: u64 = 0;
    loop {
        every.tick().await;
        ticks += 1;
        if let Err(e) = state.db.checkpoint().await {
            tracing::warn!("checkpoint failed: {e}");
        }
        // Once a minute, give back what a flood of reads let the WAL grow to.
        if ticks.is_multiple_of(60) {
            match state.db.truncate_wal().await {
                Ok(bytes) if bytes > WAL_NOTED => {
                    tracing::info!("the WAL had grown to {bytes} bytes; truncated")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("truncating the WAL failed: {e}"),
            }
        }
    }
}

/// A WAL larger than this before its minutely truncation is worth a log line.
const WAL_NOTED: u64 = 64 * 1024 * 1024;
