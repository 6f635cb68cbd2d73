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
        buffers: Arc::new(crate::engine::BufferPool::default()),
    }
}

/// Moves every byte `from` wants to write into `to`; returns frames moved.
fn pump(from: &mut Engine, to: &mut Engine) -> usize {
    let mut out = Vec::new();
    from.fill(&mut out, 1 << 20, 0);
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

#[test]
fn a_message_alone_into_a_buffer_of_its_size() {
    let mut a = Engine::new(cfg(Policy::Block, 100));
    let mut b = Engine::new(cfg(Policy::Block, 100));
    let ca = a.open_channel("knowledge", None, None, None).unwrap();
    let cb = b.open_channel("knowledge", None, None, None).unwrap();
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7) as u8).collect();
    a.send(ca, &big).unwrap();
    a.send(ca, b"").unwrap();
    a.send(ca, b"tail").unwrap();
    settle(&mut a, &mut b);
    // Too small: nothing taken, the record size (message + 4) reported.
    let mut small = vec![0u8; big.len() - 1];
    assert_eq!(
        b.recv_message(cb, &mut small),
        Ok((0, big.len() as u64 + 4))
    );
    // Exactly its size: the bytes alone, and the next record's size.
    let mut exact = vec![0u8; big.len()];
    assert_eq!(b.recv_message(cb, &mut exact), Ok((big.len(), 4)));
    assert_eq!(exact, big);
    // An empty message is left for `recv_into` (0 bytes would mean nothing).
    let mut roomy = vec![0u8; 64];
    assert_eq!(b.recv_message(cb, &mut roomy), Ok((0, 4)));
    assert_eq!(read_all(&mut b, cb), vec![vec![], b"tail".to_vec()]);
    assert_eq!(b.recv_message(cb, &mut roomy), Ok((0, 0)));
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
        a.fill(&mut out, 1 << 20, 0);
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
    assert_eq!(a.oldest_unacked_at(), None);
    out.clear();
    a.fill(&mut out, 1 << 20, 0);
    assert!(frames_of(&out).iter().any(|f| f.kind == FrameType::Data));
}

#[test]
fn a_resume_list_may_name_only_our_channels_and_sequences_we_sent() {
    let (mut a, id) = engine_with_peer_credit(cfg(Policy::Block, 10), (1 << 20, 100));
    a.send(id, b"one").unwrap();
    a.send(id, b"two").unwrap();
    let mut out = Vec::new();
    a.fill(&mut out, 1 << 20, 0);
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
    a.fill(&mut out, 40 * 130, 0);
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

fn frames_of(out: &[u8]) -> Vec<Frame> {
    let mut pos = 0;
    let mut frames = Vec::new();
    while let Some((f, used)) = decode(&out[pos..], MAX_FRAME_PAYLOAD).unwrap() {
        pos += used;
        frames.push(f);
    }
    frames
}

mod budget;
mod resume;
