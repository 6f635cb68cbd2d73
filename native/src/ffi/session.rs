//! The symbols of sessions and channels (and the test hook).

use super::*;

/// Set in `web4_rtt_channel_recv`'s `*out_left` when a connection has output
/// to write (reading returned credit that is due at once).
const RECV_TRANSMIT: u32 = 1 << 31;

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
                o.priority.unwrap_or(web4_rtt_core::engine::LOWEST_PRIORITY),
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
    // SAFETY: caller guarantees.
    unsafe {
        _recv_into(node, buf, cap, out_needed, |n, out| {
            n.recv(session, channel, out)
        })
    }
}

/// Copies out the next message alone, without a length prefix, into `buf`
/// when it fits (for a large message the caller passes a buffer of exactly
/// its size, so it is copied once, into memory the caller keeps); returns
/// the bytes written (0: nothing, or it does not fit, or it is empty; then
/// `web4_rtt_channel_recv` takes it). `*out_needed` as for
/// `web4_rtt_channel_recv` (a record size: the message's plus 4).
///
/// # Safety
/// `buf` valid for writes of `cap` bytes; `out_needed` for a `u32` write.
#[no_mangle]
pub unsafe extern "C" fn web4_rtt_channel_recv_message(
    node: u64,
    session: u64,
    channel: u32,
    buf: *mut u8,
    cap: u32,
    out_needed: *mut u32,
) -> i32 {
    // SAFETY: caller guarantees.
    unsafe {
        _recv_into(node, buf, cap, out_needed, |n, out| {
            n.recv_message(session, channel, out)
        })
    }
}

/// The body both receive calls share: `take` copies into `buf`; the bytes
/// written are returned and `*out_needed` written as
/// `web4_rtt_channel_recv` documents.
///
/// # Safety
/// `buf` valid for writes of `cap` bytes; `out_needed` for a `u32` write.
unsafe fn _recv_into(
    node: u64,
    buf: *mut u8,
    cap: u32,
    out_needed: *mut u32,
    take: impl FnOnce(&mut Node, &mut [u8]) -> Result<(usize, u64), EndpointError>,
) -> i32 {
    guard(|| {
        // SAFETY: caller guarantees.
        let out = unsafe { output(buf, cap) };
        let (n, need, transmit) = with_node(node, |n| {
            let (k, need) = take(n, out)?;
            Ok((k, need, n.has_transmit()))
        })?;
        // SAFETY: caller guarantees.
        unsafe { put_needed(out_needed, need, transmit) }?;
        len_i32(n)
    })
}

/// Writes `web4_rtt_channel_recv`'s `*out_needed`: the next record's size
/// and bit 31 when a connection has output.
///
/// # Safety
/// `out_needed` must be null or valid for a `u32` write.
unsafe fn put_needed(out_needed: *mut u32, need: u64, transmit: bool) -> Result<(), Error> {
    let need = u32::try_from(need)
        .ok()
        .filter(|v| *v < RECV_TRANSMIT)
        .ok_or_else(|| invalid("Message too large"))?;
    let bits = if transmit { RECV_TRANSMIT } else { 0 };
    // SAFETY: forwarded.
    unsafe { put(out_needed, need | bits) }
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
/// node was created with `"test_hooks": true`. Exported only by a build
/// with the `test-hooks` feature (tests and the benchmark build one into
/// their own target folder; release builds omit it).
#[cfg(feature = "test-hooks")]
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
