//! `web4_rtt`: the native transport of web4-runtime.
//!
//! The crate builds a C-ABI shared library that the TypeScript module loads
//! through Deno FFI (see `lib/rtt/ffi.ts` and `docs/rtt.md`). The Rust side is
//! organised as a safe core with a thin `extern "C"` layer on top: every
//! `unsafe` block lives in [`ffi`]. The core is sans-I/O: it starts no
//! threads, opens no sockets and reads no clock; the caller moves bytes and
//! passes the time in (see [`node`]).

pub mod codec;
pub mod config;
pub mod conn;
pub mod engine;
pub mod ffi;
pub mod node;
pub mod tls;

#[cfg(test)]
mod tests_core;

/// Version of the binary interface between this library and `lib/rtt/ffi.ts`.
///
/// Bumped whenever a symbol is added, removed or changes meaning; the
/// TypeScript side refuses a library whose ABI version differs from its own.
pub const ABI_VERSION: u32 = 5;

/// The crate version, as written in `native/Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
