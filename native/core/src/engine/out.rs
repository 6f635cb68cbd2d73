//! Where [`Engine::fill_lazy`](super::Engine::fill_lazy) writes frames: a
//! flat `Vec<u8>` (tests, handshakes) or an [`OutBatch`] that keeps large
//! DATA payloads as slices of the queued message, so they are copied once,
//! into the TLS record that carries them (see [`crate::record`]).

use std::ops::Range;
use std::sync::Arc;

use crate::codec::HEADER_LEN;
use crate::record::{RecordError, RecordLayer};

/// Payloads below this size are copied next to their header: a slice of
/// its own costs more than the copy.
pub const BODY_SLICE_MIN: usize = 1024;

/// A sink for encoded frames.
pub trait FrameOut {
    /// The buffer headers (and small payloads) are appended to.
    fn head(&mut self) -> &mut Vec<u8>;
    /// Appends `data[range]` as a frame payload.
    fn body(&mut self, data: &Arc<Vec<u8>>, range: Range<usize>);
    /// Bytes written so far.
    fn written(&self) -> usize;
}

impl FrameOut for Vec<u8> {
    fn head(&mut self) -> &mut Vec<u8> {
        self
    }

    fn body(&mut self, data: &Arc<Vec<u8>>, range: Range<usize>) {
        self.extend_from_slice(&data[range]);
    }

    fn written(&self) -> usize {
        self.len()
    }
}

/// One batch of plaintext: headers and small payloads in `bytes`, large
/// payloads as shared slices inserted at recorded offsets of `bytes`, and
/// where each large DATA frame starts and ends (so the record layer can cut
/// records there and a frame arrives whole in one record).
#[derive(Debug, Default)]
pub struct OutBatch {
    bytes: Vec<u8>,
    /// `(offset in bytes, message, range)`: the payload goes before
    /// `bytes[offset..]`.
    bodies: Vec<(usize, Arc<Vec<u8>>, Range<usize>)>,
    body_len: usize,
    /// Offsets in the batch where a record may end (ascending).
    cuts: Vec<usize>,
}

impl OutBatch {
    /// An empty batch with room for `capacity` bytes of headers.
    pub fn with_capacity(capacity: usize) -> Self {
        OutBatch {
            bytes: Vec::with_capacity(capacity),
            ..OutBatch::default()
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.bodies.is_empty()
    }

    /// The batch's bytes in order, as slices.
    pub fn pieces(&self) -> Vec<&[u8]> {
        let mut pieces = Vec::with_capacity(self.bodies.len() * 2 + 1);
        let mut at = 0;
        for (offset, data, range) in &self.bodies {
            if *offset > at {
                pieces.push(&self.bytes[at..*offset]);
            }
            pieces.push(&data[range.clone()]);
            at = *offset;
        }
        if at < self.bytes.len() {
            pieces.push(&self.bytes[at..]);
        }
        pieces
    }

    /// Seals the batch as TLS records into `out` while they fit, the rest
    /// into `spill` (see [`RecordLayer::seal_into`]); returns the bytes
    /// written to `out`. The batch is left as it was.
    pub fn seal(
        &self,
        layer: &mut RecordLayer,
        out: &mut [u8],
        spill: &mut Vec<u8>,
    ) -> Result<usize, RecordError> {
        layer.seal_into(&self.pieces(), &self.cuts, out, spill)
    }

    /// Empties the batch (its capacity is kept).
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.bodies.clear();
        self.body_len = 0;
        self.cuts.clear();
    }
}

impl FrameOut for OutBatch {
    fn head(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    fn body(&mut self, data: &Arc<Vec<u8>>, range: Range<usize>) {
        if range.len() < BODY_SLICE_MIN {
            self.bytes.extend_from_slice(&data[range]);
        } else {
            // The frame's header was just written: a record may end before
            // it and after its payload.
            let start = self.written().saturating_sub(HEADER_LEN);
            if self.cuts.last().is_none_or(|c| *c < start) {
                self.cuts.push(start);
            }
            self.body_len += range.len();
            self.bodies
                .push((self.bytes.len(), Arc::clone(data), range));
            let end = self.written();
            self.cuts.push(end);
        }
    }

    fn written(&self) -> usize {
        self.bytes.len() + self.body_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{self, FrameType};

    #[test]
    fn a_batch_holds_headers_and_slices_in_order() {
        let big = Arc::new((0..5000u32).map(|i| i as u8).collect::<Vec<u8>>());
        let small = Arc::new(vec![7u8; 10]);
        let mut b = OutBatch::with_capacity(64);
        let mut flat = Vec::new();
        for out in [&mut b as &mut dyn FrameOutDyn, &mut flat] {
            out.h().extend_from_slice(b"AB");
            out.b(&big, 100..3000);
            out.h().extend_from_slice(b"C");
            out.b(&small, 2..9);
            out.b(&big, 0..5000);
            out.h().extend_from_slice(b"DE");
        }
        assert_eq!(b.written(), flat.len());
        assert_eq!(b.pieces().concat(), flat);
        b.clear();
        assert!(b.is_empty() && b.pieces().is_empty() && b.cuts.is_empty());
    }

    /// Large DATA frames are marked whole: a record may end before each
    /// one's header and after its payload, nowhere inside.
    #[test]
    fn large_frames_are_marked_for_record_cuts() {
        let msg = Arc::new(vec![9u8; 40_000]);
        let mut b = OutBatch::default();
        // A small ACK-like frame, then two large DATA frames, then a small one.
        codec::encode_header(b.head(), FrameType::Ack, 0, 1, 7, 0);
        codec::encode_header(b.head(), FrameType::Data, 0, 1, 1, 16_000);
        b.body(&msg, 0..16_000);
        codec::encode_header(b.head(), FrameType::Data, 0, 1, 2, 16_000);
        b.body(&msg, 16_000..32_000);
        codec::encode_header(b.head(), FrameType::Data, 0, 1, 3, 8);
        b.body(&msg, 32_000..32_008);
        let h = HEADER_LEN;
        assert_eq!(b.cuts, vec![h, 2 * h + 16_000, 3 * h + 32_000]);
        assert_eq!(b.written(), 4 * h + 32_008);
    }

    trait FrameOutDyn {
        fn h(&mut self) -> &mut Vec<u8>;
        fn b(&mut self, d: &Arc<Vec<u8>>, r: Range<usize>);
    }
    impl<T: FrameOut> FrameOutDyn for T {
        fn h(&mut self) -> &mut Vec<u8> {
            self.head()
        }
        fn b(&mut self, d: &Arc<Vec<u8>>, r: Range<usize>) {
            self.body(d, r)
        }
    }
}
