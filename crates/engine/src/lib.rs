//! The headless Frontdesk client engine (no Tauri): everything that must keep
//! working when the window is hidden or the network is gone.
//!
//! Pure state machines (bytes and time in, actions out), each tested alone:
//! - [`backoff`]: full-jitter exponential backoff.
//! - [`link`]: one Socket.IO session over one WebSocket.
//! - [`supervisor`]: offline / connecting / live / reconnecting / signed-out.

pub mod backoff;
pub mod link;
pub mod supervisor;
