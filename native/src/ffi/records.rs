//! JSON and event records: stats and metrics JSON, the event record
//! format of `web4_rtt_node_poll`, and the test hooks' raw frames.

use super::*;

pub(super) fn stats_json(
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

#[cfg(feature = "test-hooks")]
use web4_rtt_core::codec::Frame;

/// A raw frame for `web4_rtt_test_inject`: `{"type": 1-11, "flags", "seq",
/// "channel": id or our kind, "payload": text or byte array, "repeat": n}`.
#[cfg(feature = "test-hooks")]
#[allow(clippy::type_complexity)]
pub(super) fn raw_frame(v: &serde_json::Value) -> Result<(Frame, Option<String>, usize), Error> {
    let num = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let kind = web4_rtt_core::codec::FrameType::from_u8(num("type") as u8)
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
pub(super) fn poll_events(node: &mut Node, buf: &mut [u8]) -> Result<usize, usize> {
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
