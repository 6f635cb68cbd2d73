//! The `extern "C"` surface of the library: thin wrappers over the safe core.
//!
//! Every `unsafe` of the crate lives here: turning caller pointers into
//! slices for the duration of one call. Buffer ownership is stated at each
//! symbol and in `docs/rtt.md`. Every entry point catches panics (returning
//! `INTERNAL`) and records its error text for `web4_rtt_last_error`.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde::Deserialize;

use crate::config::Policy;
use crate::node::{self, status, Error, Node, Waker};

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

/// Runs `f`, catching panics; errors become their status (negative) and
/// set the thread's last error.
fn guard<R: From<i32>>(f: impl FnOnce() -> Result<R, Error>) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => r,
        Ok(Err(Error(code, msg))) => {
            set_error(&msg);
            R::from(code)
        }
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_error(&format!("Internal error in web4_rtt: {what}"));
            R::from(status::INTERNAL)
        }
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error(status::INVALID_ARGUMENT, msg.into())
}

/// Borrows a caller input buffer for the call.
///
/// # Safety
/// `ptr` must be null (then `len` must be 0) or valid for reads of `len` bytes.
unsafe fn input<'a>(ptr: *const u8, len: usize) -> Result<&'a [u8], Error> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(invalid("Null buffer with a non-zero length"))
        };
    }
    // SAFETY: guaranteed by the caller for the duration of the call.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a caller output buffer for the call.
///
/// # Safety
/// `ptr` must be null (then `cap` is treated as 0) or valid for writes of `cap` bytes.
unsafe fn output<'a>(ptr: *mut u8, cap: usize) -> &'a mut [u8] {
    if ptr.is_null() || cap == 0 {
        return &mut [];
    }
    // SAFETY: guaranteed by the caller for the duration of the call.
    unsafe { std::slice::from_raw_parts_mut(ptr, cap) }
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

/// Copies `src` into the caller's buffer `buf` of `cap` bytes (as much as
/// fits) and returns the full length of `src`, so a caller whose buffer was too
/// small can retry with a larger one.
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
unsafe fn json_out(s: &str, buf: *mut u8, cap: usize) -> i64 {
    if s.len() <= cap {
        // SAFETY: forwarded.
        unsafe { copy_out(s.as_bytes(), buf, cap) };
    }
    s.len() as i64
}

/// Returns [`crate::ABI_VERSION`].
#[no_mangle]
pub extern "C" fn web4_rtt_abi_version() -> u32 {
    crate::ABI_VERSION
}

/// Copies the library version (UTF-8, no NUL) into `buf` and returns its full
/// length in bytes.
///
/// Ownership: `buf` is owned by the caller, who passes its capacity `cap`;
/// the library writes at most `cap` bytes and keeps no reference to it.
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
pub unsafe extern "C" fn web4_rtt_last_error(buf: *mut u8, cap: usize) -> usize {
    // SAFETY: forwarded caller guarantee.
    LAST_ERROR.with(|e| unsafe { copy_out(e.borrow().as_bytes(), buf, cap) })
}

/// Reads a PKCS#8 Ed25519 PEM and writes the 64 lowercase hex characters of
/// its fingerprint into `out_hex64` (caller-owned, 64 bytes).
///
/// # Safety
/// `pem` valid for `len` bytes; `out_hex64` valid for 64 bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_key_fingerprint(
    pem: *const u8,
    len: usize,
    out_hex64: *mut u8,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let pem = unsafe { input(pem, len) }?;
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

/// Creates a node from its JSON configuration.
///
/// # Safety
/// `json` valid for `len` bytes; `out_node` valid for a `u64` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_node_create(
    json: *const u8,
    len: usize,
    out_node: *mut u64,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let json = unsafe { input(json, len) }?;
        if out_node.is_null() {
            return Err(invalid("Null out_node"));
        }
        let node = Node::create(json)?;
        // SAFETY: checked non-null; caller guarantees validity.
        unsafe { put(out_node, node.handle) }?;
        Ok(status::OK)
    })
}

/// Shuts a node down (closing sessions, flushing until the deadline) and
/// invalidates its handle.
#[no_mangle]
pub extern "C" fn web4_rtt_node_free(node: u64, deadline_ms: u32) -> i32 {
    guard(|| {
        let n = node::node(node)?;
        if n.shutdown(deadline_ms) {
            Ok(status::OK)
        } else {
            Err(Error(
                status::WOULD_BLOCK,
                "A wake-up is being delivered to this thread: let the event loop run, then call \
                 web4_rtt_node_free again (or call it as a nonblocking call)"
                    .into(),
            ))
        }
    })
}

/// Binds a listener; `out_port` receives the bound port.
///
/// # Safety
/// `host` valid for `host_len` bytes; `out_port` valid for a `u16` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_node_listen(
    node: u64,
    host: *const u8,
    host_len: usize,
    port: u16,
    out_port: *mut u16,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let host = std::str::from_utf8(unsafe { input(host, host_len) }?)
            .map_err(|_| invalid("Host is not UTF-8"))?;
        let n = node::node(node)?;
        let bound = n.listen(host, port)?;
        // SAFETY: caller guarantees.
        unsafe { put(out_port, bound) }?;
        Ok(status::OK)
    })
}

#[derive(Deserialize)]
struct ConnectReq {
    host: String,
    port: u16,
    fingerprint: String,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// Starts a connection; completion arrives as CONNECTED / CONNECT_FAILED.
///
/// # Safety
/// `json` valid for `len` bytes; `out_op` valid for a `u64` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_node_connect(
    node: u64,
    json: *const u8,
    len: usize,
    out_op: *mut u64,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let json = unsafe { input(json, len) }?;
        let req: ConnectReq = serde_json::from_slice(json)
            .map_err(|e| invalid(format!("Invalid connect JSON: {e}")))?;
        if out_op.is_null() {
            return Err(invalid("Null out_op"));
        }
        let n = node::node(node)?;
        let op = n.connect(
            req.host,
            req.port,
            req.fingerprint,
            req.timeout_ms.unwrap_or(0),
        )?;
        // SAFETY: caller guarantees.
        unsafe { put(out_op, op) }?;
        Ok(status::OK)
    })
}

/// Cancels a pending connect.
#[no_mangle]
pub extern "C" fn web4_rtt_node_cancel(node: u64, op: u64) -> i32 {
    guard(|| {
        node::node(node)?.cancel(op)?;
        Ok(status::OK)
    })
}

/// Registers (or with NULL removes) the event waker.
#[no_mangle]
pub extern "C" fn web4_rtt_node_set_waker(node: u64, waker: Option<Waker>) -> i32 {
    guard(|| {
        node::node(node)?.set_waker(waker)?;
        Ok(status::OK)
    })
}

/// Blocks until an event is queued (1) or the timeout passes (0).
#[no_mangle]
pub extern "C" fn web4_rtt_node_wait(node: u64, timeout_ms: u32) -> i32 {
    guard(|| {
        let n = node::node(node)?;
        Ok(i32::from(n.events.wait(std::time::Duration::from_millis(
            u64::from(timeout_ms),
        ))))
    })
}

/// Copies out queued event records; returns bytes written.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_node_poll(node: u64, buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        let n = node::node(node)?;
        // SAFETY: caller guarantees.
        let out = unsafe { output(buf, cap) };
        match n.events.poll(out) {
            Ok(w) => Ok(w as i64),
            Err(need) => Err(Error(
                status::BUFFER_TOO_SMALL,
                format!("The next event record needs {need} bytes, the buffer has {cap}"),
            )),
        }
    })
}

/// Node metrics JSON; returns its full length.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_node_metrics(node: u64, buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        let s = node::node(node)?.metrics_json();
        // SAFETY: caller guarantees.
        Ok(unsafe { json_out(&s, buf, cap) })
    })
}

/// Session info JSON; returns its full length.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_session_info(session: u64, buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        let s = node::session(session)?.info_json();
        // SAFETY: caller guarantees.
        Ok(unsafe { json_out(&s, buf, cap) })
    })
}

/// Session stats JSON; returns its full length.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_session_stats(session: u64, buf: *mut u8, cap: usize) -> i64 {
    guard(|| {
        let s = node::session(session)?.stats_json();
        // SAFETY: caller guarantees.
        Ok(unsafe { json_out(&s, buf, cap) })
    })
}

#[derive(Deserialize)]
struct OpenReq {
    kind: String,
    #[serde(default)]
    backpressure_policy: Option<Policy>,
    #[serde(default)]
    max_queue: Option<usize>,
    #[serde(default)]
    max_queue_bytes: Option<usize>,
}

/// Opens (or joins) a channel.
///
/// # Safety
/// `json` valid for `len` bytes; `out_channel` valid for a `u32` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_session_open_channel(
    session: u64,
    json: *const u8,
    len: usize,
    out_channel: *mut u32,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let json = unsafe { input(json, len) }?;
        let req: OpenReq = serde_json::from_slice(json)
            .map_err(|e| invalid(format!("Invalid open_channel JSON: {e}")))?;
        if out_channel.is_null() {
            return Err(invalid("Null out_channel"));
        }
        if req.max_queue == Some(0) || req.max_queue_bytes == Some(0) {
            return Err(invalid(format!(
                "Queue bounds of channel {:?} must be positive",
                req.kind
            )));
        }
        let s = node::session(session)?;
        let id = s.open_channel(
            &req.kind,
            req.backpressure_policy,
            req.max_queue,
            req.max_queue_bytes,
        )?;
        // SAFETY: caller guarantees.
        unsafe { put(out_channel, id) }?;
        Ok(status::OK)
    })
}

/// Starts a graceful close of the session.
#[no_mangle]
pub extern "C" fn web4_rtt_session_close(session: u64, flush_deadline_ms: u32) -> i32 {
    guard(|| {
        node::session(session)?.close_api(flush_deadline_ms)?;
        Ok(status::OK)
    })
}

/// Frees a closed session's handle.
#[no_mangle]
pub extern "C" fn web4_rtt_session_release(session: u64) -> i32 {
    guard(|| {
        node::session(session)?.release()?;
        Ok(status::OK)
    })
}

/// Copies `data` into the channel's send queue, applying its policy.
///
/// # Safety
/// `data` valid for reads of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_send(
    session: u64,
    channel: u32,
    data: *const u8,
    len: usize,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let data = unsafe { input(data, len) }?;
        node::session(session)?.send(channel, data)?;
        Ok(status::OK)
    })
}

/// After WOULD_BLOCK: waits for room up to the timeout, then queues.
///
/// # Safety
/// `data` valid for reads of `len` bytes until the call returns.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_send_blocking(
    session: u64,
    channel: u32,
    data: *const u8,
    len: usize,
    timeout_ms: u32,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let data = unsafe { input(data, len) }?;
        node::session(session)?.send_blocking(channel, data, timeout_ms)?;
        Ok(status::OK)
    })
}

/// Copies out received messages as `[u32 len LE][bytes]` records.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes; `out_needed` valid for a `u64` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_recv(
    session: u64,
    channel: u32,
    buf: *mut u8,
    cap: usize,
    out_needed: *mut u64,
) -> i64 {
    guard(|| {
        if out_needed.is_null() {
            return Err(invalid("Null out_needed"));
        }
        let s = node::session(session)?;
        // SAFETY: caller guarantees.
        let out = unsafe { output(buf, cap) };
        let (n, need) = s.recv(channel, out)?;
        // SAFETY: checked non-null.
        unsafe { put(out_needed, need) }?;
        Ok(n as i64)
    })
}

/// Registers a flush; FLUSHED / FLUSH_FAILED follows with `out_op`.
///
/// # Safety
/// `out_op` valid for a `u64` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_flush(
    session: u64,
    channel: u32,
    out_op: *mut u64,
) -> i32 {
    guard(|| {
        if out_op.is_null() {
            return Err(invalid("Null out_op"));
        }
        let op = node::session(session)?.flush(channel)?;
        // SAFETY: checked non-null.
        unsafe { put(out_op, op) }?;
        Ok(status::OK)
    })
}

/// Channel stats JSON; returns its full length.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_stats(
    session: u64,
    channel: u32,
    buf: *mut u8,
    cap: usize,
) -> i64 {
    guard(|| {
        let s = node::session(session)?.channel_stats_json(channel)?;
        // SAFETY: caller guarantees.
        Ok(unsafe { json_out(&s, buf, cap) })
    })
}

/// Half-closes our side of a channel.
#[no_mangle]
pub extern "C" fn web4_rtt_channel_close(session: u64, channel: u32) -> i32 {
    guard(|| {
        node::session(session)?.close_channel(channel)?;
        Ok(status::OK)
    })
}

/// Test hook (only with `"test_hooks": true`).
///
/// # Safety
/// `json` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_test_inject(session: u64, json: *const u8, len: usize) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let json = unsafe { input(json, len) }?;
        node::session(session)?.inject(json)?;
        Ok(status::OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_symbol_matches_crate_version() {
        let mut buf = [0u8; 64];
        // SAFETY: buf is valid for 64 bytes.
        let n = unsafe { web4_rtt_version(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), crate::VERSION);
    }

    #[test]
    fn version_symbol_reports_full_length_when_buffer_is_short() {
        let mut buf = [0u8; 2];
        // SAFETY: buf is valid for 2 bytes.
        let n = unsafe { web4_rtt_version(buf.as_mut_ptr(), buf.len()) };
        assert_eq!(n, crate::VERSION.len());
        assert_eq!(&buf[..], &crate::VERSION.as_bytes()[..2]);
        // SAFETY: a null buffer is allowed and only measures.
        assert_eq!(unsafe { web4_rtt_version(std::ptr::null_mut(), 0) }, n);
    }

    #[test]
    fn abi_version_symbol_matches_constant() {
        assert_eq!(web4_rtt_abi_version(), crate::ABI_VERSION);
        assert_eq!(crate::ABI_VERSION, 2);
    }

    fn last_error() -> String {
        let mut buf = vec![0u8; 1024];
        // SAFETY: buf valid.
        let n = unsafe { web4_rtt_last_error(buf.as_mut_ptr(), buf.len()) };
        String::from_utf8_lossy(&buf[..n.min(1024)]).to_string()
    }

    #[test]
    fn key_fingerprint_and_bad_input() {
        let pem = crate::tls::test_keys::pem_v1([5; 32]);
        let mut out = [0u8; 64];
        // SAFETY: buffers valid.
        let rc = unsafe { web4_rtt_key_fingerprint(pem.as_ptr(), pem.len(), out.as_mut_ptr()) };
        assert_eq!(rc, 0);
        let id = crate::tls::Identity::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(std::str::from_utf8(&out).unwrap(), id.fingerprint);
        // SAFETY: buffers valid.
        let rc = unsafe { web4_rtt_key_fingerprint(b"junk".as_ptr(), 4, out.as_mut_ptr()) };
        assert_eq!(rc, status::INVALID_ARGUMENT);
        assert!(last_error().contains("PKCS#8"), "{}", last_error());
    }

    #[test]
    fn unknown_handles_and_bad_config_report_status() {
        assert_eq!(web4_rtt_node_free(u64::MAX, 0), status::UNKNOWN_HANDLE);
        assert_eq!(web4_rtt_session_close(u64::MAX, 0), status::UNKNOWN_HANDLE);
        let mut h = 0u64;
        let bad = br#"{"key_pem":"x","max_channels":0}"#;
        // SAFETY: buffers valid.
        let rc = unsafe { web4_rtt_node_create(bad.as_ptr(), bad.len(), &mut h) };
        assert_eq!(rc, status::INVALID_ARGUMENT);
        assert!(last_error().contains("max_channels"));
    }

    #[test]
    fn panics_do_not_cross_the_boundary() {
        let r: i32 = guard(|| panic!("boom"));
        assert_eq!(r, status::INTERNAL);
        assert!(last_error().contains("boom"));
    }
}
