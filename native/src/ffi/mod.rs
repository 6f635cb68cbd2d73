//! The `extern "C"` surface of the library and its whole vocabulary: status
//! codes, the node handle table, event records and JSON rendering. The core
//! ([`crate::node`]) knows none of them: its typed errors and events are
//! converted here, at the boundary.
//!
//! Every `unsafe` of the crate lives here: turning caller pointers into
//! slices for the duration of one call. Every call is synchronous; the
//! library keeps no pointer to a caller buffer. Every entry point catches
//! panics (returning `INTERNAL`) and records its error text for
//! `web4_rtt_last_error`. Lengths are `u32` and results `i32` so Deno's fast
//! call path applies; time is `f64` milliseconds of the caller's monotonic
//! clock.

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde::Deserialize;
use serde_json::json;

use web4_rtt_core::config::{Config, Policy, LIMITS};
use web4_rtt_core::engine::{OpenError, SendError, Stats};
use web4_rtt_core::session::Latency;
use web4_rtt_core::{Endpoint as Node, EndpointError, Event};

mod endpoint;
mod records;
mod session;

#[cfg(feature = "test-hooks")]
use records::raw_frame;
use records::{poll_events, stats_json};

/// Status codes (see docs/rtt.md).
pub mod status {
    #![allow(missing_docs)]
    pub const OK: i32 = 0;
    pub const INVALID_ARGUMENT: i32 = -1;
    pub const UNKNOWN_HANDLE: i32 = -2;
    pub const QUEUE_FULL: i32 = -3;
    pub const WOULD_BLOCK: i32 = -4;
    pub const BLOCK_TIMEOUT: i32 = -5;
    pub const MESSAGE_TOO_LARGE: i32 = -6;
    pub const TOO_MANY_CHANNELS: i32 = -7;
    pub const SESSION_CLOSED: i32 = -8;
    pub const CHANNEL_CLOSED: i32 = -9;
    pub const IO: i32 = -10;
    pub const PROTOCOL: i32 = -11;
    pub const INTERNAL: i32 = -12;
    pub const SHUT_DOWN: i32 = -13;
    pub const BUFFER_TOO_SMALL: i32 = -14;
}

/// Event record kinds (see docs/rtt.md).
pub mod ev {
    #![allow(missing_docs)]
    pub const ACCEPTED: u32 = 1;
    pub const CONNECTED: u32 = 2;
    pub const CONNECT_FAILED: u32 = 3;
    pub const SESSION_OPEN: u32 = 4;
    pub const CONNECTION_LOST: u32 = 5;
    pub const HEARTBEAT_TIMEOUT: u32 = 6;
    pub const SESSION_CLOSE: u32 = 7;
    pub const READABLE: u32 = 8;
    pub const WRITABLE: u32 = 9;
    pub const DROP: u32 = 10;
    pub const REPLAY: u32 = 11;
    pub const FLUSHED: u32 = 12;
    pub const FLUSH_FAILED: u32 = 13;
    pub const REKEY: u32 = 14;
    pub const VERIFICATION_FAILURE: u32 = 15;
    pub const DIAL: u32 = 16;
    pub const CLOSE_CONN: u32 = 17;
}

/// An error with its status.
struct Error(i32, String);

impl From<EndpointError> for Error {
    fn from(e: EndpointError) -> Self {
        use EndpointError as E;
        let code = match &e {
            E::UnknownSession(_) | E::UnknownConnection(_) => status::UNKNOWN_HANDLE,
            E::SessionClosed { .. } | E::NotReconnecting { .. } => status::SESSION_CLOSED,
            E::ShutDown => status::SHUT_DOWN,
            E::Channel { source, .. } => match source {
                SendError::UnknownChannel => status::UNKNOWN_HANDLE,
                SendError::ChannelClosed => status::CHANNEL_CLOSED,
                SendError::SessionClosed => status::SESSION_CLOSED,
                SendError::TooLarge => status::MESSAGE_TOO_LARGE,
                SendError::QueueFull => status::QUEUE_FULL,
                SendError::WouldBlock => status::WOULD_BLOCK,
            },
            E::Open { source, .. } => match source {
                OpenError::TooManyChannels => status::TOO_MANY_CHANNELS,
                OpenError::SessionClosed => status::SESSION_CLOSED,
                _ => status::INVALID_ARGUMENT,
            },
            // Config, Key, Tls, BadFingerprint, ZeroBudget, NotClosed, Hook.
            _ => status::INVALID_ARGUMENT,
        };
        Error(code, e.to_string())
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error(status::INVALID_ARGUMENT, msg.into())
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

fn set_error(msg: &str) {
    LAST_ERROR.with(|e| {
        let mut e = e.borrow_mut();
        e.clear();
        e.push_str(msg);
    });
}

/// Runs `f`, catching panics; errors become their (negative) status and
/// set the thread's last error.
fn guard(f: impl FnOnce() -> Result<i32, Error>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => r,
        Ok(Err(Error(code, msg))) => {
            set_error(&msg);
            code
        }
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_error(&format!("Internal error in web4_rtt: {what}"));
            status::INTERNAL
        }
    }
}

// ----- the node handle table -----

type Shared = Arc<Mutex<Node>>;

fn nodes() -> &'static Mutex<HashMap<u64, Shared>> {
    static R: OnceLock<Mutex<HashMap<u64, Shared>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn next_handle() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Runs `f` on node `handle`.
fn with_node<R>(handle: u64, f: impl FnOnce(&mut Node) -> Result<R, Error>) -> Result<R, Error> {
    // The node a thread used last is remembered, so the hot path skips the
    // global table; a freed node is refused (its `freed` flag), wherever it
    // is still remembered.
    let cached = LAST_NODE.with(|c| match &*c.borrow() {
        Some((h, n)) if *h == handle => Some(n.clone()),
        _ => None,
    });
    let n = match cached {
        Some(n) => n,
        None => {
            let n = lock(nodes())
                .get(&handle)
                .cloned()
                .ok_or_else(|| unknown_node(handle))?;
            LAST_NODE.with(|c| *c.borrow_mut() = Some((handle, n.clone())));
            n
        }
    };
    let mut g = lock(&n);
    if g.freed {
        return Err(unknown_node(handle));
    }
    f(&mut g)
}

fn unknown_node(handle: u64) -> Error {
    Error(
        status::UNKNOWN_HANDLE,
        format!("Unknown node handle {handle}"),
    )
}

thread_local! {
    /// The last node this thread called, with its handle.
    static LAST_NODE: RefCell<Option<(u64, Shared)>> = const { RefCell::new(None) };
}

fn us(now_ms: f64) -> u64 {
    if now_ms.is_finite() && now_ms > 0.0 {
        (now_ms * 1000.0) as u64
    } else {
        0
    }
}

// ----- buffers -----

/// Borrows a caller input buffer for the call.
///
/// # Safety
/// `ptr` must be null (then `len` must be 0) or valid for reads of `off + len` bytes.
unsafe fn input<'a>(ptr: *const u8, off: u32, len: u32) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(invalid("Null buffer with a non-zero length"))
        };
    }
    // SAFETY: guaranteed by the caller for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr.add(off as usize), len as usize) })
}

/// Borrows a caller input buffer for the call, to be overwritten (received
/// TLS records are decrypted in place).
///
/// # Safety
/// `ptr` must be null (then `len` must be 0) or valid for reads and writes
/// of `off + len` bytes.
unsafe fn input_mut<'a>(ptr: *mut u8, off: u32, len: u32) -> Result<&'a mut [u8], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&mut [])
        } else {
            Err(invalid("Null buffer with a non-zero length"))
        };
    }
    // SAFETY: guaranteed by the caller for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr.add(off as usize), len as usize) })
}

/// Borrows a caller output buffer for the call.
///
/// # Safety
/// `ptr` must be null (then `cap` is treated as 0) or valid for writes of `cap` bytes.
unsafe fn output<'a>(ptr: *mut u8, cap: u32) -> &'a mut [u8] {
    if ptr.is_null() || cap == 0 {
        return &mut [];
    }
    // SAFETY: guaranteed by the caller for the duration of the call.
    unsafe { std::slice::from_raw_parts_mut(ptr, cap as usize) }
}

/// Writes `v` through an out-pointer.
///
/// # Safety
/// `ptr` must be null or valid for a write of `T`.
unsafe fn put<T>(ptr: *mut T, v: T) -> Result<(), Error> {
    if ptr.is_null() {
        return Err(invalid("Null out-pointer"));
    }
    // SAFETY: non-null and valid per the caller.
    unsafe { ptr.write_unaligned(v) };
    Ok(())
}

/// Copies `src` into the caller's buffer (as much as fits) and returns the
/// full length of `src`.
///
/// # Safety
/// `buf` must be null or valid for writes of `cap` bytes.
unsafe fn copy_out(src: &[u8], buf: *mut u8, cap: usize) -> usize {
    if !buf.is_null() && cap > 0 {
        let n = src.len().min(cap);
        // SAFETY: the caller guarantees `buf` is valid for `cap` bytes, and n <= cap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), buf, n) };
    }
    src.len()
}

/// Copies a whole JSON text if it fits; returns its full length either way.
///
/// # Safety
/// As [`copy_out`].
unsafe fn json_out(s: &str, buf: *mut u8, cap: u32) -> i32 {
    if s.len() <= cap as usize {
        // SAFETY: forwarded.
        unsafe { copy_out(s.as_bytes(), buf, cap as usize) };
    }
    i32::try_from(s.len()).unwrap_or(i32::MAX)
}

fn len_i32(n: usize) -> Result<i32, Error> {
    i32::try_from(n).map_err(|_| invalid("Result does not fit in 31 bits"))
}

/// The status bits of `web4_rtt_node_status`.
fn flags(n: &Node) -> i32 {
    i32::from(n.has_events()) | (i32::from(n.has_transmit()) << 1)
}
