//! Codec tests: round trips as properties over random frames, hostile bytes.

use super::*;

const TYPES: [FrameType; 11] = [
    FrameType::Hello,
    FrameType::Accept,
    FrameType::Reject,
    FrameType::Open,
    FrameType::Data,
    FrameType::Fin,
    FrameType::Ack,
    FrameType::Credit,
    FrameType::Ping,
    FrameType::Pong,
    FrameType::Close,
];

fn random_frame(rng: &mut Prng) -> Frame {
    let len = match rng.below(4) {
        0 => 0,
        1 => rng.below(16) as usize,
        2 => rng.below(2048) as usize,
        _ => rng.below(MAX_FRAME_PAYLOAD as u64 + 1) as usize,
    };
    Frame {
        kind: TYPES[rng.below(TYPES.len() as u64) as usize],
        flags: (rng.below(2) as u8) & FLAG_END,
        channel: rng.next_u64() as u32,
        seq: rng.next_u64(),
        payload: (0..len).map(|_| rng.next_u64() as u8).collect(),
    }
}

#[test]
fn round_trip_random_frames_property() {
    let mut rng = Prng::new(7);
    for _ in 0..3000 {
        let frames: Vec<Frame> = (0..1 + rng.below(4))
            .map(|_| random_frame(&mut rng))
            .collect();
        let mut buf = Vec::new();
        for f in &frames {
            encode(f, &mut buf);
        }
        // Decode the concatenation, also feeding it in random-sized pieces.
        let mut pos = 0;
        let mut got = Vec::new();
        let mut avail = 0;
        while pos < buf.len() {
            avail = (avail + 1 + rng.below(70_000) as usize).min(buf.len());
            while let Some((f, used)) = decode(&buf[pos..avail], MAX_FRAME_PAYLOAD).unwrap() {
                assert_eq!(used, f.encoded_len());
                pos += used;
                got.push(f);
            }
        }
        assert_eq!(got, frames);
    }
}

#[test]
fn truncated_frames_ask_for_more() {
    let f = Frame {
        kind: FrameType::Data,
        flags: FLAG_END,
        channel: 3,
        seq: 9,
        payload: vec![1, 2, 3, 4],
    };
    let mut buf = Vec::new();
    encode(&f, &mut buf);
    for cut in 0..buf.len() {
        assert_eq!(decode(&buf[..cut], MAX_FRAME_PAYLOAD).unwrap(), None);
    }
    assert_eq!(
        decode(&buf, MAX_FRAME_PAYLOAD).unwrap(),
        Some((f, buf.len()))
    );
}

#[test]
fn oversized_length_is_refused_before_the_payload_arrives() {
    let mut buf = Vec::new();
    encode_header(&mut buf, FrameType::Data, 0, 1, 1, 10);
    buf[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        decode(&buf, MAX_FRAME_PAYLOAD),
        Err(CodecError::TooLarge(u32::MAX as usize))
    );
    buf[16..20].copy_from_slice(&101u32.to_le_bytes());
    assert_eq!(decode(&buf, 100), Err(CodecError::TooLarge(101)));
}

#[test]
fn fields_the_format_forbids_are_refused() {
    let f = |kind, flags, channel, seq, payload: &'static [u8]| FrameRef {
        kind,
        flags,
        channel,
        seq,
        payload,
    };
    use FrameType as T;
    const CREDIT: &[u8] = &[0u8; 16];
    for ok in [
        f(T::Ping, 0, 0, 7, b""),
        f(T::Ack, 0, 3, 9, b""),
        f(T::Data, FLAG_END, 3, 1, b"x"),
        f(T::Credit, 0, 3, 0, CREDIT),
        f(T::Open, 0, 3, 0, b"state"),
        f(T::Close, 0, 0, 0, b"PROTOCOL_ERROR\nwhy"),
    ] {
        assert_eq!(check_fields(&ok), Ok(()), "{:?}", ok.kind);
    }
    for bad in [
        f(T::Ping, 0, 0, 7, b"x"),
        f(T::Pong, 0, 0, 7, b"x"),
        f(T::Ack, 0, 3, 9, b"x"),
        f(T::Fin, 0, 3, 2, b"x"),
        f(T::Hello, FLAG_END, 0, 0, b""),
        f(T::Hello, 0, 5, 0, b""),
        f(T::Hello, 0, 0, 1, b""),
        f(T::Ping, 0, 4, 7, b""),
        f(T::Ack, FLAG_END, 3, 9, b""),
        f(T::Data, 0, 0, 1, b"x"),
        f(T::Data, 0, 3, 0, b"x"),
        f(T::Credit, 0, 3, 0, b"short"),
        f(T::Open, 0, 3, 1, b"state"),
        f(T::Open, 0, 3, 0, b""),
    ] {
        assert!(
            matches!(check_fields(&bad), Err(CodecError::Forbidden(_))),
            "{:?} {} {} {} {:?}",
            bad.kind,
            bad.flags,
            bad.channel,
            bad.seq,
            bad.payload
        );
    }
    let data = |n: usize| {
        let payload = vec![0u8; n];
        check_fields(&FrameRef {
            kind: T::Data,
            flags: 0,
            channel: 1,
            seq: 1,
            payload: &payload,
        })
    };
    assert!(data(MAX_DATA_PAYLOAD + 1).is_err());
    // A peer's full 16 KiB fragment is accepted (ours are a header shorter).
    assert!(data(MAX_DATA_PAYLOAD).is_ok());
    assert_eq!(FRAGMENT_SIZE + HEADER_LEN, crate::record::MAX_PLAINTEXT);
}

#[test]
fn a_new_session_hello_carries_no_id_and_no_resume_list() {
    let fresh = Hello {
        resume: None,
        last_received: Vec::new(),
    };
    assert_eq!(Hello::decode(&fresh.encode()).unwrap(), fresh);
    let mut with_list = fresh.encode();
    with_list.truncate(18);
    with_list.extend_from_slice(&[1, 0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(
        Hello::decode(&with_list),
        Err(CodecError::Forbidden(_))
    ));
    let mut with_id = fresh.encode();
    with_id[5] = 1;
    assert!(matches!(
        Hello::decode(&with_id),
        Err(CodecError::Forbidden(_))
    ));
    let mut bad_version = fresh.encode();
    bad_version[0] = 9;
    assert!(Hello::decode(&bad_version).is_err());
}

#[test]
fn bad_type_flags_and_reserved_bits_are_errors() {
    let mut buf = Vec::new();
    encode_header(&mut buf, FrameType::Ping, 0, 0, 0, 0);
    let mut b = buf.clone();
    b[0] = 0;
    assert_eq!(decode(&b, 100), Err(CodecError::UnknownType(0)));
    let mut b = buf.clone();
    b[1] = 2;
    assert_eq!(decode(&b, 100), Err(CodecError::BadHeader));
    let mut b = buf.clone();
    b[3] = 1;
    assert_eq!(decode(&b, 100), Err(CodecError::BadHeader));
}

#[test]
fn random_bytes_never_panic_the_decoder() {
    let mut rng = Prng::new(42);
    let mut buf = Vec::with_capacity(256);
    for i in 0..120_000u32 {
        buf.clear();
        let len = rng.below(200) as usize;
        buf.extend((0..len).map(|_| rng.next_u64() as u8));
        // Half the inputs start with a plausible header to get past the first checks.
        if i % 2 == 0 && len >= HEADER_LEN {
            buf[0] = 1 + rng.below(11) as u8;
            buf[1] &= FLAG_END;
            buf[2] = 0;
            buf[3] = 0;
            let l = rng.below(300) as u32;
            buf[16..20].copy_from_slice(&l.to_le_bytes());
        }
        let mut pos = 0;
        while let Ok(Some((_, used))) = decode(&buf[pos..], 1024) {
            pos += used;
        }
        let _ = Hello::decode(&buf);
        let _ = Accept::decode(&buf);
        let _ = decode_credit(&buf);
    }
}

#[test]
fn hello_and_accept_round_trip() {
    let h = Hello {
        resume: Some([7; 16]),
        last_received: vec![(1, 5), (9, u64::MAX)],
    };
    assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
    let h = Hello {
        resume: None,
        last_received: vec![],
    };
    assert_eq!(Hello::decode(&h.encode()).unwrap(), h);
    let a = Accept {
        session_id: [3; 16],
        resumed: true,
        last_received: vec![(2, 0)],
    };
    assert_eq!(Accept::decode(&a.encode()).unwrap(), a);
    let mut bad = a.encode();
    bad.push(0);
    assert!(Accept::decode(&bad).is_err());
    assert_eq!(decode_credit(&encode_credit(5, 6)).unwrap(), (5, 6));
}

#[test]
fn fragments_cover_the_message() {
    assert_eq!(fragments(0, 10).collect::<Vec<_>>(), vec![0..0]);
    assert_eq!(
        fragments(25, 10).collect::<Vec<_>>(),
        vec![0..10, 10..20, 20..25]
    );
    assert_eq!(fragments(20, 10).collect::<Vec<_>>(), vec![0..10, 10..20]);
}

#[test]
fn kinds_are_validated() {
    assert!(valid_kind("control"));
    assert!(valid_kind("my.chan_1-x"));
    assert!(!valid_kind(""));
    assert!(!valid_kind("Upper"));
    assert!(!valid_kind(&"a".repeat(65)));
    assert!(valid_kind(&"a".repeat(64)));
}
