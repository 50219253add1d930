//! The headless Frontdesk client engine (no Tauri): everything that must keep
//! working when the window is hidden or the network is gone.
//!
//! Pure state machines (bytes and time in, actions out), each tested alone:
//! - [`backoff`]: full-jitter exponential backoff.
//! - [`link`]: one Socket.IO session over one WebSocket.
//! - [`supervisor`]: offline / connecting / live / reconnecting / signed-out.
//!
//! Storage:
//! - [`cache`]: the SQLCipher cache (records, last `seq`, outbox).

pub mod backoff;
pub mod cache;
pub mod error;
pub mod link;
pub mod supervisor;

pub use error::{EngineError, Result};
