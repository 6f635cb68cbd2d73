//! Session receive budgets: no channel is starved of credit while the
//! session holds less than its budget, whatever order channels come in.

use super::*;

/// Two engines; `b` receives under session budget `budget`, and the
/// channels the peer declared before `b` opened them get `unopened` bytes.
fn budget_engines(budget: u64, unopened: u64) -> (Engine, Engine) {
    let a = Engine::new(cfg(Policy::Block, 100));
    let mut c = cfg(Policy::Block, 100);
    c.unopened_window = (unopened, 16);
    let mut b = Engine::new(c);
    b.set_recv_budget(budget);
    (a, b)
}

/// Sends `msgs` on each of `send` (channels of `a`) and reads on `recv`
/// (the same channels of `b`) until all arrive; asserts that `b` never
/// holds more than its budget plus one message.
fn deliver(a: &mut Engine, b: &mut Engine, send: &[u32], recv: &[u32], msgs: &[Vec<u8>]) {
    for &id in send {
        for m in msgs {
            a.send(id, m).unwrap();
        }
    }
    let largest = msgs.iter().map(Vec::len).max().unwrap_or(0) as u64;
    let mut got = vec![Vec::new(); recv.len()];
    for _ in 0..200 {
        settle(a, b);
        let held = b.recv_held();
        assert!(held <= b.recv_budget() + largest, "held {held}");
        for (k, &id) in recv.iter().enumerate() {
            got[k].extend(read_all(b, id));
        }
        if got.iter().all(|g| g.len() == msgs.len()) {
            break;
        }
    }
    for (k, g) in got.iter().enumerate() {
        assert!(
            g == msgs,
            "channel {} got {} of {}",
            recv[k],
            g.len(),
            msgs.len()
        );
    }
}

#[test]
fn channels_opened_one_after_another_under_a_budget_each_get_credit() {
    let (mut a, mut b) = budget_engines(1 << 20, 64 * 1024);
    let ca = a.open_channel("control", None, None, None).unwrap();
    let cb = b.open_channel("control", None, None, None).unwrap();
    settle(&mut a, &mut b);
    // "state" comes later while "control" is idle and holds its credit.
    let sa = a.open_channel("state", None, None, None).unwrap();
    let sb = b.open_channel("state", None, None, None).unwrap();
    settle(&mut a, &mut b);
    let msgs: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 100_000]).collect();
    deliver(&mut a, &mut b, &[sa], &[sb], &msgs);
    deliver(&mut a, &mut b, &[ca], &[cb], &msgs);
    assert!(b.recv_outstanding() <= 1 << 20);
}

#[test]
fn a_budget_of_64_kib_delivers_on_three_channels_the_peer_declared_first() {
    let (mut a, mut b) = budget_engines(64 * 1024, 64 * 1024);
    let kinds = ["control", "state", "knowledge"];
    let mut ids_a = Vec::new();
    for k in kinds {
        // One at a time: the first declared could take the whole budget.
        ids_a.push(a.open_channel(k, None, None, None).unwrap());
        settle(&mut a, &mut b);
    }
    let ids_b: Vec<u32> = kinds
        .iter()
        .map(|k| b.open_channel(k, None, None, None).unwrap())
        .collect();
    settle(&mut a, &mut b);
    let msgs: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 20_000]).collect();
    // "control" (declared first) stays idle while the others deliver.
    deliver(&mut a, &mut b, &ids_a[1..], &ids_b[1..], &msgs);
    deliver(&mut a, &mut b, &ids_a[..1], &ids_b[..1], &msgs);
    assert!(b.recv_outstanding() <= 64 * 1024);
}

#[test]
fn a_paused_reader_stops_the_sender_and_lowering_the_budget_loses_nothing() {
    let (mut a, mut b) = budget_engines(200_000, 64 * 1024);
    let ca = a.open_channel("knowledge", None, None, None).unwrap();
    let cb = b.open_channel("knowledge", None, None, None).unwrap();
    for k in ["control", "state"] {
        a.open_channel(k, None, None, None).unwrap();
        b.open_channel(k, None, None, None).unwrap();
    }
    settle(&mut a, &mut b);
    for i in 0..100u8 {
        a.send(ca, &[i; 4000]).unwrap();
    }
    settle(&mut a, &mut b);
    assert!(b.recv_held() <= 200_000, "held {}", b.recv_held());
    assert!(
        b.recv_held() >= 90_000,
        "the budget is used: {}",
        b.recv_held()
    );
    assert!(
        a.channel_stats(ca).unwrap().1 > 40,
        "the rest waits at the sender"
    );
    b.set_recv_budget(10_000);
    let mut got = Vec::new();
    for _ in 0..400 {
        got.extend(read_all(&mut b, cb));
        settle(&mut a, &mut b);
        if got.len() == 100 {
            break;
        }
    }
    assert_eq!(got.len(), 100);
    assert!(got.iter().enumerate().all(|(i, m)| m[0] == i as u8));
}
