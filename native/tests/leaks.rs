//! Opening and closing 1,000 sessions (two nodes, two rounds of 500), then shutting the nodes down,
//! returns the process's open file descriptors and threads to their baseline. (Its own test binary,
//! so no other test's sockets or threads interfere.)

use std::time::{Duration, Instant};

use web4_rtt::node::{ev, session, Node};

fn pem(seed: u8) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend((0..32u8).map(|i| i.wrapping_mul(31).wrapping_add(seed)));
    let mut s = String::new();
    for c in der.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            s.push(if i <= c.len() {
                T[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    format!("-----BEGIN PRIVATE KEY-----\n{s}\n-----END PRIVATE KEY-----\n")
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn wait_for(node: &Node, kind: u32, n: usize) -> Vec<web4_rtt::node::Event> {
    let end = Instant::now() + Duration::from_secs(30);
    let mut got = Vec::new();
    while got
        .iter()
        .filter(|e: &&web4_rtt::node::Event| e.kind == kind)
        .count()
        < n
    {
        assert!(
            Instant::now() < end,
            "timed out waiting for {n} events of kind {kind}"
        );
        node.events.wait(Duration::from_millis(50));
        got.extend(node.events.drain());
    }
    got
}

#[test]
fn many_sessions_return_fds_and_threads_to_baseline() {
    let fds0 = count("/proc/self/fd");
    let threads0 = count("/proc/self/task");
    for round in 0..2u8 {
        let cfg = |seed: u8| {
            serde_json::json!({"key_pem": pem(seed), "heartbeat_interval_ms": 200}).to_string()
        };
        let server = Node::create(cfg(round * 2 + 1).as_bytes()).unwrap();
        let client = Node::create(cfg(round * 2 + 2).as_bytes()).unwrap();
        let port = server.listen("127.0.0.1", 0).unwrap();
        let (batches, per) = (25, 20);
        for _ in 0..batches {
            for _ in 0..per {
                client
                    .connect("127.0.0.1".into(), port, server.fingerprint().into(), 5000)
                    .unwrap();
            }
            let evs = wait_for(&client, ev::CONNECTED, per);
            for e in evs.iter().filter(|e| e.kind == ev::CONNECTED) {
                let s = session(e.session).unwrap();
                let c = s.open_channel("state", None, None, None).unwrap();
                s.send(c, b"hello").unwrap();
                s.close_api(1000).unwrap();
            }
            wait_for(&server, ev::SESSION_CLOSE, per);
            for e in evs.iter().filter(|e| e.kind == ev::CONNECTED) {
                let end = Instant::now() + Duration::from_secs(5);
                while session(e.session).unwrap().release().is_err() {
                    assert!(Instant::now() < end, "session did not close");
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        client.shutdown(500);
        server.shutdown(500);
    }
    // Give the kernel a moment to reap.
    let end = Instant::now() + Duration::from_secs(5);
    while (count("/proc/self/fd") > fds0 || count("/proc/self/task") > threads0)
        && Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        count("/proc/self/fd"),
        fds0,
        "file descriptors back to baseline"
    );
    assert_eq!(
        count("/proc/self/task"),
        threads0,
        "threads back to baseline"
    );
}
