//! The endpoint's symbols: library facts, keys, limits, nodes, their
//! events, timers and output, and connections.

use super::*;

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
        let (_, pk) = web4_rtt_core::tls::parse_key_pem(pem).map_err(|e| invalid(e.to_string()))?;
        let fp = web4_rtt_core::tls::fingerprint_of(&pk);
        if out_hex64.is_null() {
            return Err(invalid("Null fingerprint buffer"));
        }
        // SAFETY: caller guarantees 64 writable bytes.
        unsafe { output(out_hex64, 64) }.copy_from_slice(fp.as_bytes());
        Ok(status::OK)
    })
}

/// Copies the configuration's limits as JSON into `buf` (written only if
/// it fits) and returns its full length: `[{"name","default","min","max"},
/// ...]`, every numeric config field with its default and range (the one
/// source of truth: TypeScript's `lib/rtt/limits.ts` is generated from it).
///
/// # Safety
/// `buf` must be null or valid for writes of `cap` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_config_limits(buf: *mut u8, cap: u32) -> i32 {
    guard(|| {
        let limits: Vec<serde_json::Value> = LIMITS
            .iter()
            .map(|l| json!({"name": l.name, "default": l.default, "min": l.min, "max": l.max}))
            .collect();
        let s = serde_json::Value::Array(limits).to_string();
        // SAFETY: forwarded caller guarantee.
        Ok(unsafe { json_out(&s, buf, cap) })
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
        let cfg: Config = serde_json::from_slice(json)
            .map_err(|e| invalid(format!("Invalid node config JSON: {e}")))?;
        let node = Node::create(cfg)?;
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

/// Bytes received on a connection: `buf[off .. off + len]`, decrypted in
/// place (the bytes are overwritten); returns the status bits (as
/// `web4_rtt_node_status`), saving the driver that call.
///
/// # Safety
/// `buf` valid for reads and writes of `off + len` bytes.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_conn_input(
    node: u64,
    conn: u32,
    buf: *mut u8,
    off: u32,
    len: u32,
    now_ms: f64,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let bytes = unsafe { input_mut(buf, off, len) }?;
        with_node(node, |n| {
            n.conn_input(conn, bytes, us(now_ms))?;
            Ok(flags(n))
        })
    })
}

/// Set in `web4_rtt_conn_input_poll`'s result when a connection waits to
/// transmit (bit 1 of `web4_rtt_node_status`).
const INPUT_TRANSMIT: i32 = 1 << 30;
/// Set in `web4_rtt_conn_input_poll`'s result when events are still queued
/// after the ones copied out (poll again).
const INPUT_MORE_EVENTS: i32 = 1 << 29;

/// `web4_rtt_conn_input` and `web4_rtt_node_poll` in one call: feeds
/// `buf[off .. off + len]` to the connection (decrypted in place, so
/// overwritten), then copies the queued event
/// records into `events` (as much as fits, whole records). Returns the event
/// bytes written, with bit 30 set when a connection waits to transmit and
/// bit 29 when events are left (a record larger than `events` is left too:
/// `web4_rtt_node_poll` reports its size). `events_cap` must be below 512 MiB.
///
/// # Safety
/// `buf` valid for reads and writes of `off + len` bytes; `events` valid for
/// writes of `events_cap` bytes.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn web4_rtt_conn_input_poll(
    node: u64,
    conn: u32,
    buf: *mut u8,
    off: u32,
    len: u32,
    now_ms: f64,
    events: *mut u8,
    events_cap: u32,
) -> i32 {
    guard(|| {
        if events_cap >= INPUT_MORE_EVENTS as u32 {
            return Err(invalid("Event buffer of 512 MiB or more"));
        }
        // SAFETY: caller guarantees.
        let bytes = unsafe { input_mut(buf, off, len) }?;
        // SAFETY: caller guarantees.
        let out = unsafe { output(events, events_cap) };
        with_node(node, |n| {
            n.conn_input(conn, bytes, us(now_ms))?;
            let written = poll_events(n, out).unwrap_or(0);
            let transmit = if n.has_transmit() { INPUT_TRANSMIT } else { 0 };
            let more = if n.has_events() { INPUT_MORE_EVENTS } else { 0 };
            Ok(written as i32 | transmit | more)
        })
    })
}

/// `web4_rtt_node_next_transmit` and `web4_rtt_conn_transmit` in one call,
/// for a driver with no write in flight: picks the next connection with
/// output, writes its id through `out_conn` (0: none) and copies its next
/// batch into `buf`. Returns `web4_rtt_conn_transmit`'s result (bytes, bit
/// 30 events queued, bit 29 more output on this connection) with bit 28 set
/// when more connections wait.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes; `out_conn` valid for a `u32` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_node_transmit(
    node: u64,
    buf: *mut u8,
    cap: u32,
    now_ms: f64,
    out_conn: *mut u32,
) -> i32 {
    guard(|| {
        if cap >= TRANSMIT_MORE_CONNS as u32 {
            return Err(invalid("Transmit buffer of 256 MiB or more"));
        }
        if out_conn.is_null() {
            return Err(invalid("Null out_conn"));
        }
        // SAFETY: caller guarantees.
        let out = unsafe { output(buf, cap) };
        let (id, r) = with_node(node, |n| {
            let id = n.next_transmit();
            if id == 0 {
                return Ok((0, 0));
            }
            let (written, more) = n.conn_transmit_more(id, out, us(now_ms))?;
            let events = if n.has_events() { TRANSMIT_EVENTS } else { 0 };
            let more = if more { TRANSMIT_MORE_OUTPUT } else { 0 };
            let conns = if n.has_transmit() {
                TRANSMIT_MORE_CONNS
            } else {
                0
            };
            Ok((id, written as i32 | events | more | conns))
        })?;
        // SAFETY: checked non-null; caller guarantees validity.
        unsafe { put(out_conn, id) }?;
        Ok(r)
    })
}

/// Set in `web4_rtt_node_transmit`'s result when more connections wait.
const TRANSMIT_MORE_CONNS: i32 = 1 << 28;

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
