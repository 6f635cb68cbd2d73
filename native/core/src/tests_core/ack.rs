//! Core tests of the ACK timeout: a peer that withholds ACKs (while it
//! answers heartbeats) ends the session when the oldest frame it leaves
//! unacknowledged has waited `ack_timeout_ms` since it was written on the
//! connection, at exactly that instant; acknowledged traffic never does.

use super::*;

#[test]
fn a_peer_that_stops_acknowledging_is_dead_after_the_ack_timeout() {
    // Heartbeats are answered by node 0 itself here (node 1's pongs are lost
    // too), so the heartbeat timeout is set far beyond the ACK timeout.
    let slow_hb = serde_json::json!({"heartbeat_timeout_ms": 1_000_000, "ack_timeout_ms": 3000});
    let (mut net, s0, s1, _) = pair(slow_hb.clone(), slow_hb);
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    net.run();
    net.muted = Some(1);
    net.nodes[0].send(s0, a, b"never acknowledged").unwrap();
    net.run();
    net.advance(2500);
    assert_eq!(
        net.nodes[0].state_name(s0),
        Some("open"),
        "within the timeout"
    );
    net.advance(2000);
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        Event::SessionClose { session, reason: "ack_timeout", .. } if *session == s0
    )));
}

/// A session whose peer withholds ACKs (its pongs still flow), heartbeats
/// every 1000 ms, ACK timeout 1500 ms; returns the net and node 0's session
/// and channel, `at_ms` after the session opened.
fn withheld_acks_at(at_ms: u64) -> (Net, u64, u32) {
    let cfg = serde_json::json!({
        "heartbeat_interval_ms": 1000, "heartbeat_timeout_ms": 5000, "ack_timeout_ms": 1500,
    });
    let (mut net, s0, s1, _) = pair(cfg.clone(), cfg);
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    net.run();
    net.nodes[1].inject_no_acks(s1, true).unwrap();
    net.advance(at_ms);
    (net, s0, a)
}

/// Runs node 0 and its peer until exactly `at` (us), timers included.
fn advance_to_us(net: &mut Net, at: u64) {
    while net.now < at {
        let next = net.nodes.iter().filter_map(|n| n.next_deadline()).min();
        net.now = next.map_or(at, |t| t.clamp(net.now + 1, at));
        for n in &mut net.nodes {
            n.handle_timeout(net.now);
        }
        net.run();
    }
}

#[test]
fn unacknowledged_data_ends_the_session_exactly_ack_timeout_after_it_was_sent() {
    // Sent just before a heartbeat (whose pong proves the peer alive) and
    // just after one, and between: the deadline is the send + 1500 ms,
    // "after" it (1 us later), never a heartbeat interval sooner or later.
    for at_ms in [250, 999, 1001, 1999, 2001, 2500] {
        let (mut net, s0, a) = withheld_acks_at(at_ms);
        let sent = net.now;
        for _ in 0..10 {
            net.nodes[0].send(s0, a, &[7u8; 1000]).unwrap();
        }
        net.run();
        let deadline = sent + 1_500_000;
        advance_to_us(&mut net, deadline);
        assert_eq!(
            net.nodes[0].state_name(s0),
            Some("open"),
            "sent at {at_ms} ms: still open at exactly the timeout"
        );
        assert!(net.closes(0).is_empty(), "sent at {at_ms} ms");
        advance_to_us(&mut net, deadline + 1);
        assert_eq!(
            net.closes(0),
            vec!["ack_timeout"],
            "sent at {at_ms} ms: ended 1 us after the timeout"
        );
    }
}

#[test]
fn the_ack_timeout_counts_from_the_oldest_unacknowledged_frame() {
    // "first" goes out at 500 ms, "second" at 1100 ms; the peer's ACK of
    // "first" only (written before "second" reached it) arrives at 1200 ms,
    // and the peer acknowledges nothing more. The oldest unacknowledged
    // frame is then "second": the session ends at 1100 + 1500 ms (not at
    // 500 + 1500 nor 1200 + 1500, nor counted from a heartbeat).
    let (mut net, s0, a) = withheld_acks_at(0);
    let s1 = net.session_of(1);
    let start = net.now;
    net.nodes[1].inject_no_acks(s1, false).unwrap();
    net.held.push(1);
    net.advance(500);
    net.nodes[0].send(s0, a, b"first").unwrap();
    net.run();
    net.advance(600);
    net.held.push(0);
    net.nodes[0].send(s0, a, b"second").unwrap();
    net.run();
    net.advance(100);
    net.nodes[1].inject_no_acks(s1, true).unwrap();
    net.release(1);
    net.release(0);
    advance_to_us(&mut net, start + 2_600_000);
    assert!(net.closes(0).is_empty(), "open until 1100 + 1500 ms");
    advance_to_us(&mut net, start + 2_600_001);
    assert_eq!(net.closes(0), vec!["ack_timeout"]);
}

#[test]
fn acknowledged_traffic_never_meets_the_ack_timeout() {
    let cfg = serde_json::json!({"ack_timeout_ms": 50});
    let (mut net, s0, s1, _) = pair(cfg.clone(), cfg);
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    for i in 0..20u8 {
        net.nodes[0].send(s0, a, &[i; 100]).unwrap();
        net.advance(30);
    }
    assert_eq!(net.recv_all(1, s1, b).len(), 20);
    net.advance(500);
    assert_eq!(net.nodes[0].state_name(s0), Some("open"));
}

#[test]
fn a_resumed_connection_counts_from_the_resend_not_the_first_send() {
    // Data written at 250 ms never reaches the peer (the link is cut at
    // 1000 ms with it in flight); the resumed connection resends it: the
    // ACK timeout counts from that resend, on that connection.
    let (mut net, s0, a) = withheld_acks_at(250);
    let c = net
        .links
        .keys()
        .find(|(i, _)| *i == 0)
        .map(|&(_, c)| c)
        .expect("a link");
    net.held.push(0);
    net.nodes[0].send(s0, a, b"lost in the cut").unwrap();
    net.run();
    net.advance(750);
    net.held.clear();
    net.in_flight.clear();
    net.cut(0, c);
    net.run();
    let mut resumed_at = None;
    for _ in 0..100 {
        net.advance(10);
        if let Some((i, s)) = net.dials.pop() {
            resumed_at = Some(net.now);
            let cc = net.nodes[i].conn_resume(s, net.now).unwrap();
            let sc = net.nodes[1].conn_accept(net.now).unwrap();
            net.links.insert((0, cc), (1, sc));
            net.links.insert((1, sc), (0, cc));
            net.run();
            break;
        }
    }
    let resent = resumed_at.expect("a reconnect");
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, Event::SessionOpen { resumed: true, .. })));
    advance_to_us(&mut net, resent + 1_500_000);
    assert!(net.closes(0).is_empty(), "open until the resend + 1500 ms");
    advance_to_us(&mut net, resent + 1_500_001);
    assert_eq!(net.closes(0), vec!["ack_timeout"]);
}
