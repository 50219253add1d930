//! The engine against the real clinic server on loopback.

mod basics;
mod faults;
