//! Engine tests of resumption, deferred ACKs, replays and hostile frames.

use super::*;

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
        a.fill(&mut out, 1 << 20, 0);
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
            b.fill(&mut lost, 1 << 20, 0);
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
    b.fill_lazy(&mut out, 1 << 20, false, 0);
    assert!(out.is_empty(), "a lone ACK is deferred");
    assert!(b.has_deferred() && !b.has_output());
    // b sends data: the ACK rides along in the same write.
    b.send(cb, b"reply").unwrap();
    b.fill_lazy(&mut out, 1 << 20, false, 0);
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
    b.fill_lazy(&mut out, 1 << 20, false, 0);
    assert!(out.is_empty() && b.has_deferred() && !b.credit_due_now(cb));
    b.fill_lazy(&mut out, 1 << 20, true, 0);
    assert_eq!(frames_of(&out)[0].kind, FrameType::Credit);
    assert!(!b.has_deferred());
    // Enough frames make the ACK urgent on its own.
    for i in 0..ACK_EVERY_FRAMES {
        a.send(ca, &i.to_le_bytes()).unwrap();
    }
    pump(&mut a, &mut b);
    let mut out = Vec::new();
    b.fill_lazy(&mut out, 1 << 20, false, 0);
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
            e[s].fill_lazy(
                &mut out,
                1 + rng.below(1 << 18) as usize,
                rng.below(3) == 0,
                0,
            );
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
    b.fill(&mut out, 1 << 16, 0); // grants credit
    let data = |seq| Frame {
        flags: FLAG_END,
        payload: vec![seq as u8],
        ..Frame::empty(FrameType::Data, 9, seq)
    };
    b.handle_frame(data(1)).unwrap();
    b.handle_frame(data(1)).unwrap(); // not acknowledged yet: a duplicate
    assert_eq!(b.total_stats().replays, 0);
    out.clear();
    b.fill(&mut out, 1 << 16, 0); // ACK 1 goes out
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
    b.fill(&mut out, 1 << 16, 0);
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
            e.fill(&mut out, 1 << 16, 0);
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
