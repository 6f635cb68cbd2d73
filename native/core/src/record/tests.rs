//! The record layer against rustls' own buffered connection (the
//! reference implementation): the records it seals are standard TLS 1.3, it
//! opens what rustls seals, and key updates, close_notify and refusals work
//! both ways.

use std::io::{Read, Write};

use super::*;
use crate::codec::{self, Frame, FrameType};
use crate::conn::{Conn, Handshake, Input, Purpose, Role};
use crate::tls::{self, test_keys::random_pem, AllowPolicy, Identity};

/// Our client connection and rustls' buffered server, after the handshake.
struct Pair {
    ours: Conn,
    theirs: rustls::ServerConnection,
}

impl Pair {
    fn new() -> Self {
        let server_id = Identity::from_pem(random_pem().as_bytes()).unwrap();
        let client_id = Identity::from_pem(random_pem().as_bytes()).unwrap();
        let cfg = tls::client_config(&client_id, &server_id.fingerprint).unwrap();
        let name = rustls::pki_types::ServerName::try_from("web4-rtt").unwrap();
        let client = rustls::client::UnbufferedClientConnection::new(cfg, name).unwrap();
        let role = Role::Client {
            fingerprint: server_id.fingerprint.clone(),
            purpose: Purpose::Connect,
        };
        let mut p = Pair {
            ours: Conn::new(Handshake::Client(client), role, 0),
            theirs: rustls::ServerConnection::new(
                tls::server_config(&server_id, AllowPolicy::Any).unwrap(),
            )
            .unwrap(),
        };
        for _ in 0..8 {
            let wire = p.ours_out();
            p.theirs.read_tls(&mut wire.as_slice()).unwrap();
            p.theirs.process_new_packets().unwrap();
            let mut back = p.theirs_out();
            if p.ours.tls_handshaking() {
                p.ours.feed_handshake(&back).unwrap();
            } else if !back.is_empty() {
                let _ = p.ours_in(&mut back);
            }
            if !p.ours.tls_handshaking() && !p.theirs.is_handshaking() {
                // The client's Finished may still be on its way.
                let wire = p.ours_out();
                p.theirs.read_tls(&mut wire.as_slice()).unwrap();
                p.theirs.process_new_packets().unwrap();
                return p;
            }
        }
        panic!("no handshake");
    }

    fn ours_out(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = self.ours.transmit(&mut buf);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Feeds `wire` to rustls (it takes a bounded amount per call) and
    /// returns the plaintext it read.
    fn theirs_in(&mut self, wire: &[u8]) -> Vec<u8> {
        let mut wire = wire;
        let mut got = Vec::new();
        while !wire.is_empty() {
            self.theirs.read_tls(&mut wire).unwrap();
            self.theirs.process_new_packets().unwrap();
            let _ = self.theirs.reader().read_to_end(&mut got);
        }
        got
    }

    fn theirs_out(&mut self) -> Vec<u8> {
        let mut wire = Vec::new();
        while self.theirs.wants_write() {
            self.theirs.write_tls(&mut wire).unwrap();
        }
        wire
    }

    /// Feeds `wire` to our side; returns the plaintext and how input ended.
    fn ours_in(&mut self, wire: &mut [u8]) -> (Vec<u8>, Result<Input, crate::conn::ConnError>) {
        let mut got = Vec::new();
        let r = self.ours.input_records(wire, |_, p| {
            got.extend_from_slice(p);
            true
        });
        (got, r)
    }

    /// Sends `data` from our side; returns what rustls read.
    fn ours_to_theirs(&mut self, data: &[u8]) -> Vec<u8> {
        let f = Frame {
            payload: data.to_vec(),
            ..Frame::empty(FrameType::Close, 0, 0)
        };
        self.ours.write_frame(&f);
        let wire = self.ours_out();
        let got = self.theirs_in(&wire);
        let mut want = Vec::new();
        codec::encode(&f, &mut want);
        assert!(
            got == want,
            "rustls read {} bytes, not the frame",
            got.len()
        );
        got
    }

    /// Sends `data` from rustls; returns what our side read.
    fn theirs_to_ours(&mut self, data: &[u8]) -> Vec<u8> {
        self.theirs.writer().write_all(data).unwrap();
        let mut wire = self.theirs_out();
        let (got, r) = self.ours_in(&mut wire);
        assert_eq!(r.unwrap(), Input::Read);
        got
    }
}

#[test]
fn data_flows_both_ways_with_rustls() {
    let mut p = Pair::new();
    p.ours_to_theirs(b"hello from the record layer");
    let big: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    p.ours_to_theirs(&big[..1000]);
    assert_eq!(p.theirs_to_ours(b"hello from rustls"), b"hello from rustls");
    // Larger than one record: rustls cuts it, we read it back whole.
    assert!(p.theirs_to_ours(&big) == big);
}

#[test]
fn records_split_anywhere_in_the_input_are_reassembled() {
    let mut p = Pair::new();
    let big: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
    p.theirs.writer().write_all(&big).unwrap();
    let wire = p.theirs_out();
    // Every cut point class: inside a header, inside a body, at boundaries.
    let mut got = Vec::new();
    for chunk in wire.chunks(3) {
        let mut c = chunk.to_vec();
        let (part, r) = p.ours_in(&mut c);
        assert_eq!(r.unwrap(), Input::Read);
        got.extend_from_slice(&part);
    }
    assert!(got == big, "read {} bytes", got.len());
}

#[test]
fn a_batch_is_sealed_into_the_callers_buffer_in_frame_sized_records() {
    let mut p = Pair::new();
    let msg = std::sync::Arc::new(vec![5u8; 3 * codec::FRAGMENT_SIZE]);
    let mut want = Vec::new();
    for (i, r) in msg.chunks(codec::FRAGMENT_SIZE).enumerate() {
        let start = i * codec::FRAGMENT_SIZE;
        use crate::engine::FrameOut;
        codec::encode_header(
            p.ours.scratch.head(),
            FrameType::Data,
            0,
            1,
            i as u64 + 1,
            r.len(),
        );
        p.ours.scratch.body(&msg, start..start + r.len());
        codec::encode_header(&mut want, FrameType::Data, 0, 1, i as u64 + 1, r.len());
        want.extend_from_slice(r);
    }
    let mut buf = vec![0u8; 3 * (MAX_PLAINTEXT + OVERHEAD)];
    let n = p.ours.transmit(&mut buf);
    // Three records, each one whole DATA frame: nothing spilled.
    assert_eq!(n, buf.len());
    assert!(!p.ours.wants_write());
    for rec in buf.chunks(MAX_PLAINTEXT + OVERHEAD) {
        assert_eq!(record_len(rec).unwrap(), Some(rec.len()));
    }
    let got = p.theirs_in(&buf[..n]);
    assert!(got == want, "rustls read {} bytes", got.len());
}

#[test]
fn a_buffer_too_small_spills_whole_records_in_order() {
    let mut p = Pair::new();
    let msg = std::sync::Arc::new((0..30_000u32).map(|i| i as u8).collect::<Vec<u8>>());
    use crate::engine::FrameOut;
    p.ours.scratch.head().extend_from_slice(b"head");
    p.ours.scratch.body(&msg, 0..30_000);
    p.ours.scratch.head().extend_from_slice(b"tail");
    let mut wire = Vec::new();
    let mut buf = vec![0u8; 1000];
    loop {
        let n = p.ours.transmit(&mut buf);
        if n == 0 {
            break;
        }
        wire.extend_from_slice(&buf[..n]);
    }
    let got = p.theirs_in(&wire);
    let mut want = b"head".to_vec();
    want.extend_from_slice(&msg);
    want.extend_from_slice(b"tail");
    assert!(got == want, "rustls read {} bytes", got.len());
}

#[test]
fn key_updates_work_both_ways() {
    let mut p = Pair::new();
    // Theirs asks for an update (rustls' refresh requests ours too), twice
    // before we send anything: one answer covers both.
    p.theirs.refresh_traffic_keys().unwrap();
    assert_eq!(
        p.theirs_to_ours(b"after their update"),
        b"after their update"
    );
    p.theirs.refresh_traffic_keys().unwrap();
    assert_eq!(p.theirs_to_ours(b"and again"), b"and again");
    assert!(
        !p.ours.wants_write(),
        "the answer waits for our next record"
    );
    // Our KeyUpdate goes before our next record.
    p.ours_to_theirs(b"after our answer");
    let Some(layer) = p.ours.records_mut() else {
        panic!("no record layer")
    };
    assert_eq!(layer.tx.seq, 1, "one record under the updated key");
    // Ours, asking for theirs.
    assert!(p.ours.refresh_traffic_keys());
    p.ours_to_theirs(b"after our update");
    let mut wire = p.theirs_out(); // their answer
    let (got, r) = p.ours_in(&mut wire);
    assert!(got.is_empty());
    assert_eq!(r.unwrap(), Input::Read);
    assert_eq!(
        p.theirs_to_ours(b"after their answer"),
        b"after their answer"
    );
}

#[test]
fn close_notify_both_ways() {
    let mut p = Pair::new();
    p.theirs.writer().write_all(b"last words").unwrap();
    p.theirs.send_close_notify();
    let mut wire = p.theirs_out();
    let (got, r) = p.ours_in(&mut wire);
    assert_eq!(got, b"last words");
    assert_eq!(r.unwrap(), Input::PeerClosed);

    let mut q = Pair::new();
    q.ours.send_close_notify();
    let wire = q.ours_out();
    q.theirs.read_tls(&mut wire.as_slice()).unwrap();
    let state = q.theirs.process_new_packets().unwrap();
    assert!(state.peer_has_closed());
}

#[test]
fn an_altered_record_is_refused_and_nothing_is_delivered() {
    let mut p = Pair::new();
    p.theirs.writer().write_all(b"do not change me").unwrap();
    let mut wire = p.theirs_out();
    let last = wire.len() - 1;
    wire[last] ^= 1;
    let (got, r) = p.ours_in(&mut wire);
    assert!(got.is_empty());
    assert!(r.unwrap_err().to_string().contains("failed authentication"));
}

#[test]
fn a_replayed_record_is_refused() {
    let mut p = Pair::new();
    p.theirs.writer().write_all(b"once").unwrap();
    let wire = p.theirs_out();
    let (got, r) = p.ours_in(&mut wire.clone());
    assert_eq!((got.as_slice(), r.unwrap()), (&b"once"[..], Input::Read));
    let (got, r) = p.ours_in(&mut wire.clone());
    assert!(got.is_empty());
    assert!(r.is_err());
}

#[test]
fn unprotected_and_oversized_records_are_refused() {
    let mut p = Pair::new();
    // A plaintext alert (type 21) after the handshake.
    let (_, r) = p.ours_in(&mut [21, 3, 3, 0, 2, 2, 40]);
    assert!(r
        .unwrap_err()
        .to_string()
        .contains("unexpected TLS record type 21"));
    let mut q = Pair::new();
    // A ChangeCipherSpec after the handshake.
    let (_, r) = q.ours_in(&mut [20, 3, 3, 0, 1, 1]);
    assert!(r.is_err());
    // A header announcing more than 2^14 + 256 bytes.
    assert!(matches!(
        record_len(&[23, 3, 3, 0x41, 0x01]),
        Err(RecordError::Overflow(16_641))
    ));
    assert_eq!(
        record_len(&[23, 3, 3, 0x41, 0x00]).unwrap(),
        Some(5 + 16_640)
    );
    assert_eq!(record_len(&[23, 3]).unwrap(), None);
}

#[test]
fn the_sending_key_is_updated_before_its_record_limit() {
    let mut p = Pair::new();
    let Some(layer) = p.ours.records_mut() else {
        panic!("no record layer")
    };
    layer.tx_records = TX_RECORDS_PER_KEY;
    p.ours_to_theirs(b"one more record");
    let Some(layer) = p.ours.records_mut() else {
        panic!("no record layer")
    };
    // The KeyUpdate went first; the record after it counts under the new key.
    assert_eq!(layer.tx_records, 1);
    assert_eq!(layer.tx.seq, 1);
}

/// Our server against rustls' buffered client: application data written
/// with the client's Finished (in the same read) is decrypted by rustls
/// before the hand-over and delivered; the rest goes through this layer.
#[test]
fn a_server_keeps_data_that_came_with_the_clients_finished() {
    let server_id = Identity::from_pem(random_pem().as_bytes()).unwrap();
    let client_id = Identity::from_pem(random_pem().as_bytes()).unwrap();
    let scfg = tls::server_config(&server_id, AllowPolicy::Any).unwrap();
    let server = rustls::server::UnbufferedServerConnection::new(scfg).unwrap();
    let mut ours = Conn::new(Handshake::Server(server), Role::Server, 0);
    let ccfg = tls::client_config(&client_id, &server_id.fingerprint).unwrap();
    let name = rustls::pki_types::ServerName::try_from("web4-rtt").unwrap();
    let mut theirs = rustls::ClientConnection::new(ccfg, name).unwrap();
    // Written before the handshake: rustls sends it right after its Finished.
    let early: Vec<u8> = (0..20_000u32).map(|i| (i % 7) as u8).collect();
    theirs.writer().write_all(&early).unwrap();
    let mut got = Vec::new();
    for _ in 0..6 {
        let mut wire = Vec::new();
        while theirs.wants_write() {
            theirs.write_tls(&mut wire).unwrap();
        }
        if ours.tls_handshaking() {
            ours.feed_handshake(&wire).unwrap();
        } else {
            let r = ours.input_records(&mut wire, |_, p| {
                got.extend_from_slice(p);
                true
            });
            assert_eq!(r.unwrap(), Input::Read);
        }
        let mut buf = vec![0u8; 16 * 1024];
        let n = ours.transmit(&mut buf);
        let mut back = &buf[..n];
        while !back.is_empty() {
            theirs.read_tls(&mut back).unwrap();
            theirs.process_new_packets().unwrap();
        }
    }
    assert!(!ours.tls_handshaking());
    // What rustls decrypted before the hand-over waits in the frame buffer.
    let mut pending = Vec::new();
    ours.take_plain_for_test(&mut pending);
    pending.extend_from_slice(&got);
    assert!(
        pending == early,
        "read {} of {} bytes",
        pending.len(),
        early.len()
    );
    assert!(ours.authenticated().is_ok());
    assert_eq!(ours.peer_fp, client_id.fingerprint);
}

/// A long stream from rustls with key updates in it, fed to our side in
/// chunks of random sizes (every cut point: inside headers, bodies, tags
/// and at the key changes), arrives whole and in order, for several seeds.
#[test]
fn a_stream_with_key_updates_survives_any_chunking() {
    for seed in 1..=6u64 {
        let mut p = Pair::new();
        let mut rng = crate::codec::Prng::new(seed);
        let mut want = Vec::new();
        let mut wire = Vec::new();
        for round in 0..12u32 {
            let n = (rng.next_u64() % 40_000) as usize + 1;
            let data: Vec<u8> = (0..n).map(|i| (i as u32 ^ round) as u8).collect();
            p.theirs.writer().write_all(&data).unwrap();
            want.extend_from_slice(&data);
            if rng.next_u64() % 3 == 0 {
                p.theirs.refresh_traffic_keys().unwrap();
            }
            wire.extend_from_slice(&p.theirs_out());
        }
        let mut got = Vec::new();
        let mut at = 0;
        while at < wire.len() {
            let n = ((rng.next_u64() % 20_000) as usize + 1).min(wire.len() - at);
            let mut chunk = wire[at..at + n].to_vec();
            let (part, r) = p.ours_in(&mut chunk);
            assert_eq!(r.unwrap(), Input::Read, "seed {seed}");
            got.extend_from_slice(&part);
            at += n;
        }
        assert!(
            got == want,
            "seed {seed}: read {} of {} bytes",
            got.len(),
            want.len()
        );
        // The updates asked for ours: it goes before our next record.
        p.ours_to_theirs(b"still in step");
    }
}
