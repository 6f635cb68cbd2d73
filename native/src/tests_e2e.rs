//! End-to-end tests over loopback TLS (real sockets, real handshakes).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::node::{ev, status, Event, Node, Session};
use crate::tls::test_keys::random_pem;

fn make_node(extra: &str) -> Arc<Node> {
    let pem = random_pem();
    let mut cfg = serde_json::json!({"key_pem": pem, "test_hooks": true});
    if !extra.is_empty() {
        let e: serde_json::Value = serde_json::from_str(extra).unwrap();
        for (k, v) in e.as_object().unwrap() {
            cfg[k] = v.clone();
        }
    }
    Node::create(cfg.to_string().as_bytes()).unwrap()
}

struct Events {
    node: Arc<Node>,
    seen: Vec<Event>,
}

impl Events {
    fn new(node: &Arc<Node>) -> Self {
        Events {
            node: node.clone(),
            seen: Vec::new(),
        }
    }

    /// Waits for the first unseen-so-far event matching `pred` (events stay recorded).
    fn until(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
        let end = Instant::now() + Duration::from_secs(15);
        let mut from = 0;
        loop {
            if let Some(e) = self.seen[from..].iter().find(|e| pred(e)) {
                return e.clone();
            }
            from = self.seen.len();
            assert!(
                Instant::now() < end,
                "timed out waiting for {what}; saw {:?}",
                self.kinds()
            );
            self.node.events.wait(Duration::from_millis(50));
            self.seen.extend(self.node.events.drain());
        }
    }

    fn kinds(&self) -> Vec<u32> {
        self.seen.iter().map(|e| e.kind).collect()
    }

    fn payload(e: &Event) -> serde_json::Value {
        serde_json::from_slice(&e.payload).unwrap_or(serde_json::Value::Null)
    }
}

fn pair(server_extra: &str, client_extra: &str) -> (Arc<Node>, Arc<Node>, u16) {
    let server = make_node(server_extra);
    let client = make_node(client_extra);
    let port = server.listen("127.0.0.1", 0).unwrap();
    (server, client, port)
}

fn connect(client: &Arc<Node>, ce: &mut Events, port: u16, fp: &str) -> Arc<Session> {
    let op = client
        .connect("127.0.0.1".into(), port, fp.into(), 5000)
        .unwrap();
    let e = ce.until("CONNECTED", |e| {
        e.op == op && (e.kind == ev::CONNECTED || e.kind == ev::CONNECT_FAILED)
    });
    assert_eq!(e.kind, ev::CONNECTED, "{:?}", Events::payload(&e));
    crate::node::session(e.session).unwrap()
}

fn recv_all(s: &Session, ch: u32) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 1 << 20];
    let mut out = Vec::new();
    loop {
        match s.recv(ch, &mut buf) {
            Ok((0, _)) => return out,
            Ok((n, _)) => {
                let mut p = 0;
                while p < n {
                    let l = u32::from_le_bytes(buf[p..p + 4].try_into().unwrap()) as usize;
                    out.push(buf[p + 4..p + 4 + l].to_vec());
                    p += 4 + l;
                }
            }
            Err(e) => panic!("recv failed: {e:?}"),
        }
    }
}

/// Receives until `n` messages arrived (bounded in time).
fn recv_n(s: &Session, ch: u32, n: usize) -> Vec<Vec<u8>> {
    let end = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while got.len() < n {
        got.extend(recv_all(s, ch));
        assert!(
            Instant::now() < end,
            "only {} of {n} messages arrived",
            got.len()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    got
}

fn metric(node: &Node, key: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(&node.metrics_json()).unwrap();
    v[key].as_u64().unwrap()
}

#[test]
fn pinned_handshake_channels_order_and_close() {
    let (server, client, port) = pair("", "");
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, port, server.fingerprint());
    let acc = se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED);
    let ss = crate::node::session(acc.session).unwrap();
    assert_eq!(ss.peer_fp, client.fingerprint());
    assert_eq!(cs.peer_fp, server.fingerprint());
    assert_eq!(ss.id, cs.id);
    ce.until("SESSION_OPEN", |e| {
        e.kind == ev::SESSION_OPEN && e.session == cs.handle
    });

    // Three channels at once, each in order; the server opens "knowledge" late.
    let kinds = ["control", "state", "knowledge"];
    let cch: Vec<u32> = kinds
        .iter()
        .map(|k| cs.open_channel(k, None, None, None).unwrap())
        .collect();
    let sch: Vec<u32> = kinds[..2]
        .iter()
        .map(|k| ss.open_channel(k, None, None, None).unwrap())
        .collect();
    for i in 0..500u32 {
        for (j, &c) in cch.iter().enumerate() {
            let mut m = i.to_le_bytes().to_vec();
            m.resize(4 + (i as usize * 37 + j * 1000) % 40_000, j as u8);
            cs.send(c, &m).unwrap();
        }
    }
    let k = ss.open_channel("knowledge", None, None, None).unwrap();
    for (j, &c) in sch.iter().chain([k].iter()).enumerate() {
        let got = recv_n(&ss, c, 500);
        assert_eq!(got.len(), 500);
        for (i, m) in got.iter().enumerate() {
            assert_eq!(&m[..4], &(i as u32).to_le_bytes(), "order on {}", kinds[j]);
            assert_eq!(m.len(), 4 + (i * 37 + j * 1000) % 40_000);
        }
    }
    // Reply path and stats.
    ss.send(sch[0], b"pong").unwrap();
    assert_eq!(recv_n(&cs, cch[0], 1), vec![b"pong".to_vec()]);
    let st: serde_json::Value = serde_json::from_str(&cs.stats_json()).unwrap();
    assert_eq!(st["messages_out"], 1500);
    assert_eq!(st["messages_in"], 1);
    let info: serde_json::Value = serde_json::from_str(&cs.info_json()).unwrap();
    assert_eq!(info["state"], "open");
    assert_eq!(info["peer_fingerprint"], server.fingerprint());

    // A flush completes once everything is acknowledged.
    cs.send(cch[1], b"last").unwrap();
    let op = cs.flush(cch[1]).unwrap();
    ce.until("FLUSHED", |e| e.kind == ev::FLUSHED && e.op == op);

    cs.close_api(1000).unwrap();
    let c = ce.until("client SESSION_CLOSE", |e| e.kind == ev::SESSION_CLOSE);
    assert_eq!(Events::payload(&c)["reason"], "manual");
    assert_eq!(c.value, 0, "nothing undelivered");
    let s = se.until("server SESSION_CLOSE", |e| e.kind == ev::SESSION_CLOSE);
    assert_eq!(Events::payload(&s)["reason"], "peer_closed");
    assert_eq!(cs.send(cch[0], b"x").unwrap_err().0, status::SESSION_CLOSED);
    cs.release().unwrap();
    assert!(crate::node::session(cs.handle).is_err());
    client.shutdown(500);
    server.shutdown(500);
}

#[test]
fn wrong_fingerprint_is_refused_on_both_sides() {
    let (server, client, port) = pair("", "");
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let wrong = "ab".repeat(32);
    let op = client
        .connect("127.0.0.1".into(), port, wrong, 5000)
        .unwrap();
    let e = ce.until("CONNECT_FAILED", |e| {
        e.kind == ev::CONNECT_FAILED && e.op == op
    });
    assert_eq!(Events::payload(&e)["code"], "FINGERPRINT_MISMATCH");
    let v = se.until("VERIFICATION_FAILURE", |e| {
        e.kind == ev::VERIFICATION_FAILURE
    });
    assert_eq!(Events::payload(&v)["code"], "FINGERPRINT_MISMATCH");
    assert_eq!(metric(&client, "verification_failures"), 1);
    assert_eq!(metric(&server, "verification_failures"), 1);
    assert_eq!(metric(&server, "sessions"), 0);
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn allow_list_refuses_unknown_clients_and_connect_reports_it() {
    let other = "cd".repeat(32);
    let (server, client, port) = pair(&format!(r#"{{"allow_peers":["{other}"]}}"#), "");
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let op = client
        .connect("127.0.0.1".into(), port, server.fingerprint().into(), 5000)
        .unwrap();
    let e = ce.until("CONNECT_FAILED", |e| {
        e.kind == ev::CONNECT_FAILED && e.op == op
    });
    assert_eq!(
        Events::payload(&e)["code"],
        "PEER_NOT_ALLOWED",
        "{:?}",
        Events::payload(&e)
    );
    let v = se.until("VERIFICATION_FAILURE", |e| {
        e.kind == ev::VERIFICATION_FAILURE
    });
    assert_eq!(Events::payload(&v)["code"], "PEER_NOT_ALLOWED");
    assert_eq!(metric(&server, "verification_failures"), 1);
    client.shutdown(100);
    server.shutdown(100);
}

/// A TCP relay that can cut or stall every connection it carries.
struct Proxy {
    port: u16,
    conns: Arc<Mutex<Vec<StdStream>>>,
    stalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    fn start(target: u16) -> Proxy {
        let l = StdListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        l.set_nonblocking(true).unwrap();
        let conns: Arc<Mutex<Vec<StdStream>>> = Arc::default();
        let stalled = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (c2, s2, st2) = (conns.clone(), stalled.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st2.load(Ordering::SeqCst) {
                let Ok((a, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                };
                a.set_nonblocking(false).unwrap();
                let Ok(b) = StdStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                c2.lock()
                    .unwrap()
                    .extend([a.try_clone().unwrap(), b.try_clone().unwrap()]);
                for (mut from, mut to) in [(a.try_clone().unwrap(), b.try_clone().unwrap()), (b, a)]
                {
                    let stalled = s2.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            while stalled.load(Ordering::SeqCst) {
                                std::thread::sleep(Duration::from_millis(5));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Proxy {
            port,
            conns,
            stalled,
            stop,
        }
    }

    fn cut(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.stalled.store(false, Ordering::SeqCst);
        self.cut();
    }
}

#[test]
fn cut_connections_resume_without_loss_or_duplicates() {
    let (server, client, port) = pair(
        r#"{"heartbeat_interval_ms":100}"#,
        r#"{"heartbeat_interval_ms":100}"#,
    );
    let proxy = Proxy::start(port);
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, proxy.port, server.fingerprint());
    let acc = se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED);
    let ss = crate::node::session(acc.session).unwrap();
    let c = cs.open_channel("state", None, None, None).unwrap();
    let s = ss.open_channel("state", None, None, None).unwrap();
    let total = 6000u32;
    // The consumer runs on its own thread, as an application's reader would.
    let ss2 = ss.clone();
    let reader = std::thread::spawn(move || recv_n(&ss2, s, total as usize));
    for i in 0..total {
        let mut m = i.to_le_bytes().to_vec();
        m.resize(200, 7);
        match cs.send(c, &m) {
            Ok(()) => {}
            Err(e) if e.0 == status::WOULD_BLOCK => cs.send_blocking(c, &m, 10_000).unwrap(),
            Err(e) => panic!("{e:?}"),
        }
        // Replies the other way too, so both directions resume.
        if i % 100 == 0 {
            ss.send(s, &i.to_le_bytes()).unwrap();
        }
        if i % 1500 == 750 {
            proxy.cut();
        }
    }
    let got = reader.join().unwrap();
    assert_eq!(got.len(), total as usize);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(
            &m[..4],
            &(i as u32).to_le_bytes(),
            "message {i} out of order or duplicated"
        );
    }
    let back = recv_n(&cs, c, (total / 100) as usize);
    for (k, m) in back.iter().enumerate() {
        assert_eq!(m, &(k as u32 * 100).to_le_bytes());
    }
    let open = ce.until("resumed SESSION_OPEN", |e| {
        e.kind == ev::SESSION_OPEN && Events::payload(e)["resumed"] == true
    });
    assert!(open.value >= 1);
    assert!(ce.kinds().contains(&ev::CONNECTION_LOST));
    se.until("server resumed", |e| {
        e.kind == ev::SESSION_OPEN && Events::payload(e)["resumed"] == true
    });
    assert!(
        !se.kinds().contains(&ev::SESSION_CLOSE),
        "the session survives cuts"
    );
    assert!(metric(&client, "reconnects") >= 1);
    assert_eq!(metric(&server, "replays"), 0);
    assert_eq!(
        metric(&server, "sessions"),
        1,
        "a resumed connection is not a new session"
    );
    assert_eq!(se.seen.iter().filter(|e| e.kind == ev::ACCEPTED).count(), 1);
    client.shutdown(500);
    server.shutdown(500);
}

#[test]
fn replayed_frame_is_dropped_counted_and_reported() {
    let (server, client, port) = pair("", "");
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, port, server.fingerprint());
    let ss =
        crate::node::session(se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED).session).unwrap();
    let c = cs.open_channel("state", None, None, None).unwrap();
    let s = ss.open_channel("state", None, None, None).unwrap();
    cs.send(c, b"one").unwrap();
    cs.send(c, b"two").unwrap();
    let op = cs.flush(c).unwrap();
    ce.until("FLUSHED", |e| e.kind == ev::FLUSHED && e.op == op);
    cs.inject(br#"{"replay_last":"state"}"#).unwrap();
    let r = se.until("REPLAY", |e| e.kind == ev::REPLAY);
    assert_eq!(Events::payload(&r)["channel"], "state");
    assert_eq!(r.value, 2);
    cs.send(c, b"three").unwrap();
    assert_eq!(
        recv_n(&ss, s, 3),
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
    assert_eq!(metric(&server, "replays"), 1);
    let st: serde_json::Value = serde_json::from_str(&ss.stats_json()).unwrap();
    assert_eq!(st["replays"], 1);
    client.shutdown(200);
    server.shutdown(200);
}

#[test]
fn heartbeat_timeout_closes_when_resumption_is_disabled() {
    let fast = r#"{"heartbeat_interval_ms":50,"heartbeat_timeout_ms":400,"resume_window_ms":0}"#;
    let (server, client, port) = pair(fast, fast);
    let proxy = Proxy::start(port);
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, proxy.port, server.fingerprint());
    se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED);
    // Let a few pings through for the latency figures.
    std::thread::sleep(Duration::from_millis(300));
    let st: serde_json::Value = serde_json::from_str(&cs.stats_json()).unwrap();
    assert!(st["latency_p50_us"].as_u64().unwrap() > 0);
    proxy.stalled.store(true, Ordering::SeqCst);
    for evs in [&mut ce, &mut se] {
        let close = evs.until("SESSION_CLOSE", |e| e.kind == ev::SESSION_CLOSE);
        assert_eq!(Events::payload(&close)["reason"], "heartbeat_timeout");
        let ks: Vec<u32> = evs
            .kinds()
            .into_iter()
            .filter(|k| {
                [
                    ev::HEARTBEAT_TIMEOUT,
                    ev::CONNECTION_LOST,
                    ev::SESSION_CLOSE,
                ]
                .contains(k)
            })
            .collect();
        assert_eq!(ks, vec![ev::HEARTBEAT_TIMEOUT, ev::SESSION_CLOSE]);
    }
    drop(proxy);
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn heartbeat_timeout_with_resumption_then_resume_timeout() {
    let fast = r#"{"heartbeat_interval_ms":50,"heartbeat_timeout_ms":300,"resume_window_ms":700,"reconnect_max_delay_ms":50}"#;
    let (server, client, port) = pair(fast, fast);
    let proxy = Proxy::start(port);
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    connect(&client, &mut ce, proxy.port, server.fingerprint());
    se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED);
    proxy.stalled.store(true, Ordering::SeqCst);
    for evs in [&mut ce, &mut se] {
        let close = evs.until("SESSION_CLOSE", |e| e.kind == ev::SESSION_CLOSE);
        let ks: Vec<u32> = evs
            .kinds()
            .into_iter()
            .filter(|k| {
                [
                    ev::HEARTBEAT_TIMEOUT,
                    ev::CONNECTION_LOST,
                    ev::SESSION_CLOSE,
                ]
                .contains(k)
            })
            .collect();
        assert_eq!(ks[..2], [ev::HEARTBEAT_TIMEOUT, ev::CONNECTION_LOST]);
        assert_eq!(*ks.last().unwrap(), ev::SESSION_CLOSE);
        let reason = Events::payload(&close)["reason"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            reason == "resume_timeout" || reason == "reconnect_failed",
            "{reason}"
        );
    }
    drop(proxy);
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn garbage_and_half_open_floods_do_not_stop_a_legitimate_peer() {
    let (server, client, port) = pair(
        r#"{"max_pending_handshakes":4,"handshake_timeout_ms":2000}"#,
        "",
    );
    let mut ce = Events::new(&client);
    let mut idle = Vec::new();
    for i in 0..20 {
        let mut s = StdStream::connect(("127.0.0.1", port)).unwrap();
        if i % 2 == 0 {
            let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff garbage");
        }
        idle.push(s);
    }
    std::thread::sleep(Duration::from_millis(50));
    let cs = connect(&client, &mut ce, port, server.fingerprint());
    assert_eq!(cs.peer_fp, server.fingerprint());
    assert!(metric(&server, "pending_handshakes") <= 4);
    drop(idle);
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn rekey_happens_after_the_byte_threshold_and_data_survives() {
    let (server, client, port) = pair("", r#"{"rekey_after_bytes":65536}"#);
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, port, server.fingerprint());
    let ss =
        crate::node::session(se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED).session).unwrap();
    let c = cs.open_channel("knowledge", None, None, None).unwrap();
    let s = ss.open_channel("knowledge", None, None, None).unwrap();
    for i in 0..64u8 {
        cs.send(c, &vec![i; 16 * 1024]).unwrap();
    }
    let got = recv_n(&ss, s, 64);
    for (i, m) in got.iter().enumerate() {
        assert!(m.len() == 16 * 1024 && m.iter().all(|&b| b == i as u8));
    }
    ce.until("REKEY", |e| e.kind == ev::REKEY);
    assert!(metric(&client, "rekeys") >= 1);
    client.shutdown(200);
    server.shutdown(200);
}

#[test]
fn slow_consumer_blocks_the_sender_then_times_out() {
    let small = r#"{"max_queue":4,"max_message_bytes":1024,"max_queue_bytes":4096}"#;
    let (server, client, port) = pair(small, small);
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, port, server.fingerprint());
    let ss =
        crate::node::session(se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED).session).unwrap();
    let c = cs.open_channel("state", None, None, None).unwrap();
    let s = ss.open_channel("state", None, None, None).unwrap();
    let mut blocked = false;
    for i in 0..200u32 {
        match cs.send(c, &[i as u8; 512]) {
            Ok(()) => {}
            Err(e) if e.0 == status::WOULD_BLOCK => {
                assert_eq!(
                    cs.send_blocking(c, &[0; 512], 200).unwrap_err().0,
                    status::BLOCK_TIMEOUT
                );
                blocked = true;
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(blocked, "credit and the bounded queue must stop the sender");
    let st: serde_json::Value = serde_json::from_str(&cs.channel_stats_json(c).unwrap()).unwrap();
    assert_eq!(st["blocked"], 1);
    assert_eq!(st["errors"], 1);
    // Reading frees credit: the sender gets room again.
    let got = recv_all(&ss, s);
    assert!(!got.is_empty() && got.len() <= 16 + 4);
    ce.until("WRITABLE", |e| e.kind == ev::WRITABLE);
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn oversized_messages_and_too_many_channels_are_typed_errors() {
    let (server, client, port) = pair("", r#"{"max_message_bytes":1000,"max_channels":2}"#);
    let mut ce = Events::new(&client);
    let cs = connect(&client, &mut ce, port, server.fingerprint());
    let c = cs.open_channel("state", None, None, None).unwrap();
    assert_eq!(
        cs.send(c, &[0; 1001]).unwrap_err().0,
        status::MESSAGE_TOO_LARGE
    );
    cs.open_channel("control", None, None, None).unwrap();
    assert_eq!(
        cs.open_channel("x", None, None, None).unwrap_err().0,
        status::TOO_MANY_CHANNELS
    );
    assert_eq!(
        cs.open_channel("BAD", None, None, None).unwrap_err().0,
        status::INVALID_ARGUMENT
    );
    cs.close_channel(c).unwrap();
    assert_eq!(cs.send(c, b"x").unwrap_err().0, status::CHANNEL_CLOSED);
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn only_the_same_fingerprint_can_resume_a_session() {
    let (server, client, port) = pair("", "");
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, port, server.fingerprint());
    se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED);
    let intruder = make_node("");
    let code = intruder.try_resume(port, server.fingerprint(), cs.id);
    assert_eq!(code.as_deref(), Some("RESUME_REJECTED"));
    let v = se.until("VERIFICATION_FAILURE", |e| {
        e.kind == ev::VERIFICATION_FAILURE
    });
    assert_eq!(Events::payload(&v)["code"], "FINGERPRINT_MISMATCH");
    assert_eq!(metric(&server, "verification_failures"), 1);
    // Unknown session ids are refused too; the real session is untouched.
    assert_eq!(
        intruder
            .try_resume(port, server.fingerprint(), [9; 16])
            .as_deref(),
        Some("RESUME_REJECTED")
    );
    assert!(!se.kinds().contains(&ev::CONNECTION_LOST));
    let info: serde_json::Value = serde_json::from_str(&cs.info_json()).unwrap();
    assert_eq!(info["state"], "open");
    intruder.shutdown(100);
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn session_limit_refuses_new_sessions_with_a_clear_code() {
    let (server, client, port) = pair(r#"{"max_sessions":1}"#, "");
    let mut ce = Events::new(&client);
    connect(&client, &mut ce, port, server.fingerprint());
    let op = client
        .connect("127.0.0.1".into(), port, server.fingerprint().into(), 5000)
        .unwrap();
    let e = ce.until("CONNECT_FAILED", |e| {
        e.op == op && e.kind == ev::CONNECT_FAILED
    });
    assert_eq!(Events::payload(&e)["code"], "TOO_MANY_HANDSHAKES");
    assert!(Events::payload(&e)["message"]
        .as_str()
        .unwrap()
        .contains("session limit"));
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn close_with_an_unresponsive_peer_reports_undelivered_messages() {
    let (server, client, port) = pair("", "");
    let proxy = Proxy::start(port);
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, proxy.port, server.fingerprint());
    se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED);
    let c = cs.open_channel("state", None, None, None).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    proxy.stalled.store(true, Ordering::SeqCst);
    for i in 0..3u8 {
        cs.send(c, &[i; 10]).unwrap();
    }
    let op = cs.flush(c).unwrap();
    cs.close_api(200).unwrap();
    let f = ce.until("FLUSH_FAILED", |e| e.kind == ev::FLUSH_FAILED && e.op == op);
    assert_eq!(f.value, 3);
    let close = ce.until("SESSION_CLOSE", |e| e.kind == ev::SESSION_CLOSE);
    assert_eq!(close.value, 3, "three messages were never acknowledged");
    assert_eq!(Events::payload(&close)["reason"], "manual");
    drop(proxy);
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn rekey_also_happens_on_a_timer_and_the_session_keeps_working() {
    let (server, client, port) = pair(
        r#"{"rekey_after_ms":100}"#,
        r#"{"heartbeat_interval_ms":20}"#,
    );
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, port, server.fingerprint());
    let ss =
        crate::node::session(se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED).session).unwrap();
    let r = se.until("two rekeys", |e| e.kind == ev::REKEY && e.value >= 2);
    assert_eq!(r.session, ss.handle);
    let c = cs.open_channel("control", None, None, None).unwrap();
    let s = ss.open_channel("control", None, None, None).unwrap();
    cs.send(c, b"after rekey").unwrap();
    assert_eq!(recv_n(&ss, s, 1), vec![b"after rekey".to_vec()]);
    assert!(metric(&server, "rekeys") >= 2);
    assert!(!ce.kinds().contains(&ev::CONNECTION_LOST));
    client.shutdown(100);
    server.shutdown(100);
}

#[test]
fn a_stall_past_the_heartbeat_timeout_resumes_without_loss() {
    let fast =
        r#"{"heartbeat_interval_ms":50,"heartbeat_timeout_ms":400,"reconnect_max_delay_ms":100}"#;
    let (server, client, port) = pair(fast, fast);
    let proxy = Proxy::start(port);
    let (mut se, mut ce) = (Events::new(&server), Events::new(&client));
    let cs = connect(&client, &mut ce, proxy.port, server.fingerprint());
    let ss =
        crate::node::session(se.until("ACCEPTED", |e| e.kind == ev::ACCEPTED).session).unwrap();
    let c = cs.open_channel("knowledge", None, None, None).unwrap();
    let s = ss.open_channel("knowledge", None, None, None).unwrap();
    let ss2 = ss.clone();
    let total = 3000usize;
    let reader = std::thread::spawn(move || recv_n(&ss2, s, total));
    // Stall the relay mid-stream, well past the heartbeat timeout, then let it flow again.
    let (stalled, ss3) = (proxy.stalled.clone(), ss.clone());
    let staller = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(10);
        while serde_json::from_str::<serde_json::Value>(&ss3.stats_json()).unwrap()["messages_in"]
            .as_u64()
            .unwrap()
            < 500
        {
            assert!(Instant::now() < end, "traffic never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        stalled.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1000));
        stalled.store(false, Ordering::SeqCst);
    });
    for i in 0..total as u32 {
        let m = i.to_le_bytes();
        if i % 16 == 0 {
            std::thread::sleep(Duration::from_micros(200));
        }
        match cs.send(c, &m) {
            Ok(()) => {}
            Err(e) if e.0 == status::WOULD_BLOCK => {
                if let Err(e) = cs.send_blocking(c, &m, 15_000) {
                    ce.seen.extend(client.events.drain());
                    se.seen.extend(server.events.drain());
                    let show = |v: &Vec<Event>| {
                        v.iter()
                            .filter(|e| e.kind != ev::READABLE && e.kind != ev::WRITABLE)
                            .map(|e| format!("{} {}", e.kind, String::from_utf8_lossy(&e.payload)))
                            .collect::<Vec<_>>()
                    };
                    panic!(
                        "{e:?} at {i}; client {:?} server {:?} cs {} ss {}",
                        show(&ce.seen),
                        show(&se.seen),
                        cs.channel_stats_json(c).unwrap(),
                        ss.stats_json(),
                    );
                }
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    staller.join().unwrap();
    let got = reader.join().unwrap();
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m, &(i as u32).to_le_bytes(), "message {i}");
    }
    let lost = ce.until("CONNECTION_LOST", |e| e.kind == ev::CONNECTION_LOST);
    assert_eq!(Events::payload(&lost)["reason"], "heartbeat_timeout");
    ce.until("resumed", |e| {
        e.kind == ev::SESSION_OPEN && Events::payload(e)["resumed"] == true
    });
    let order: Vec<u32> = ce
        .kinds()
        .into_iter()
        .filter(|k| [ev::HEARTBEAT_TIMEOUT, ev::CONNECTION_LOST, ev::SESSION_OPEN].contains(k))
        .collect();
    assert_eq!(
        order[1..4],
        [ev::HEARTBEAT_TIMEOUT, ev::CONNECTION_LOST, ev::SESSION_OPEN]
    );
    assert!(!ce.kinds().contains(&ev::SESSION_CLOSE));
    drop(proxy);
    client.shutdown(200);
    server.shutdown(200);
}
