//! The headless Frontdesk client engine (no Tauri): everything that must keep
//! working when the window is hidden or the network is gone.
//!
//! Pure state machines (bytes and time in, actions out), each tested alone:
//! - [`backoff`]: full-jitter exponential backoff.
//! - [`link`]: one Socket.IO session over one WebSocket.
//! - [`supervisor`]: offline / connecting / live / reconnecting / signed-out.
//! - [`session`]: the supervisor, the link, retries, liveness and the token
//!   as one session that keeps itself up (shared by desk and board).
//! - [`desk`]: the desk core on top of a session: sync, outbox, presence,
//!   typing, notifications; tested on virtual time in `tests/virtual`.
//! - [`activity`]: own presence (away when idle), typing throttle and expiry.
//! - [`notify`]: which events become OS notifications.
//! - [`board`]: a waiting-room board kept current from its queue events.
//! - [`screen_lock`]: the shared PC's lock (idle time, asked), and
//!   [`unlock`]: the password check that ends it, offline too.
//! - [`clock`]: time as a value the drivers read and the cores are handed.
//!
//! Storage:
//! - [`cache`]: the SQLCipher cache (records, last `seq`, outbox).
//! - [`secrets`]: refresh token and cache key in the OS keyring.
//!
//! Drivers (thin I/O):
//! - [`driver`]: the one async loop under every core (socket, timer, tasks).
//! - [`connection`]: the WebSocket under a [`link::Link`].
//! - [`rest`]: login, refresh, snapshot, replay, sending outbox actions.
//!
//! [`board_client`] is the waiting-room display: a small core over the same
//! session and driver, with a display token.
//!
//! [`engine`] runs the desk: [`engine::start`] gives an
//! [`engine::EngineHandle`] to act with and a stream of [`engine::Update`]s.

pub mod activity;
pub mod backoff;
pub mod board;
pub mod board_client;
pub mod cache;
pub mod clock;
pub mod connection;
pub mod desk;
pub mod driver;
pub mod engine;
pub mod error;
pub mod link;
pub mod lookup;
pub mod notify;
pub mod on_screen;
pub mod rest;
pub mod screen_lock;
pub mod secrets;
pub mod session;
pub mod supervisor;
pub mod unlock;

pub use error::{EngineError, Result};

/// The socket event that shows the server a renewed access token (§8.6).
pub const REAUTH_EVENT: &str = frontdesk_protocol::envelope::ephemeral::REAUTH;

/// The log filter of Frontdesk's desk binaries: `FRONTDESK_LOG` (default
/// `warn`), with the crates that log whole frames and requests capped at
/// `info` ([`frontdesk_protocol::FRAME_LOGGERS`]): no token or password is
/// ever logged, whatever the filter asks.
pub fn log_filter() -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("FRONTDESK_LOG")
        .unwrap_or_else(|_| "warn".into());
    for target in frontdesk_protocol::FRAME_LOGGERS {
        match format!("{target}=info").parse() {
            Ok(d) => filter = filter.add_directive(d),
            Err(e) => eprintln!("log filter for {target}: {e}"),
        }
    }
    filter
}
