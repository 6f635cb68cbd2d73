//! `web4_rtt_core`: the sans-I/O core of RTT (Rust Transport Tunnel).
//!
//! No unsafe code, no I/O: it starts no thread, opens no socket and reads
//! no clock. The caller moves bytes in and out and passes the time in (the
//! quinn-proto shape); the thin C-ABI crate `web4_rtt` (`native/src/ffi.rs`)
//! is the only caller in production and the only place that knows JSON,
//! status codes or pointers.
//!
//! - [`endpoint`]: the handle tables, per-address admission, accept and
//!   dial, the event queue, time ([`timers`]).
//! - [`session`]: one session's engine, connection and lifecycle, the
//!   application's calls on it, and the handshake (its own file).
//! - [`engine`]: per-session protocol state (channels, flow, scheduling,
//!   receiving, resumption); [`conn`]: one TLS connection; [`codec`]: the
//!   frames; [`tls`]: keys, certificates, verifiers; [`record`]: TLS
//!   records sealed and opened in the caller's buffers after the handshake; [`config`]: every
//!   limit, its default and range.
#![forbid(unsafe_code)]

pub mod codec;
pub mod config;
pub mod conn;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod event;
#[cfg(any(test, feature = "test-hooks"))]
pub mod hooks;
pub mod record;
pub mod session;
pub mod timers;
pub mod tls;

pub use config::Config;
pub use endpoint::Endpoint;
pub use error::EndpointError;
pub use event::Event;

#[cfg(test)]
mod tests_core;
