//! Core tests of the limits against abuse: windows and
//! receive budgets, sessions per peer and address, eviction and protection,
//! shedding, deadlines, the event queue.

use super::*;

#[test]
fn a_channel_nobody_opened_gets_only_the_small_window() {
    let (mut net, s0, s1, _) = pair(
        none(),
        serde_json::json!({"unopened_window_bytes": 4096, "unopened_window_msgs": 1000}),
    );
    let a = net.nodes[0]
        .open_channel(s0, "knowledge", None, None, None, 2)
        .unwrap();
    for _ in 0..20 {
        net.nodes[0].send(s0, a, &[1u8; 1000]).unwrap();
    }
    net.run();
    let before = net.nodes[1].session_recv_outstanding(s1).unwrap();
    assert_eq!(before, 4096, "the unopened window, not the full one");
    let b = net.nodes[1]
        .open_channel(s1, "knowledge", None, None, None, 2)
        .unwrap();
    net.run();
    assert_eq!(
        net.recv_all(1, s1, b).len(),
        20,
        "opening grants the full window"
    );
}

#[test]
fn the_session_and_node_receive_budgets_bound_what_peers_may_send_unread() {
    // One channel's window is max(max_message, max_queue_bytes) = 64 KiB here.
    let cfg = serde_json::json!({
        "max_message_bytes": 65536, "max_queue_bytes": 65536, "unopened_window_bytes": 65536,
        "max_session_receive_bytes": 100_000, "max_node_receive_bytes": 150_000
    });
    let (mut net, s0, s1, _) = pair(none(), cfg);
    for k in ["c1", "c2", "c3"] {
        let a = net.nodes[0]
            .open_channel(s0, k, None, None, None, 2)
            .unwrap();
        for _ in 0..100 {
            net.nodes[0].send(s0, a, &[1u8; 1000]).unwrap();
        }
    }
    net.run();
    // What the peer may send unread: within the node budget, and what is
    // held within the session budget plus the one message being completed.
    let granted = net.nodes[1].session_recv_outstanding(s1).unwrap();
    assert!(granted <= 150_000, "{granted}");
    let held = net.nodes[1].budget(s1).unwrap().1;
    assert!((40_000..=101_000).contains(&held), "{held}");
    let mut read = 0;
    for k in ["c1", "c2", "c3"] {
        let b = net.nodes[1]
            .open_channel(s1, k, None, None, None, 2)
            .unwrap();
        for _ in 0..40 {
            net.advance(3); // deferred grants go out after 2 ms
            read += net.recv_all(1, s1, b).len();
            assert!(net.nodes[1].session_recv_outstanding(s1).unwrap() <= 150_000);
            assert!(net.nodes[1].budget(s1).unwrap().1 <= 101_000);
        }
    }
    assert_eq!(read, 300, "reading frees the budget: everything arrives");
}

#[test]
fn the_node_receive_budget_bounds_every_session_and_comes_back_when_a_session_ends() {
    let cfg = serde_json::json!({
        "max_message_bytes": 65536, "max_queue_bytes": 65536, "unopened_window_bytes": 65536,
        "max_session_receive_bytes": 1_000_000, "max_node_receive_bytes": 80_000
    });
    let (mut net, s0, s1, _) = pair(none(), cfg);
    for k in ["c1", "c2"] {
        let a = net.nodes[0]
            .open_channel(s0, k, None, None, None, 2)
            .unwrap();
        for _ in 0..100 {
            net.nodes[0].send(s0, a, &[1u8; 1000]).unwrap();
        }
    }
    net.run();
    assert_eq!(net.nodes[1].node_recv_outstanding(), 80_000);
    net.nodes[1]
        .close_session(s1, 0, "manual", net.now)
        .unwrap();
    net.advance(100);
    assert_eq!(net.nodes[1].state_name(s1), Some("closed"));
    assert_eq!(net.nodes[1].node_recv_outstanding(), 0);
}

fn closes(net: &Net, i: usize, reason: &str) -> usize {
    net.events[i]
        .iter()
        .filter(|e| matches!(e, Event::SessionClose { reason: r, .. } if *r == reason))
        .count()
}

fn connect_failures(net: &Net, i: usize, code: &str) -> usize {
    net.events[i]
        .iter()
        .filter(|e| matches!(e, Event::ConnectFailed { code: c, .. } if *c == code))
        .count()
}

#[test]
fn sessions_per_peer_and_per_address_are_limited_with_a_typed_reject() {
    let (mut net, _, _, _) = pair(
        none(),
        serde_json::json!({"max_sessions_per_peer": 2, "max_sessions_per_address": 3}),
    );
    let fp1 = net.fp(1);
    net.connect(0, 1, &fp1);
    net.run();
    net.connect(0, 1, &fp1);
    net.run();
    assert_eq!(
        connect_failures(&net, 0, "TOO_MANY_SESSIONS"),
        1,
        "third of one peer"
    );
    // Per address: three peers from 10.0.0.9 fit, the fourth does not.
    let mut refused = 0;
    for _ in 0..4 {
        let k = net.add(none());
        net.connect_from(k, 1, &fp1, "10.0.0.9");
        net.run();
        refused += connect_failures(&net, k, "TOO_MANY_SESSIONS");
    }
    assert_eq!(refused, 1);
    assert_eq!(net.nodes[1].sessions_from("10.0.0.9"), 3);
    assert_eq!(net.nodes[1].gauges().max_sessions_per_address, 3);
    // Another address is not affected.
    let k = net.add(none());
    net.connect_from(k, 1, &fp1, "10.0.0.10");
    net.run();
    assert_eq!(net.nodes[1].sessions_from("10.0.0.10"), 1);
}

#[test]
fn a_full_table_evicts_a_disconnected_session_before_refusing() {
    let (mut net, _, _, c) = pair(none(), serde_json::json!({"max_sessions": 2}));
    let fp1 = net.fp(1);
    let k = net.add(none());
    net.connect(k, 1, &fp1);
    net.run();
    // Node 0's session drops (resumable on node 1); node 0 does not redial.
    net.cut(0, c);
    net.run();
    assert_eq!(
        net.nodes[1].metrics().5,
        2,
        "full, one of them disconnected"
    );
    let j = net.add(none());
    net.connect(j, 1, &fp1);
    net.run();
    assert_eq!(closes(&net, 1, "evicted"), 1);
    assert!(net.events[j]
        .iter()
        .any(|e| matches!(e, Event::Connected { .. })));
    // Full of live sessions: refused with the full table's code.
    let l = net.add(none());
    net.connect(l, 1, &fp1);
    net.run();
    assert_eq!(connect_failures(&net, l, "TOO_MANY_HANDSHAKES"), 1);
}

#[test]
fn a_flood_from_one_address_sheds_its_own_idle_handshakes_not_a_slow_legitimate_one() {
    let mut net = Net::new(
        none(),
        serde_json::json!({
            "max_pending_handshakes": 8, "max_pending_handshakes_per_address": 4
        }),
    );
    let fp1 = net.fp(1);
    // A legitimate client from another address starts its handshake and is slow.
    let legit = net.nodes[0].conn_connect(&fp1, 0, net.now).unwrap();
    let server_side = net.nodes[1].conn_accept_from(net.now, "10.0.0.1").unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let n = net.nodes[0]
        .conn_transmit(legit, &mut buf, net.now)
        .unwrap();
    net.nodes[1]
        .conn_input(server_side, &mut buf[..n], net.now)
        .unwrap();
    // 100 bare connects (no byte) from the attacker's address.
    for _ in 0..100 {
        net.nodes[1].conn_accept_from(net.now, "10.0.0.66").unwrap();
        assert!(net.nodes[1].pending_from("10.0.0.66") <= 4);
    }
    let g = net.nodes[1].gauges();
    assert_eq!(g.max_pending_per_address, 4);
    assert!(g.handshakes_shed >= 96);
    // The slow one is still pending and completes.
    net.links.insert((0, legit), (1, server_side));
    net.links.insert((1, server_side), (0, legit));
    net.run();
    assert!(net.events[0]
        .iter()
        .any(|e| matches!(e, Event::Connected { .. })));
}

#[test]
fn a_connection_that_sends_no_client_hello_meets_its_own_short_deadline() {
    let mut net = Net::new(
        none(),
        serde_json::json!({
            "client_hello_timeout_ms": 100, "handshake_timeout_ms": 10_000
        }),
    );
    net.nodes[1].conn_accept_from(net.now, "10.0.0.66").unwrap();
    assert_eq!(net.nodes[1].metrics().6, 1);
    net.advance(99);
    assert_eq!(net.nodes[1].metrics().6, 1, "not before its deadline");
    net.advance(5);
    assert_eq!(net.nodes[1].metrics().6, 0);
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        Event::VerificationFailure { code: "HANDSHAKE_TIMEOUT", message, .. } if message.contains("ClientHello")
    )));
}

#[test]
fn a_resume_with_another_key_is_refused_and_the_real_session_keeps_working() {
    let (mut net, s0, s1, _) = pair(none(), none());
    let fp1 = net.fp(1);
    let victim_id = net.nodes[0].test_session_id(s0, None);
    // An attacker with its own key and its own session to node 1...
    let k = net.add(none());
    let c = net.connect(k, 1, &fp1);
    net.run();
    let sk = net.session_of(k);
    net.cut(k, c);
    net.run();
    // ...resumes with the victim's session id.
    net.nodes[k].test_session_id(sk, Some(victim_id));
    let d = net.nodes[k].conn_resume(sk, net.now).unwrap();
    let e = net.nodes[1].conn_accept(net.now).unwrap();
    net.links.insert((k, d), (1, e));
    net.links.insert((1, e), (k, d));
    net.run();
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        Event::VerificationFailure {
            code: "FINGERPRINT_MISMATCH",
            ..
        }
    )));
    assert_eq!(net.nodes[1].state_name(s1), Some("open"));
    let a = net.nodes[0]
        .open_channel(s0, "state", None, None, None, 1)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "state", None, None, None, 1)
        .unwrap();
    net.nodes[0].send(s0, a, b"still mine").unwrap();
    net.run();
    assert_eq!(net.recv_all(1, s1, b), vec![b"still mine".to_vec()]);
}

#[test]
fn the_event_queue_is_bounded_but_never_drops_a_lifecycle_event() {
    let (mut net, _, s1, _) = pair(none(), none());
    let n = crate::endpoint::MAX_QUEUED_EVENTS + 1000;
    net.nodes[1].test_emit_replays(s1, n);
    let g = net.nodes[1].gauges();
    assert_eq!(g.queued_events, crate::endpoint::MAX_QUEUED_EVENTS as u64);
    assert_eq!(g.events_dropped, 1000);
    net.nodes[1]
        .close_session(s1, 0, "manual", net.now)
        .unwrap();
    net.advance(10);
    assert!(net.events[1].iter().any(|e| matches!(
        e,
        Event::SessionClose {
            reason: "manual",
            ..
        }
    )));
}

#[test]
#[ignore = "timing, run by hand: cargo test --release -- --ignored --nocapture"]
fn round_trip_cost_of_the_core() {
    let (mut net, s0, s1, _) = pair(none(), none());
    let a = net.nodes[0]
        .open_channel(s0, "bench", None, None, None, 2)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "bench", None, None, None, 2)
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = 20_000;
    let t0 = std::time::Instant::now();
    for _ in 0..n {
        net.nodes[0].send(s0, a, &[7u8; 64]).unwrap();
        net.run();
        let (k, _) = net.nodes[1].recv(s1, b, &mut buf).unwrap();
        assert_eq!(k, 68);
        net.nodes[1].send(s1, b, &[8u8; 64]).unwrap();
        net.run();
        let (k, _) = net.nodes[0].recv(s0, a, &mut buf).unwrap();
        assert_eq!(k, 68);
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / f64::from(n);
    println!("core round trip: {us:.2} us");
}

/// A pair whose node 1 set session budget `budget` before any channel
/// was declared (credit granted before is not taken back), and reads only
/// when the test says so.
fn budget_pair(budget: u64) -> (Net, u64, u64, u32, u32) {
    let (mut net, s0, s1, _) = pair(none(), none());
    net.nodes[1].set_budget(s1, Some(budget), None).unwrap();
    let a = net.nodes[0]
        .open_channel(s0, "knowledge", None, None, None, 2)
        .unwrap();
    let b = net.nodes[1]
        .open_channel(s1, "knowledge", None, None, None, 2)
        .unwrap();
    // Two idle channels that hold unused credit, as an agent's do.
    for k in ["control", "state"] {
        net.nodes[0]
            .open_channel(s0, k, None, None, None, 0)
            .unwrap();
        net.nodes[1]
            .open_channel(s1, k, None, None, None, 0)
            .unwrap();
    }
    net.run();
    (net, s0, s1, a, b)
}

#[test]
fn a_session_budget_stops_a_sender_through_credit_and_reading_resumes_it() {
    let (mut net, s0, s1, a, b) = budget_pair(100_000);
    for i in 0..100u8 {
        net.nodes[0].send(s0, a, &[i; 4000]).unwrap();
    }
    net.advance(10);
    let held = net.nodes[1].budget(s1).unwrap().1;
    assert!(held <= 100_000, "held {held}");
    assert!(
        held >= 33_000,
        "a channel's share of the budget is used: {held}"
    );
    let (_, _, ql, _) = net.nodes[0].channel_stats(s0, a).unwrap();
    assert!(ql > 50, "the rest waits in the sender's queue: {ql}");
    // Lowering below what is held loses nothing: reads drain it all.
    net.nodes[1].set_budget(s1, Some(10_000), None).unwrap();
    let mut got = Vec::new();
    for _ in 0..400 {
        got.extend(net.recv_all(1, s1, b));
        assert!(net.nodes[1].budget(s1).unwrap().1 <= 100_000);
        net.advance(3);
        if got.len() == 100 {
            break;
        }
    }
    assert_eq!(got.len(), 100);
    assert!(got.iter().enumerate().all(|(i, m)| m[0] == i as u8));
    assert!(net.closes(1).is_empty());
}

#[test]
fn a_message_up_to_the_budget_completes_though_larger_than_a_channel_share() {
    let (mut net, s0, s1, a, b) = budget_pair(300_000);
    // Three channels: a share is 100 KB; the message is 290 KB.
    let big: Vec<u8> = (0..290_000u32).map(|i| i as u8).collect();
    net.nodes[0].send(s0, a, &big).unwrap();
    net.run();
    net.advance(20);
    assert!(net.nodes[1].budget(s1).unwrap().1 <= 300_000);
    let got = net.recv_all(1, s1, b);
    assert!(got == vec![big], "{} messages", got.len());
    assert!(net.closes(1).is_empty());
}

#[test]
fn a_message_larger_than_the_budget_closes_the_session_with_message_too_large() {
    let (mut net, s0, s1, a, b) = budget_pair(64_000);
    net.nodes[0].send(s0, a, b"small first").unwrap();
    net.nodes[0].send(s0, a, &vec![7u8; 200_000]).unwrap();
    for _ in 0..20 {
        net.advance(3);
        let _ = net.recv_all(1, s1, b);
    }
    assert_eq!(net.closes(1), vec!["message_too_large"]);
    let peer = net.events[0].iter().find_map(|e| match e {
        Event::SessionClose {
            reason, message, ..
        } => Some((*reason, message.clone())),
        _ => None,
    });
    let (reason, message) = peer.expect("the sender's session closed");
    assert_eq!(reason, "peer_closed");
    assert!(
        message
            .unwrap_or_default()
            .starts_with("MESSAGE_TOO_LARGE\n"),
        "the sender learns why"
    );
    assert!(net.nodes[1].budget(s1).unwrap().1 <= 64_000 + 16_384);
}

#[test]
fn a_protected_disconnected_session_is_never_evicted_for_a_new_one() {
    let (mut net, _, s1, c) = pair(none(), serde_json::json!({"max_sessions": 2}));
    let fp1 = net.fp(1);
    net.nodes[1].set_budget(s1, None, Some(true)).unwrap();
    let k = net.add(none());
    net.connect(k, 1, &fp1);
    net.run();
    net.cut(0, c);
    net.run();
    assert_eq!(net.nodes[1].state_name(s1), Some("disconnected"));
    for _ in 0..5 {
        let j = net.add(none());
        net.connect(j, 1, &fp1);
        net.run();
        assert_eq!(connect_failures(&net, j, "TOO_MANY_HANDSHAKES"), 1);
    }
    assert_eq!(closes(&net, 1, "evicted"), 0);
    assert_eq!(net.nodes[1].state_name(s1), Some("disconnected"));
    // Unprotected again, it is the one evicted.
    net.nodes[1].set_budget(s1, None, Some(false)).unwrap();
    let j = net.add(none());
    net.connect(j, 1, &fp1);
    net.run();
    assert_eq!(closes(&net, 1, "evicted"), 1);
}

#[test]
fn per_address_limits_count_an_ipv6_slash_64_as_one_address() {
    use crate::endpoint::address_key;
    assert_eq!(address_key("10.1.2.3"), "10.1.2.3");
    assert_eq!(address_key("::ffff:10.1.2.3"), "10.1.2.3");
    assert_eq!(address_key("2001:db8:1:2::5"), "2001:db8:1:2::/64");
    assert_eq!(address_key("[2001:db8:1:2:aaaa::9]"), "2001:db8:1:2::/64");
    assert_ne!(
        address_key("2001:db8:1:3::5"),
        address_key("2001:db8:1:2::5")
    );
    assert_eq!(address_key("fe80::1%eth0"), "fe80::/64");
    assert_eq!(address_key("pipe-a"), "pipe-a");
    let (mut net, _, _, _) = pair(none(), serde_json::json!({"max_sessions_per_address": 2}));
    let fp1 = net.fp(1);
    let mut refused = 0;
    for addr in ["2001:db8::1", "2001:db8::2", "2001:db8:0:0:ffff::3"] {
        let k = net.add(none());
        net.connect_from(k, 1, &fp1, addr);
        net.run();
        refused += connect_failures(&net, k, "TOO_MANY_SESSIONS");
    }
    assert_eq!(refused, 1, "three addresses of one /64 share two sessions");
    assert_eq!(net.nodes[1].sessions_from("2001:db8::77"), 2);
    let k = net.add(none());
    net.connect_from(k, 1, &fp1, "2001:db8:0:1::1");
    net.run();
    assert_eq!(
        connect_failures(&net, k, "TOO_MANY_SESSIONS"),
        0,
        "another /64"
    );
}
