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

use crate::codec::Frame;
use crate::config::Policy;
use crate::engine::{SendError, Stats};
use crate::node::{Event, Latency, Node, NodeError};

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

impl From<NodeError> for Error {
    fn from(e: NodeError) -> Self {
        let code = match &e {
            NodeError::Invalid(_) | NodeError::Config(_) => status::INVALID_ARGUMENT,
            NodeError::Unknown(_) => status::UNKNOWN_HANDLE,
            NodeError::TooManyChannels(_) => status::TOO_MANY_CHANNELS,
            NodeError::SessionClosed(_) => status::SESSION_CLOSED,
            NodeError::ShutDown => status::SHUT_DOWN,
            NodeError::Send(s, _) => match s {
                SendError::UnknownChannel => status::UNKNOWN_HANDLE,
                SendError::ChannelClosed => status::CHANNEL_CLOSED,
                SendError::SessionClosed => status::SESSION_CLOSED,
                SendError::TooLarge => status::MESSAGE_TOO_LARGE,
                SendError::QueueFull => status::QUEUE_FULL,
                SendError::WouldBlock => status::WOULD_BLOCK,
            },
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

// ----- JSON and event records -----

fn stats_json(
    s: &Stats,
    lat: &Latency,
    reconnects: u64,
    rekeys: u64,
    vf: u64,
) -> serde_json::Value {
    json!({
        "attempted": s.attempted,
        "enqueued": s.enqueued,
        "dropped_oldest": s.dropped_oldest,
        "dropped_newest": s.dropped_newest,
        "dropped": s.dropped_oldest + s.dropped_newest,
        "blocked": s.blocked,
        "errors": s.errors,
        "overflow_events": s.overflow_events,
        "max_queue_len": s.max_queue_len,
        "bytes_in": s.bytes_in,
        "bytes_out": s.bytes_out,
        "messages_in": s.messages_in,
        "messages_out": s.messages_out,
        "latency_p50_us": lat.quantile(0.5),
        "latency_p95_us": lat.quantile(0.95),
        "reconnects": reconnects,
        "replays": s.replays,
        "rekeys": rekeys,
        "verification_failures": vf,
    })
}

/// (kind, session, op, value, JSON payload) of an event record.
fn record(e: &Event) -> (u32, u64, u64, i64, serde_json::Value) {
    use serde_json::Value::Null;
    match e {
        Event::Accepted { session, id, peer } => (
            ev::ACCEPTED,
            *session,
            0,
            0,
            json!({"id": id, "peer_fingerprint": peer}),
        ),
        Event::Connected {
            conn,
            session,
            id,
            peer,
        } => (
            ev::CONNECTED,
            *session,
            u64::from(*conn),
            0,
            json!({"id": id, "peer_fingerprint": peer}),
        ),
        Event::ConnectFailed {
            conn,
            code,
            message,
        } => (
            ev::CONNECT_FAILED,
            0,
            u64::from(*conn),
            0,
            json!({"code": code, "message": message}),
        ),
        Event::SessionOpen {
            session,
            resumed,
            reconnects,
        } => (
            ev::SESSION_OPEN,
            *session,
            0,
            *reconnects as i64,
            json!({"resumed": resumed, "reconnects": reconnects}),
        ),
        Event::ConnectionLost { session, reason } => (
            ev::CONNECTION_LOST,
            *session,
            0,
            0,
            json!({ "reason": reason }),
        ),
        Event::HeartbeatTimeout { session } => (ev::HEARTBEAT_TIMEOUT, *session, 0, 0, Null),
        Event::SessionClose {
            session,
            reason,
            message,
            undelivered,
        } => (
            ev::SESSION_CLOSE,
            *session,
            0,
            *undelivered as i64,
            match message {
                Some(m) => json!({"reason": reason, "message": m}),
                None => json!({ "reason": reason }),
            },
        ),
        Event::Readable { session, channel } => {
            (ev::READABLE, *session, u64::from(*channel), 0, Null)
        }
        Event::Writable { session, channel } => {
            (ev::WRITABLE, *session, u64::from(*channel), 0, Null)
        }
        Event::Drop {
            session,
            kind,
            cause,
            count,
        } => (
            ev::DROP,
            *session,
            0,
            *count as i64,
            json!({"cause": cause, "channel": kind}),
        ),
        Event::Replay {
            session,
            kind,
            seq,
            count,
        } => (
            ev::REPLAY,
            *session,
            *count,
            *seq as i64,
            json!({ "channel": kind }),
        ),
        Event::Flushed { session, op } => (ev::FLUSHED, *session, *op, 0, Null),
        Event::FlushFailed {
            session,
            op,
            undelivered,
        } => (
            ev::FLUSH_FAILED,
            *session,
            *op,
            *undelivered as i64,
            json!({"reason": "session closed before every message was acknowledged"}),
        ),
        Event::Rekey { session, rekeys } => (ev::REKEY, *session, 0, *rekeys as i64, Null),
        Event::VerificationFailure {
            code,
            peer,
            message,
        } => (
            ev::VERIFICATION_FAILURE,
            0,
            0,
            0,
            json!({"code": code, "peer_fingerprint": peer, "message": message}),
        ),
        Event::Dial { session } => (ev::DIAL, *session, 0, 0, Null),
        Event::CloseConn { conn } => (ev::CLOSE_CONN, 0, u64::from(*conn), 0, Null),
    }
}

/// A raw frame for `web4_rtt_test_inject`: `{"type": 1-11, "flags", "seq",
/// "channel": id or our kind, "payload": text or byte array, "repeat": n}`.
#[allow(clippy::type_complexity)]
fn raw_frame(v: &serde_json::Value) -> Result<(Frame, Option<String>, usize), Error> {
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let kind = crate::codec::FrameType::from_u8(num("type") as u8)
        .ok_or_else(|| invalid(format!("Unknown frame type in {v}")))?;
    let payload = match v.get("payload") {
        Some(serde_json::Value::String(s)) => s.as_bytes().to_vec(),
        Some(serde_json::Value::Array(a)) => {
            a.iter().map(|b| b.as_u64().unwrap_or(0) as u8).collect()
        }
        _ => Vec::new(),
    };
    let channel_kind = v.get("channel").and_then(|c| c.as_str()).map(String::from);
    let f = Frame {
        kind,
        flags: num("flags") as u8,
        channel: num("channel") as u32,
        seq: num("seq"),
        payload,
    };
    Ok((f, channel_kind, num("repeat").clamp(1, 1_000_000) as usize))
}

/// Writes whole event records into `buf`; `Err(needed)` if the first does not fit.
fn poll_events(node: &mut Node, buf: &mut [u8]) -> Result<usize, usize> {
    let mut pos = 0;
    while let Some(e) = node.front_event() {
        let (kind, session, op, value, payload) = record(e);
        let payload = if payload.is_null() {
            Vec::new()
        } else {
            payload.to_string().into_bytes()
        };
        let n = (32 + payload.len()).div_ceil(8) * 8;
        if pos + n > buf.len() {
            if pos == 0 {
                return Err(n);
            }
            break;
        }
        let r = &mut buf[pos..pos + n];
        r.fill(0);
        r[0..4].copy_from_slice(&kind.to_le_bytes());
        r[4..8].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        r[8..16].copy_from_slice(&session.to_le_bytes());
        r[16..24].copy_from_slice(&op.to_le_bytes());
        r[24..32].copy_from_slice(&value.to_le_bytes());
        r[32..32 + payload.len()].copy_from_slice(&payload);
        pos += n;
        node.pop_event();
    }
    Ok(pos)
}

// ----- symbols -----

/// Returns [`crate::ABI_VERSION`].
#[no_mangle]
pub extern "C" fn web4_rtt_abi_version() -> u32 {
    crate::ABI_VERSION
}

/// Copies the library version (UTF-8, no NUL) into `buf` and returns its full
/// length in bytes. (Same signature in every ABI version: the loader probes it.)
///
/// # Safety
/// `buf` must be null or valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_version(buf: *mut u8, cap: usize) -> usize {
    // SAFETY: forwarded caller guarantee.
    unsafe { copy_out(crate::VERSION.as_bytes(), buf, cap) }
}

/// Copies this thread's last error text into `buf`; returns its full length.
///
/// # Safety
/// `buf` must be null or valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_last_error(buf: *mut u8, cap: u32) -> u32 {
    // SAFETY: forwarded caller guarantee.
    LAST_ERROR.with(|e| unsafe { copy_out(e.borrow().as_bytes(), buf, cap as usize) }) as u32
}

/// Writes the 64 lowercase hex characters of a PKCS#8 Ed25519 PEM's
/// fingerprint into `out_hex64` (caller-owned, 64 bytes).
///
/// # Safety
/// `pem` valid for `len` bytes; `out_hex64` valid for 64 bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_key_fingerprint(
    pem: *const u8,
    len: u32,
    out_hex64: *mut u8,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let pem = unsafe { input(pem, 0, len) }?;
        let (_, pk) = crate::tls::parse_key_pem(pem).map_err(|e| invalid(e.0))?;
        let fp = crate::tls::fingerprint_of(&pk);
        if out_hex64.is_null() {
            return Err(invalid("Null fingerprint buffer"));
        }
        // SAFETY: caller guarantees 64 writable bytes.
        unsafe { output(out_hex64, 64) }.copy_from_slice(fp.as_bytes());
        Ok(status::OK)
    })
}

/// Creates a node from its JSON configuration; writes its handle.
///
/// # Safety
/// `json` valid for `len` bytes; `out_node` valid for a `u64` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_node_create(
    json: *const u8,
    len: u32,
    out_node: *mut u64,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let json = unsafe { input(json, 0, len) }?;
        if out_node.is_null() {
            return Err(invalid("Null out_node"));
        }
        let node = Node::create(json)?;
        let h = next_handle();
        lock(nodes()).insert(h, Arc::new(Mutex::new(node)));
        // SAFETY: checked non-null; caller guarantees validity.
        unsafe { put(out_node, h) }?;
        Ok(status::OK)
    })
}

/// Ends every session of the node (reason `shutdown`) and frees it. The
/// driver closes its sockets itself. UNKNOWN_HANDLE the second time.
#[no_mangle]
pub extern "C" fn web4_rtt_node_free(node: u64) -> i32 {
    guard(|| {
        let n = lock(nodes())
            .remove(&node)
            .ok_or_else(|| unknown_node(node))?;
        let mut g = lock(&n);
        g.shutdown();
        g.freed = true;
        drop(g);
        LAST_NODE.with(|c| {
            let mut c = c.borrow_mut();
            if c.as_ref().is_some_and(|(h, _)| *h == node) {
                *c = None;
            }
        });
        Ok(status::OK)
    })
}

/// Ends every session (reason `shutdown`) without freeing the node, so its
/// last events can still be polled.
#[no_mangle]
pub extern "C" fn web4_rtt_node_shutdown(node: u64) -> i32 {
    guard(|| {
        with_node(node, |n| {
            n.shutdown();
            Ok(status::OK)
        })
    })
}

/// Bit 0: events are queued; bit 1: a connection waits to transmit.
#[no_mangle]
pub extern "C" fn web4_rtt_node_status(node: u64) -> i32 {
    guard(|| with_node(node, |n| Ok(flags(n))))
}

/// The status bits of `web4_rtt_node_status`.
fn flags(n: &Node) -> i32 {
    i32::from(n.has_events()) | (i32::from(n.has_transmit()) << 1)
}

/// Set in `web4_rtt_channel_recv`'s `*out_left` when a connection has output
/// to write (reading returned credit that is due at once).
const RECV_TRANSMIT: u32 = 1 << 31;

/// Set in `web4_rtt_conn_transmit`'s result when events are queued.
const TRANSMIT_EVENTS: i32 = 1 << 30;

/// Set in `web4_rtt_conn_transmit`'s result when more output is pending
/// after this batch; when clear (and bytes were written), the connection is
/// no longer busy.
const TRANSMIT_MORE_OUTPUT: i32 = 1 << 29;

/// Copies out queued event records; returns bytes written (0: none).
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_node_poll(node: u64, buf: *mut u8, cap: u32) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let out = unsafe { output(buf, cap) };
        with_node(node, |n| match poll_events(n, out) {
            Ok(w) => len_i32(w),
            Err(need) => Err(Error(
                status::BUFFER_TOO_SMALL,
                format!("The next event record needs {need} bytes, the buffer has {cap}"),
            )),
        })
    })
}

/// Handles every timer due at `now_ms`; returns the status bits (as
/// `web4_rtt_node_status`).
#[no_mangle]
pub extern "C" fn web4_rtt_node_timeout(node: u64, now_ms: f64) -> i32 {
    guard(|| {
        with_node(node, |n| {
            n.handle_timeout(us(now_ms));
            Ok(flags(n))
        })
    })
}

/// The next time (ms, caller's clock) at which `web4_rtt_node_timeout` has
/// work, or -1 for none (also for an unknown node).
#[no_mangle]
pub extern "C" fn web4_rtt_node_next_deadline(node: u64) -> f64 {
    let r = catch_unwind(AssertUnwindSafe(|| {
        with_node(node, |n| Ok(n.next_deadline())).ok().flatten()
    }));
    match r {
        Ok(Some(t)) => t as f64 / 1000.0,
        _ => -1.0,
    }
}

/// The next connection with output to write (busy until
/// `web4_rtt_conn_transmit` returns 0), or 0; bit 30 is set when more
/// connections wait (call again).
#[no_mangle]
pub extern "C" fn web4_rtt_node_next_transmit(node: u64) -> i32 {
    guard(|| {
        with_node(node, |n| {
            let id = n.next_transmit() as i32;
            let more = if n.has_transmit() { TRANSMIT_MORE } else { 0 };
            Ok(id | more)
        })
    })
}

/// Set in `web4_rtt_node_next_transmit`'s result when more connections wait.
const TRANSMIT_MORE: i32 = 1 << 30;

/// Node metrics JSON; returns its full length.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_node_metrics(node: u64, buf: *mut u8, cap: u32) -> i32 {
    guard(|| {
        let s = with_node(node, |n| {
            let (stats, lat, reconnects, rekeys, vf, live, pending) = n.metrics();
            let mut v = stats_json(&stats, &lat, reconnects, rekeys, vf);
            v["sessions"] = json!(live);
            v["pending_handshakes"] = json!(pending);
            let g = n.gauges();
            v["handshakes_shed"] = json!(g.handshakes_shed);
            v["max_pending_per_address"] = json!(g.max_pending_per_address);
            v["max_sessions_per_address"] = json!(g.max_sessions_per_address);
            v["receive_bytes_outstanding"] = json!(g.receive_bytes_outstanding);
            v["receive_bytes_held"] = json!(g.receive_bytes_held);
            v["max_unacked_bytes"] = json!(g.max_unacked_bytes);
            v["queued_events"] = json!(g.queued_events);
            v["events_dropped"] = json!(g.events_dropped);
            Ok(v.to_string())
        })?;
        // SAFETY: caller guarantees.
        Ok(unsafe { json_out(&s, buf, cap) })
    })
}

/// A new inbound connection; returns its id.
#[no_mangle]
pub extern "C" fn web4_rtt_conn_accept(node: u64, now_ms: f64) -> i32 {
    guard(|| with_node(node, |n| Ok(n.conn_accept(us(now_ms))? as i32)))
}

/// A new inbound connection from a remote address (UTF-8, at most 256
/// bytes; the per-address limits key on it); returns its id.
///
/// # Safety
/// `addr` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_conn_accept_from(
    node: u64,
    now_ms: f64,
    addr: *const u8,
    len: u32,
) -> i32 {
    guard(|| {
        if len > 256 {
            return Err(invalid("Remote address longer than 256 bytes"));
        }
        // SAFETY: caller guarantees.
        let addr = unsafe { input(addr, 0, len) }?;
        let addr = std::str::from_utf8(addr).map_err(|_| invalid("Remote address is not UTF-8"))?;
        with_node(node, |n| Ok(n.conn_accept_from(us(now_ms), addr)? as i32))
    })
}

/// A new outbound connection for a new session pinned to the fingerprint
/// (64 ASCII hex bytes); returns its id. CONNECTED or CONNECT_FAILED follows
/// with the id as `op`.
///
/// # Safety
/// `fp` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_conn_connect(
    node: u64,
    fp: *const u8,
    len: u32,
    timeout_ms: u32,
    now_ms: f64,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let fp = unsafe { input(fp, 0, len) }?;
        let fp = std::str::from_utf8(fp).map_err(|_| invalid("Fingerprint is not UTF-8"))?;
        with_node(node, |n| {
            Ok(n.conn_connect(fp, timeout_ms, us(now_ms))? as i32)
        })
    })
}

/// A new outbound connection resuming a session (after DIAL); returns its id.
#[no_mangle]
pub extern "C" fn web4_rtt_conn_resume(node: u64, session: u64, now_ms: f64) -> i32 {
    guard(|| with_node(node, |n| Ok(n.conn_resume(session, us(now_ms))? as i32)))
}

/// The socket a DIAL asked for could not be opened.
#[no_mangle]
pub extern "C" fn web4_rtt_dial_failed(node: u64, session: u64, now_ms: f64) -> i32 {
    guard(|| {
        with_node(node, |n| {
            n.dial_failed(session, us(now_ms))?;
            Ok(status::OK)
        })
    })
}

/// Bytes received on a connection: `buf[off .. off + len]`; returns the
/// status bits (as `web4_rtt_node_status`), saving the driver that call.
///
/// # Safety
/// `buf` valid for reads of `off + len` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_conn_input(
    node: u64,
    conn: u32,
    buf: *const u8,
    off: u32,
    len: u32,
    now_ms: f64,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let bytes = unsafe { input(buf, off, len) }?;
        with_node(node, |n| {
            n.conn_input(conn, bytes, us(now_ms))?;
            Ok(flags(n))
        })
    })
}

/// Copies bytes to write on a connection into `buf`; returns the count (0:
/// nothing left, the connection is no longer busy), with bit 30 set when
/// events are queued (preparing a batch can produce some: WRITABLE, REKEY,
/// a finished close) and bit 29 set when more output is pending after this
/// batch (when clear, the connection is no longer busy either).
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_conn_transmit(
    node: u64,
    conn: u32,
    buf: *mut u8,
    cap: u32,
    now_ms: f64,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let out = unsafe { output(buf, cap) };
        with_node(node, |n| {
            let (written, more) = n.conn_transmit_more(conn, out, us(now_ms))?;
            if written >= TRANSMIT_MORE_OUTPUT as usize {
                return Err(invalid("Transmit buffer of 512 MiB or more"));
            }
            let events = if n.has_events() { TRANSMIT_EVENTS } else { 0 };
            let more = if more { TRANSMIT_MORE_OUTPUT } else { 0 };
            Ok(written as i32 | events | more)
        })
    })
}

/// The connection's socket ended or was closed; its id is invalid afterwards.
#[no_mangle]
pub extern "C" fn web4_rtt_conn_closed(node: u64, conn: u32, now_ms: f64) -> i32 {
    guard(|| {
        with_node(node, |n| {
            n.conn_closed(conn, us(now_ms))?;
            Ok(status::OK)
        })
    })
}

/// Session stats JSON; returns its full length.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_session_stats(
    node: u64,
    session: u64,
    buf: *mut u8,
    cap: u32,
) -> i32 {
    guard(|| {
        let s = with_node(node, |n| {
            let (st, lat, rc, rk) = n.session_stats(session)?;
            let (budget, held, protected) = n.budget(session)?;
            let mut v = stats_json(&st, lat, rc, rk, 0);
            v["receive_bytes_held"] = json!(held);
            v["receive_budget"] = json!(budget);
            v["protected"] = json!(protected);
            Ok(v.to_string())
        })?;
        // SAFETY: caller guarantees.
        Ok(unsafe { json_out(&s, buf, cap) })
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenJson {
    kind: String,
    backpressure_policy: Option<Policy>,
    max_queue: Option<usize>,
    max_queue_bytes: Option<usize>,
    priority: Option<u8>,
}

/// Opens (or joins) a channel; JSON `{"kind","backpressure_policy"?,
/// "max_queue"?,"max_queue_bytes"?,"priority"?}`; writes its id.
///
/// # Safety
/// `json` valid for `len` bytes; `out_channel` valid for a `u32` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_session_open_channel(
    node: u64,
    session: u64,
    json: *const u8,
    len: u32,
    out_channel: *mut u32,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let json = unsafe { input(json, 0, len) }?;
        let o: OpenJson = serde_json::from_slice(json)
            .map_err(|e| invalid(format!("Invalid channel JSON: {e}")))?;
        let id = with_node(node, |n| {
            Ok(n.open_channel(
                session,
                &o.kind,
                o.backpressure_policy,
                o.max_queue,
                o.max_queue_bytes,
                o.priority.unwrap_or(crate::engine::LOWEST_PRIORITY),
            )?)
        })?;
        // SAFETY: caller guarantees.
        unsafe { put(out_channel, id) }?;
        Ok(status::OK)
    })
}

/// Starts a graceful close; SESSION_CLOSE follows with reason `manual`
/// (`why` 0) or `shutdown` (`why` 1).
#[no_mangle]
pub extern "C" fn web4_rtt_session_close(
    node: u64,
    session: u64,
    flush_deadline_ms: u32,
    why: u32,
    now_ms: f64,
) -> i32 {
    guard(|| {
        let reason = match why {
            0 => "manual",
            1 => "shutdown",
            _ => return Err(invalid(format!("Unknown close reason {why}"))),
        };
        with_node(node, |n| {
            n.close_session(session, flush_deadline_ms, reason, us(now_ms))?;
            Ok(status::OK)
        })
    })
}

/// Sets a session's budget: `receive_bytes` (the bytes it may hold received
/// and unread over all its channels; 0 keeps the current one) and
/// `protected` (1: never evicted to make room for another session, 0: may
/// be, -1 keeps the current setting).
#[no_mangle]
pub extern "C" fn web4_rtt_session_set_budget(
    node: u64,
    session: u64,
    receive_bytes: u64,
    protected: i32,
) -> i32 {
    guard(|| {
        let protected = match protected {
            -1 => None,
            0 => Some(false),
            1 => Some(true),
            p => return Err(invalid(format!("protected must be -1, 0 or 1, got {p}"))),
        };
        let bytes = (receive_bytes != 0).then_some(receive_bytes);
        with_node(node, |n| {
            n.set_budget(session, bytes, protected)?;
            Ok(flags(n))
        })
    })
}

/// Frees a closed session.
#[no_mangle]
pub extern "C" fn web4_rtt_session_release(node: u64, session: u64) -> i32 {
    guard(|| {
        with_node(node, |n| {
            n.release(session)?;
            Ok(status::OK)
        })
    })
}

/// Copies `buf[off .. off + len]` into the channel's send queue (policy
/// applied); returns the status bits (as `web4_rtt_node_status`, so >= 0) on
/// success.
///
/// # Safety
/// `buf` valid for reads of `off + len` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_send(
    node: u64,
    session: u64,
    channel: u32,
    buf: *const u8,
    off: u32,
    len: u32,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let data = unsafe { input(buf, off, len) }?;
        with_node(node, |n| {
            n.send(session, channel, data)?;
            Ok(flags(n))
        })
    })
}

/// Retries a send that got WOULD_BLOCK: OK once queued, WOULD_BLOCK while
/// the queue is still full (WRITABLE follows when room frees up).
///
/// # Safety
/// `buf` valid for reads of `off + len` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_retry_send(
    node: u64,
    session: u64,
    channel: u32,
    buf: *const u8,
    off: u32,
    len: u32,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let data = unsafe { input(buf, off, len) }?;
        with_node(node, |n| {
            Ok(if n.retry_send(session, channel, data)? {
                status::OK
            } else {
                status::WOULD_BLOCK
            })
        })
    })
}

/// Counts a blocked send that gave up (BLOCK_TIMEOUT on the caller's side).
#[no_mangle]
pub extern "C" fn web4_rtt_channel_block_timeout(node: u64, session: u64, channel: u32) -> i32 {
    guard(|| {
        with_node(node, |n| {
            n.block_timeout(session, channel)?;
            Ok(status::OK)
        })
    })
}

/// Copies out whole messages as `[u32 len LE][bytes]` records; returns bytes
/// written. `*out_needed` (low 31 bits): the next record's size (so 0 written
/// and a size means a larger buffer is needed), 1 when only the channel's end
/// is left, 0 for nothing; bit 31: a connection has output to write.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes; `out_needed` for a `u32` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_recv(
    node: u64,
    session: u64,
    channel: u32,
    buf: *mut u8,
    cap: u32,
    out_needed: *mut u32,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let out = unsafe { output(buf, cap) };
        let (n, need, transmit) = with_node(node, |n| {
            let (k, need) = n.recv(session, channel, out)?;
            Ok((k, need, n.has_transmit()))
        })?;
        let need = u32::try_from(need)
            .ok()
            .filter(|v| *v < RECV_TRANSMIT)
            .ok_or_else(|| invalid("Message too large"))?;
        let bits = if transmit { RECV_TRANSMIT } else { 0 };
        // SAFETY: caller guarantees.
        unsafe { put(out_needed, need | bits) }?;
        len_i32(n)
    })
}

/// Registers a flush; returns its operation id (> 0). FLUSHED or
/// FLUSH_FAILED follows with it as `op`.
#[no_mangle]
pub extern "C" fn web4_rtt_channel_flush(node: u64, session: u64, channel: u32) -> i32 {
    guard(|| {
        with_node(node, |n| {
            let op = n.flush(session, channel)?;
            i32::try_from(op).map_err(|_| Error(status::INTERNAL, "Operation ids exhausted".into()))
        })
    })
}

/// Channel stats JSON; returns its full length.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_stats(
    node: u64,
    session: u64,
    channel: u32,
    buf: *mut u8,
    cap: u32,
) -> i32 {
    guard(|| {
        let s = with_node(node, |n| {
            let (st, kind, ql, qb) = n.channel_stats(session, channel)?;
            let held = n.channel_held(session, channel)?;
            let mut v = stats_json(&st, &Latency::default(), 0, 0, 0);
            v["receive_bytes_held"] = json!(held);
            v["kind"] = json!(kind);
            v["queue_len"] = json!(ql);
            v["queue_bytes"] = json!(qb);
            Ok(v.to_string())
        })?;
        // SAFETY: caller guarantees.
        Ok(unsafe { json_out(&s, buf, cap) })
    })
}

/// Half-closes our side of a channel.
#[no_mangle]
pub extern "C" fn web4_rtt_channel_close(node: u64, session: u64, channel: u32) -> i32 {
    guard(|| {
        with_node(node, |n| {
            n.close_channel(session, channel)?;
            Ok(status::OK)
        })
    })
}

/// Test hook, e.g. `{"replay_last": "state"}`; INVALID_ARGUMENT unless the
/// node was created with `"test_hooks": true`.
///
/// # Safety
/// `json` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_test_inject(
    node: u64,
    session: u64,
    json: *const u8,
    len: u32,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let json = unsafe { input(json, 0, len) }?;
        let v: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| invalid(format!("Invalid JSON: {e}")))?;
        if let Some(on) = v.get("no_acks").and_then(serde_json::Value::as_bool) {
            return with_node(node, |n| {
                n.inject_no_acks(session, on)?;
                Ok(status::OK)
            });
        }
        if let Some(raw) = v.get("raw") {
            let (f, kind, repeat) = raw_frame(raw)?;
            return with_node(node, |n| {
                n.inject_raw(session, f, kind.as_deref(), repeat)?;
                Ok(status::OK)
            });
        }
        let Some(kind) = v.get("replay_last").and_then(|k| k.as_str()) else {
            return Err(invalid(format!("Unknown test injection {v}")));
        };
        with_node(node, |n| {
            n.inject_replay(session, kind)?;
            Ok(status::OK)
        })
    })
}
