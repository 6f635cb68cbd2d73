//! Engine tests: two engines wired in memory, no sockets, no clock.

use super::*;
use crate::codec::{decode, Prng, FLAG_END, FRAGMENT_SIZE, MAX_FRAME_PAYLOAD};

fn cfg(policy: Policy, max_queue: usize) -> EngineConfig {
    EngineConfig {
        max_channels: 8,
        max_message: 1 << 20,
        window_bytes: 1 << 20,
        window_msgs: 64,
        max_queue,
        max_queue_bytes: 1 << 22,
        policy,
        max_unacked_bytes: 1 << 30,
        unopened_window: (1 << 20, 64),
        session_recv_budget: 1 << 40,
        node_recv: Arc::new(RecvBudget {
            limit: 1 << 40,
            used: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
        }),
    }
}

/// Moves every byte `from` wants to write into `to`; returns frames moved.
fn pump(from: &mut Engine, to: &mut Engine) -> usize {
    let mut out = Vec::new();
    from.fill(&mut out, 1 << 20);
    let mut pos = 0;
    let mut n = 0;
    while let Some((f, used)) = decode(&out[pos..], MAX_FRAME_PAYLOAD).unwrap() {
        pos += used;
        n += 1;
        to.handle_frame(f).unwrap();
    }
    n
}

fn settle(a: &mut Engine, b: &mut Engine) {
    for _ in 0..100 {
        if pump(a, b) + pump(b, a) == 0 {
            return;
        }
    }
    panic!("engines did not settle");
}

fn read_all(e: &mut Engine, id: u32) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 1 << 21];
    let mut msgs = Vec::new();
    loop {
        let Ok((n, _)) = e.recv_into(id, &mut buf) else {
            return msgs;
        };
        if n == 0 {
            return msgs;
        }
        let mut p = 0;
        while p < n {
            let l = u32::from_le_bytes(buf[p..p + 4].try_into().unwrap()) as usize;
            msgs.push(buf[p + 4..p + 4 + l].to_vec());
            p += 4 + l;
        }
    }
}

#[test]
fn messages_arrive_in_order_with_fragmentation() {
    let mut a = Engine::new(cfg(Policy::Block, 100));
    let mut b = Engine::new(cfg(Policy::Block, 100));
    let ca = a.open_channel("knowledge", None, None, None).unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    a.send(ca, b"one").unwrap();
    a.send(ca, &big).unwrap();
    a.send(ca, b"").unwrap();
    settle(&mut a, &mut b);
    // b has not opened the channel: messages wait, no events yet.
    assert!(!b
        .take_events()
        .iter()
        .any(|e| matches!(e, EngineEvent::Readable(_))));
    let cb = b.open_channel("knowledge", None, None, None).unwrap();
    assert_eq!(b.take_events(), vec![EngineEvent::Readable(cb)]);
    assert_eq!(read_all(&mut b, cb), vec![b"one".to_vec(), big, vec![]]);
    assert!(a.all_acked());
}

/// An engine whose peer (faked with raw frames) declared "state" as its
/// channel 9 and granted `credit` bytes and messages.
fn engine_with_peer_credit(c: EngineConfig, credit: (u64, u64)) -> (Engine, u32) {
    let mut a = Engine::new(c);
    let id = a.open_channel("state", None, None, None).unwrap();
    a.handle_frame(Frame {
        payload: b"state".to_vec(),
        ..Frame::empty(FrameType::Open, 9, 0)
    })
    .unwrap();
    let r = a.handle_frame(Frame {
        payload: codec::encode_credit(credit.0, credit.1),
        ..Frame::empty(FrameType::Credit, 9, 0)
    });
    r.unwrap();
    (a, id)
}

#[test]
fn a_peer_that_never_acknowledges_gets_no_more_than_the_unacked_cap() {
    let mut c = cfg(Policy::DropOldest, 100_000);
    c.max_unacked_bytes = 64 * 1024;
    c.max_queue_bytes = 1 << 30;
    let (mut a, id) = engine_with_peer_credit(c, (1 << 33, 1 << 23));
    for _ in 0..100 {
        a.send(id, &[7u8; 10_000]).unwrap();
    }
    let mut out = Vec::new();
    for _ in 0..1000 {
        a.fill(&mut out, 1 << 20);
    }
    let (sum, max) = a.unacked_bytes();
    assert!(max >= 64 * 1024, "the cap is used: {max}");
    assert!(
        max < 64 * 1024 + FRAGMENT_SIZE as u64,
        "unacked {max} beyond the cap plus one fragment"
    );
    assert_eq!(sum, max);
    // An ACK of everything frees the buffer and sending resumes.
    let last = frames_of(&out)
        .iter()
        .filter(|f| f.kind == FrameType::Data)
        .map(|f| f.seq)
        .max()
        .unwrap();
    a.handle_frame(Frame::empty(FrameType::Ack, 9, last))
        .unwrap();
    assert_eq!(a.unacked_bytes().0, 0);
    assert_eq!(a.acks_received(), 1);
    out.clear();
    a.fill(&mut out, 1 << 20);
    assert!(frames_of(&out).iter().any(|f| f.kind == FrameType::Data));
}

#[test]
fn a_resume_list_may_name_only_our_channels_and_sequences_we_sent() {
    let (mut a, id) = engine_with_peer_credit(cfg(Policy::Block, 10), (1 << 20, 100));
    a.send(id, b"one").unwrap();
    a.send(id, b"two").unwrap();
    let mut out = Vec::new();
    a.fill(&mut out, 1 << 20);
    assert_eq!(a.check_resume_list(&[]), Ok(()));
    assert_eq!(a.check_resume_list(&[(id, 0)]), Ok(()));
    assert_eq!(a.check_resume_list(&[(id, 2)]), Ok(()));
    for bad in [vec![(id, 3)], vec![(id + 7, 0)], vec![(id, 1), (id, 1)]] {
        assert!(a.check_resume_list(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn a_credit_beyond_any_window_is_a_protocol_error() {
    let (mut a, _) = engine_with_peer_credit(
        cfg(Policy::Block, 10),
        (MAX_CREDIT_WINDOW_BYTES, MAX_CREDIT_WINDOW_MSGS),
    );
    for (b, m) in [
        (u64::MAX, 1),
        (MAX_CREDIT_WINDOW_BYTES + 1, 1),
        (1, MAX_CREDIT_WINDOW_MSGS + 1),
    ] {
        let r = a.handle_frame(Frame {
            payload: codec::encode_credit(b, m),
            ..Frame::empty(FrameType::Credit, 9, 0)
        });
        assert!(
            matches!(r, Err(ProtocolError::CreditTooLarge(_))),
            "{b} {m}: {r:?}"
        );
    }
}

#[test]
fn credit_stops_a_sender_whose_peer_does_not_read() {
    let mut c = cfg(Policy::Block, 1000);
    c.window_msgs = 10;
    c.window_bytes = 1000;
    c.max_message = 1000;
    let mut a = Engine::new(c.clone());
    let mut b = Engine::new(c);
    let ca = a.open_channel("state", None, None, None).unwrap();
    let cb = b.open_channel("state", None, None, None).unwrap();
    for i in 0..50u8 {
        a.send(ca, &[i; 10]).unwrap();
    }
    settle(&mut a, &mut b);
    assert_eq!(b.total_stats().messages_in, 10, "only the window crosses");
    assert_eq!(
        a.channel_stats(ca).unwrap().1,
        40,
        "the rest waits in the sender's queue"
    );
    let got = read_all(&mut b, cb);
    assert_eq!(got.len(), 10);
    settle(&mut a, &mut b);
    let mut total = got.len();
    for _ in 0..10 {
        total += read_all(&mut b, cb).len();
        settle(&mut a, &mut b);
    }
    assert_eq!(total, 50);
    // Byte credit: messages of 300 bytes, window of 1000 bytes.
    for _ in 0..5 {
        a.send(ca, &[1; 300]).unwrap();
    }
    settle(&mut a, &mut b);
    assert_eq!(read_all(&mut b, cb).len(), 3);
}

#[test]
fn queue_policies_and_statistics() {
    let mut a = Engine::new(cfg(Policy::Error, 2));
    let id = a.open_channel("custom.q", None, None, None).unwrap();
    // No peer: nothing leaves the queue.
    a.send(id, b"1").unwrap();
    a.send(id, b"2").unwrap();
    assert_eq!(a.send(id, b"3"), Err(SendError::QueueFull));
    let s = a.channel_stats(id).unwrap().0;
    assert_eq!(
        (
            s.attempted,
            s.enqueued,
            s.errors,
            s.overflow_events,
            s.max_queue_len
        ),
        (3, 2, 1, 1, 2)
    );

    let id2 = a
        .open_channel("drop.new", Some(Policy::DropNewest), Some(1), None)
        .unwrap();
    a.send(id2, b"a").unwrap();
    a.send(id2, b"b").unwrap();
    let s = a.channel_stats(id2).unwrap().0;
    assert_eq!((s.dropped_newest, s.enqueued), (1, 1));

    let id3 = a
        .open_channel("drop.old", Some(Policy::DropOldest), Some(2), None)
        .unwrap();
    for m in [b"x", b"y", b"z"] {
        a.send(id3, m).unwrap();
    }
    let s = a.channel_stats(id3).unwrap().0;
    assert_eq!((s.dropped_oldest, s.enqueued, s.overflow_events), (1, 3, 1));
    let ev = a.take_events();
    assert!(ev.contains(&EngineEvent::Drop {
        channel: id2,
        cause: "drop_newest",
        count: 1
    }));
    assert!(ev.contains(&EngineEvent::Drop {
        channel: id3,
        cause: "drop_oldest",
        count: 1
    }));

    let id4 = a
        .open_channel("blk", Some(Policy::Block), Some(1), None)
        .unwrap();
    a.send(id4, b"a").unwrap();
    assert_eq!(a.send(id4, b"b"), Err(SendError::WouldBlock));
    assert_eq!(a.try_enqueue(id4, b"b"), Ok(false));
    a.count_block_timeout(id4);
    let s = a.channel_stats(id4).unwrap().0;
    assert_eq!((s.blocked, s.errors, s.attempted), (1, 1, 2));

    // Byte bound.
    let id5 = a
        .open_channel("bytes", Some(Policy::Error), Some(100), Some(10))
        .unwrap();
    a.send(id5, &[0; 8]).unwrap();
    assert_eq!(a.send(id5, &[0; 3]), Err(SendError::QueueFull));
    assert_eq!(a.send(id5, &vec![0; 2 << 20]), Err(SendError::TooLarge));
}

#[test]
fn blocked_sender_gets_room_and_writable_event() {
    let mut a = Engine::new(cfg(Policy::Block, 1));
    let mut b = Engine::new(cfg(Policy::Block, 1));
    let ca = a.open_channel("state", None, None, None).unwrap();
    b.open_channel("state", None, None, None).unwrap();
    a.send(ca, b"1").unwrap();
    assert_eq!(a.send(ca, b"2"), Err(SendError::WouldBlock));
    settle(&mut a, &mut b);
    assert!(a.take_events().contains(&EngineEvent::Writable(ca)));
    assert!(a.take_room_freed());
    assert_eq!(a.try_enqueue(ca, b"2"), Ok(true));
}

#[test]
fn priority_prefers_the_first_class_without_starving_the_last() {
    let mut a = Engine::new(cfg(Policy::Block, 10_000));
    let mut b = Engine::new(cfg(Policy::Block, 10_000));
    let k = a.open_channel("knowledge", None, None, None).unwrap();
    let c = a.open_channel("control", None, None, None).unwrap();
    // The priority is the caller's explicit choice, not the kind's name.
    a.set_priority(c, 0);
    b.open_channel("knowledge", None, None, None).unwrap();
    b.open_channel("control", None, None, None).unwrap();
    settle(&mut a, &mut b);
    for _ in 0..40 {
        a.send(k, &[7; 100]).unwrap();
        a.send(c, &[1; 100]).unwrap();
    }
    let mut out = Vec::new();
    a.fill(&mut out, 40 * 130);
    let mut pos = 0;
    let (mut nk, mut nc) = (0, 0);
    while let Some((f, used)) = decode(&out[pos..], MAX_FRAME_PAYLOAD).unwrap() {
        pos += used;
        if f.kind == FrameType::Data {
            if f.channel == k {
                nk += 1
            } else {
                nc += 1
            }
        }
    }
    assert!(nc > nk * 3, "control first: {nc} vs {nk}");
    assert!(nk > 0, "knowledge not starved");
}

#[test]
fn resumption_resends_unacknowledged_frames_exactly_once() {
    let mut rng = Prng::new(11);
    let mut a = Engine::new(cfg(Policy::Block, 10_000));
    let mut b = Engine::new(cfg(Policy::Block, 10_000));
    let ca = a.open_channel("state", None, None, None).unwrap();
    let cb = b.open_channel("state", None, None, None).unwrap();
    settle(&mut a, &mut b);
    let mut sent = 0u32;
    let mut got = Vec::new();
    for round in 0..30 {
        for _ in 0..rng.below(20) {
            a.send(ca, &sent.to_le_bytes()).unwrap();
            sent += 1;
        }
        // Write a's output but deliver only a random prefix of whole frames (the cut).
        let mut out = Vec::new();
        a.fill(&mut out, 1 << 20);
        let mut pos = 0;
        let mut frames = Vec::new();
        while let Some((f, used)) = decode(&out[pos..], MAX_FRAME_PAYLOAD).unwrap() {
            pos += used;
            frames.push(f);
        }
        let keep = rng.below(frames.len() as u64 + 1) as usize;
        for f in frames.into_iter().take(keep) {
            b.handle_frame(f).unwrap();
        }
        // b's answers (acks) are lost half of the time.
        if round % 2 == 0 {
            pump(&mut b, &mut a);
        } else {
            let mut lost = Vec::new();
            b.fill(&mut lost, 1 << 20);
        }
        got.extend(read_all(&mut b, cb));
        // Reconnect: exchange last-received lists.
        let a_state = a.resume_state();
        let b_state = b.resume_state();
        a.on_new_connection(&b_state);
        b.on_new_connection(&a_state);
        settle(&mut a, &mut b);
        got.extend(read_all(&mut b, cb));
    }
    let expect: Vec<Vec<u8>> = (0..sent).map(|i| i.to_le_bytes().to_vec()).collect();
    assert_eq!(got, expect);
    assert_eq!(b.total_stats().replays, 0, "resent frames are not replays");
    assert!(a.all_acked());
}

fn frames_of(out: &[u8]) -> Vec<Frame> {
    let mut pos = 0;
    let mut frames = Vec::new();
    while let Some((f, used)) = decode(&out[pos..], MAX_FRAME_PAYLOAD).unwrap() {
        pos += used;
        frames.push(f);
    }
    frames
}

#[test]
fn deferred_acks_ride_along_or_go_out_after_enough_frames() {
    let mut a = Engine::new(cfg(Policy::Block, 10_000));
    let mut b = Engine::new(cfg(Policy::Block, 10_000));
    let ca = a.open_channel("state", None, None, None).unwrap();
    let cb = b.open_channel("state", None, None, None).unwrap();
    settle(&mut a, &mut b);
    a.send(ca, b"one").unwrap();
    pump(&mut a, &mut b);
    // Nothing else to write: the ACK waits.
    let mut out = Vec::new();
    b.fill_lazy(&mut out, 1 << 20, false);
    assert!(out.is_empty(), "a lone ACK is deferred");
    assert!(b.has_deferred() && !b.has_output());
    // b sends data: the ACK rides along in the same write.
    b.send(cb, b"reply").unwrap();
    b.fill_lazy(&mut out, 1 << 20, false);
    let kinds: Vec<FrameType> = frames_of(&out).iter().map(|f| f.kind).collect();
    assert!(kinds.contains(&FrameType::Data) && kinds.contains(&FrameType::Ack));
    assert!(!b.has_deferred());
    for f in frames_of(&out) {
        a.handle_frame(f).unwrap();
    }
    assert!(a.all_acked());
    // Reading everything makes a small credit grant due, deferred too,
    // until the deferral timer flushes it.
    assert_eq!(read_all(&mut b, cb), vec![b"one".to_vec()]);
    let mut out = Vec::new();
    b.fill_lazy(&mut out, 1 << 20, false);
    assert!(out.is_empty() && b.has_deferred() && !b.credit_due_now(cb));
    b.fill_lazy(&mut out, 1 << 20, true);
    assert_eq!(frames_of(&out)[0].kind, FrameType::Credit);
    assert!(!b.has_deferred());
    // Enough frames make the ACK urgent on its own.
    for i in 0..ACK_EVERY_FRAMES {
        a.send(ca, &i.to_le_bytes()).unwrap();
    }
    pump(&mut a, &mut b);
    let mut out = Vec::new();
    b.fill_lazy(&mut out, 1 << 20, false);
    let frames = frames_of(&out);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].kind, FrameType::Ack);
    assert_eq!(read_all(&mut b, cb).len(), ACK_EVERY_FRAMES as usize);
}

#[test]
fn resumption_with_deferred_acks_delivers_both_ways_exactly_once() {
    let mut rng = Prng::new(29);
    let mut e = [
        Engine::new(cfg(Policy::Block, 10_000)),
        Engine::new(cfg(Policy::Block, 10_000)),
    ];
    let ids = [
        e[0].open_channel("state", None, None, None).unwrap(),
        e[1].open_channel("state", None, None, None).unwrap(),
    ];
    let (x, y) = e.split_at_mut(1);
    settle(&mut x[0], &mut y[0]);
    let mut sent = [0u32; 2];
    let mut got: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..40 {
        for _ in 0..rng.below(60) {
            let s = rng.below(2) as usize;
            let mut m = sent[s].to_le_bytes().to_vec();
            m.resize(4 + rng.below(40_000) as usize, s as u8);
            e[s].send(ids[s], &m).unwrap();
            sent[s] += 1;
        }
        // A few exchanges with deferred ACKs, each cut at a random frame.
        for _ in 0..rng.below(6) {
            let s = rng.below(2) as usize;
            let mut out = Vec::new();
            e[s].fill_lazy(&mut out, 1 + rng.below(1 << 18) as usize, rng.below(3) == 0);
            let frames = frames_of(&out);
            // Mostly whole writes; sometimes the connection is cut.
            let n = frames.len();
            let keep = if rng.below(4) == 0 {
                rng.below(n as u64 + 1) as usize
            } else {
                n
            };
            for f in frames.into_iter().take(keep) {
                e[1 - s].handle_frame(f).unwrap();
            }
            let r = 1 - s;
            if rng.below(2) == 0 {
                got[r].extend(read_all(&mut e[r], ids[r]));
            }
            if keep < n {
                break;
            }
        }
        // Reconnect.
        let st = [e[0].resume_state(), e[1].resume_state()];
        e[0].on_new_connection(&st[1]);
        e[1].on_new_connection(&st[0]);
        let (x, y) = e.split_at_mut(1);
        settle(&mut x[0], &mut y[0]);
        for r in 0..2 {
            got[r].extend(read_all(&mut e[r], ids[r]));
        }
    }
    let (x, y) = e.split_at_mut(1);
    settle(&mut x[0], &mut y[0]);
    for r in 0..2 {
        let s = 1 - r;
        got[r].extend(read_all(&mut e[r], ids[r]));
        let order: Vec<u32> = got[r]
            .iter()
            .map(|m| u32::from_le_bytes(m[..4].try_into().unwrap()))
            .collect();
        assert_eq!(order, (0..sent[s]).collect::<Vec<_>>());
        assert_eq!(
            e[r].total_stats().replays,
            0,
            "resent frames are not replays"
        );
        assert!(e[s].all_acked());
    }
}

#[test]
fn replayed_frame_is_dropped_counted_and_session_kept() {
    let mut a = Engine::new(cfg(Policy::Block, 100));
    let mut b = Engine::new(cfg(Policy::Block, 100));
    let ca = a.open_channel("state", None, None, None).unwrap();
    let cb = b.open_channel("state", None, None, None).unwrap();
    settle(&mut a, &mut b);
    a.send(ca, b"m1").unwrap();
    a.send(ca, b"m2").unwrap();
    settle(&mut a, &mut b);
    assert_eq!(read_all(&mut b, cb).len(), 2);
    assert!(a.inject_replay("state"));
    settle(&mut a, &mut b);
    b.report_replays();
    let ev = b.take_events();
    assert!(
        ev.iter().any(
            |e| matches!(e, EngineEvent::Replay { channel, seq: 2, count: 1 } if *channel == cb)
        ),
        "{ev:?}"
    );
    assert_eq!(b.total_stats().replays, 1);
    assert!(read_all(&mut b, cb).is_empty());
    a.send(ca, b"m3").unwrap();
    settle(&mut a, &mut b);
    assert_eq!(read_all(&mut b, cb), vec![b"m3".to_vec()]);
}

#[test]
fn unacknowledged_duplicates_are_dropped_silently_but_acknowledged_ones_are_replays() {
    let mut b = Engine::new(cfg(Policy::Block, 100));
    let id = b.open_channel("state", None, None, None).unwrap();
    b.handle_frame(Frame {
        payload: b"state".to_vec(),
        ..Frame::empty(FrameType::Open, 9, 0)
    })
    .unwrap();
    let mut out = Vec::new();
    b.fill(&mut out, 1 << 16); // grants credit
    let data = |seq| Frame {
        flags: FLAG_END,
        payload: vec![seq as u8],
        ..Frame::empty(FrameType::Data, 9, seq)
    };
    b.handle_frame(data(1)).unwrap();
    b.handle_frame(data(1)).unwrap(); // not acknowledged yet: a duplicate
    assert_eq!(b.total_stats().replays, 0);
    out.clear();
    b.fill(&mut out, 1 << 16); // ACK 1 goes out
    b.handle_frame(data(1)).unwrap(); // now a replay
    assert_eq!(b.total_stats().replays, 1);
    assert!(
        !b.take_events()
            .iter()
            .any(|e| matches!(e, EngineEvent::Replay { .. })),
        "a replay queues no event by itself"
    );
    for _ in 0..9_999 {
        b.handle_frame(data(1)).unwrap();
    }
    assert_eq!(
        (b.total_stats().replays, b.replays_seen()),
        (10_000, 10_000)
    );
    assert!(b.replays_unreported());
    b.report_replays();
    assert_eq!(
        b.take_events(),
        vec![EngineEvent::Replay {
            channel: id,
            seq: 1,
            count: 10_000
        }],
        "ten thousand replays, one coalesced event"
    );
    b.report_replays();
    assert!(b.take_events().is_empty());
    assert!(!b.replays_unreported());
    let mut buf = [0u8; 64];
    assert_eq!(
        b.recv_into(id, &mut buf).unwrap(),
        (5, 0),
        "one message, once"
    );
}

#[test]
fn gaps_unknown_channels_and_credit_abuse_are_protocol_errors() {
    let mut b = Engine::new(cfg(Policy::Block, 100));
    let data = |ch, seq| Frame {
        flags: FLAG_END,
        ..Frame::empty(FrameType::Data, ch, seq)
    };
    assert!(b.handle_frame(data(1, 1)).is_err());
    b.handle_frame(Frame {
        payload: b"state".to_vec(),
        ..Frame::empty(FrameType::Open, 1, 0)
    })
    .unwrap();
    // No credit announced yet.
    assert!(b.handle_frame(data(1, 1)).is_err());
    let mut out = Vec::new();
    b.fill(&mut out, 1 << 16);
    assert!(b.handle_frame(data(1, 2)).is_err(), "gap");
    b.handle_frame(data(1, 1)).unwrap();
    assert!(
        b.handle_frame(Frame::empty(FrameType::Ack, 1, 5)).is_err(),
        "ack of unsent"
    );
}

#[test]
fn flush_completes_on_ack_and_fails_on_close() {
    let mut a = Engine::new(cfg(Policy::Block, 100));
    let mut b = Engine::new(cfg(Policy::Block, 100));
    let ca = a.open_channel("state", None, None, None).unwrap();
    b.open_channel("state", None, None, None).unwrap();
    a.send(ca, b"x").unwrap();
    a.flush(ca, 77).unwrap();
    assert!(a.take_events().is_empty());
    settle(&mut a, &mut b);
    assert_eq!(
        a.take_events(),
        vec![EngineEvent::Flushed {
            op: 77,
            channel: ca
        }]
    );
    a.send(ca, b"y").unwrap();
    a.flush(ca, 78).unwrap();
    assert_eq!(a.fail_all(), 1);
    assert_eq!(
        a.take_events(),
        vec![EngineEvent::FlushFailed {
            op: 78,
            channel: ca,
            undelivered: 1
        }]
    );
}

#[test]
fn half_close_ends_the_peers_reads_after_the_data() {
    let mut a = Engine::new(cfg(Policy::Block, 100));
    let mut b = Engine::new(cfg(Policy::Block, 100));
    let ca = a.open_channel("knowledge", None, None, None).unwrap();
    let cb = b.open_channel("knowledge", None, None, None).unwrap();
    a.send(ca, b"last").unwrap();
    a.close_channel(ca).unwrap();
    assert_eq!(a.send(ca, b"more"), Err(SendError::ChannelClosed));
    settle(&mut a, &mut b);
    assert_eq!(read_all(&mut b, cb), vec![b"last".to_vec()]);
    let mut buf = [0u8; 16];
    assert_eq!(b.recv_into(cb, &mut buf), Err(SendError::ChannelClosed));
    assert!(a.all_acked());
}

#[test]
fn hostile_frame_sequences_never_panic_the_engine() {
    let mut rng = Prng::new(99);
    let types = [
        FrameType::Hello,
        FrameType::Open,
        FrameType::Data,
        FrameType::Fin,
        FrameType::Ack,
        FrameType::Credit,
        FrameType::Ping,
        FrameType::Pong,
        FrameType::Close,
    ];
    let mut buf = vec![0u8; 4096];
    for _ in 0..300 {
        let mut e = Engine::new(cfg(Policy::DropOldest, 4));
        let id = e.open_channel("state", None, None, None).unwrap();
        for _ in 0..200 {
            let kind = types[rng.below(types.len() as u64) as usize];
            let payload: Vec<u8> = match (kind, rng.below(3)) {
                (FrameType::Open, 0) => b"state".to_vec(),
                (FrameType::Credit, 0) => codec::encode_credit(rng.below(1 << 20), rng.below(100)),
                _ => (0..rng.below(40)).map(|_| rng.next_u64() as u8).collect(),
            };
            let f = Frame {
                kind,
                flags: (rng.below(2) as u8) & FLAG_END,
                channel: rng.below(4) as u32,
                seq: rng.below(8),
                payload,
            };
            let _ = e.handle_frame(f);
            let _ = e.send(id, &[1, 2, 3]);
            let mut out = Vec::new();
            e.fill(&mut out, 1 << 16);
            let _ = e.recv_into(id, &mut buf);
            if rng.below(50) == 0 {
                let st = e.resume_state();
                e.on_new_connection(&st);
            }
        }
    }
}

#[test]
fn channel_limit_is_enforced() {
    let mut a = Engine::new(cfg(Policy::Block, 1));
    for i in 0..8 {
        a.open_channel(&format!("c{i}"), None, None, None).unwrap();
    }
    assert_eq!(
        a.open_channel("c9", None, None, None),
        Err(OpenError::TooManyChannels)
    );
    assert_eq!(
        a.open_channel("c1", None, None, None),
        Ok(2),
        "joining an open kind is fine"
    );
    assert_eq!(
        a.open_channel("Bad", None, None, None),
        Err(OpenError::InvalidKind)
    );
}
