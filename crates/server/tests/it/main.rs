//! Integration tests: the real server on loopback, driven over real HTTP and
//! real WebSockets (and, in `js_client`, by the JavaScript socket.io-client).

mod auth;
mod booking;
mod cli;
mod js_client;
mod limits;
mod realtime;
mod support;
mod sync;
