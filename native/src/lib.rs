//! `web4_rtt`: the native transport of web4-runtime, as a C-ABI shared
//! library that the TypeScript module loads through Deno FFI (see
//! `lib/rtt/ffi.ts` and `docs/rtt.md`).
//!
//! This crate is the thin `extern "C"` layer over the safe, sans-I/O core
//! `web4_rtt_core` (`native/core`, `#![forbid(unsafe_code)]`): every
//! `unsafe` block, every status code, the handle table, the event records
//! and all JSON live in [`ffi`]. With the `test-hooks` feature it also
//! exports `web4_rtt_test_inject`.

pub mod ffi;

/// Version of the binary interface between this library and `lib/rtt/ffi.ts`.
///
/// Bumped whenever a symbol is added, removed or changes meaning; the
/// TypeScript side refuses a library whose ABI version differs from its own.
pub const ABI_VERSION: u32 = 8;

/// The crate version, as written in `native/Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
