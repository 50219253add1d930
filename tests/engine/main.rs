//! The engine against the real clinic server on loopback.

mod basics;
mod board;
mod booking;
mod faults;
mod node_server;
mod processes;
mod signals;
mod tls;
