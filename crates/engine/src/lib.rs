//! The headless Frontdesk client engine (no Tauri): everything that must keep
//! working when the window is hidden or the network is gone.
//!
//! Pure state machines (bytes and time in, actions out), each tested alone:
//! - [`backoff`]: full-jitter exponential backoff.
//! - [`link`]: one Socket.IO session over one WebSocket.
//! - [`supervisor`]: offline / connecting / live / reconnecting / signed-out.
//! - [`activity`]: own presence (away when idle), typing throttle and expiry.
//! - [`notify`]: which events become OS notifications.
//! - [`board`]: a waiting-room board kept current from its queue events.
//!
//! Storage:
//! - [`cache`]: the SQLCipher cache (records, last `seq`, outbox).
//! - [`secrets`]: refresh token and cache key in the OS keyring.
//!
//! Drivers (thin I/O):
//! - [`connection`]: the WebSocket under a [`link::Link`].
//! - [`rest`]: login, refresh, snapshot, replay, sending outbox actions.
//!
//! [`board_client`] is the waiting-room display's much smaller loop over the
//! same pieces, with a display token.
//!
//! [`engine`] wires them together: [`engine::start`] gives an
//! [`engine::EngineHandle`] to act with and a stream of [`engine::Update`]s.

pub mod activity;
pub mod backoff;
pub mod board;
pub mod board_client;
pub mod cache;
pub mod connection;
pub mod engine;
pub mod error;
pub mod link;
pub mod notify;
pub mod rest;
pub mod secrets;
pub mod supervisor;

pub use error::{EngineError, Result};
