//! Everything Frontdesk's client and the clinic server must agree on, with no I/O.
//!
//! - [`envelope`]: the durable event envelope (`seq`, `id`, `type`, …) and the
//!   ephemeral `typing` / `presence` payloads.
//! - [`records`]: the domain records carried in events and REST bodies
//!   (users, patients, appointments, queue entries, threads, messages, …).
//! - [`status`]: appointment and queue statuses and the transitions allowed
//!   between them; both server and client check these.
//! - [`api`]: REST request and answer bodies, and the problem+json error.
//! - [`engineio`]: Engine.IO v4 packet codec (the transport layer).
//! - [`socketio`]: Socket.IO v5 packet codec (namespaces, events, acks, binary
//!   attachments), carried inside Engine.IO `message` packets.
//! - [`schedule`]: provider hours, date exceptions, appointment types and the
//!   free slots they leave (pure, so server and desk compute them alike).
//! - [`search`]: patient search normalisation, query parsing and ranking.
//! - [`text`]: the characters records may hold (no controls, direction
//!   overrides or invisible characters).
//! - [`window`]: the sync window (the clinic-local days a desk caches), which
//!   server and client compute alike.
//!
//! The codecs are sans-IO: bytes in, packets out, and back. Sockets, timers and
//! reconnection live in the engine and server crates that drive them.

pub mod api;
pub mod engineio;
pub mod envelope;
pub mod records;
pub mod schedule;
pub mod search;
pub mod socketio;
pub mod status;
pub mod text;
pub mod window;

/// Crates that log whole frames and requests (a socket's CONNECT with its
/// access token, a request body with a password) at `debug` and `trace`:
/// Frontdesk's binaries never let them log more than `info`, whatever the
/// log filter asks, so no credential reaches a log.
pub const FRAME_LOGGERS: [&str; 10] = [
    "socketioxide",
    "engineioxide",
    "tungstenite",
    "tokio_tungstenite",
    "hyper",
    "hyper_util",
    "h2",
    "tower_http",
    "reqwest",
    "rustls",
];
