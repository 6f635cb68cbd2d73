//! Where [`Engine::fill_lazy`](super::Engine::fill_lazy) writes frames: a
//! flat `Vec<u8>` (tests, handshakes) or an [`OutBatch`] that keeps large
//! DATA payloads as slices of the queued message, so they reach rustls in one
//! vectored write instead of being copied into an intermediate buffer first.

use std::io::{IoSlice, Write};
use std::ops::Range;
use std::sync::Arc;

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
/// payloads as shared slices inserted at recorded offsets of `bytes`.
#[derive(Debug, Default)]
pub struct OutBatch {
    bytes: Vec<u8>,
    /// `(offset in bytes, message, range)`: the payload goes before
    /// `bytes[offset..]`.
    bodies: Vec<(usize, Arc<Vec<u8>>, Range<usize>)>,
    body_len: usize,
}

impl OutBatch {
    /// An empty batch with room for `capacity` bytes of headers.
    pub fn with_capacity(capacity: usize) -> Self {
        OutBatch {
            bytes: Vec::with_capacity(capacity),
            bodies: Vec::new(),
            body_len: 0,
        }
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty() && self.bodies.is_empty()
    }

    /// Writes the batch, in order, to `w` (one vectored write when it holds
    /// payload slices) and clears it.
    pub fn write_to(&mut self, w: &mut impl Write) -> std::io::Result<()> {
        if self.bodies.is_empty() {
            let r = w.write_all(&self.bytes);
            self.clear();
            return r;
        }
        let mut slices = Vec::with_capacity(self.bodies.len() * 2 + 1);
        let mut at = 0;
        for (offset, data, range) in &self.bodies {
            if *offset > at {
                slices.push(IoSlice::new(&self.bytes[at..*offset]));
            }
            slices.push(IoSlice::new(&data[range.clone()]));
            at = *offset;
        }
        if at < self.bytes.len() {
            slices.push(IoSlice::new(&self.bytes[at..]));
        }
        let total = self.bytes.len() + self.body_len;
        let r = match w.write_vectored(&slices) {
            Ok(n) if n == total => Ok(()),
            // A short write (not expected: the TLS buffer is unbounded):
            // the rest goes out the slow way, in order.
            Ok(n) => {
                let mut rest = Vec::with_capacity(total - n);
                let mut skip = n;
                for s in &slices {
                    if skip >= s.len() {
                        skip -= s.len();
                    } else {
                        rest.extend_from_slice(&s[skip..]);
                        skip = 0;
                    }
                }
                w.write_all(&rest)
            }
            Err(e) => Err(e),
        };
        drop(slices);
        self.clear();
        r
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.bodies.clear();
        self.body_len = 0;
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
            self.body_len += range.len();
            self.bodies
                .push((self.bytes.len(), Arc::clone(data), range));
        }
    }

    fn written(&self) -> usize {
        self.bytes.len() + self.body_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_writes_headers_and_slices_in_order() {
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
        let mut got = Vec::new();
        b.write_to(&mut got).unwrap();
        assert_eq!(got, flat);
        assert!(b.is_empty());
    }

    /// A short writer: the rest of a batch still goes out in order.
    struct Short(Vec<u8>, usize);
    impl Write for Short {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.1);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_short_vectored_write_falls_back_in_order() {
        let big = Arc::new(vec![3u8; 4000]);
        let mut b = OutBatch::with_capacity(16);
        b.head().extend_from_slice(b"xyz");
        b.body(&big, 0..4000);
        b.head().extend_from_slice(b"!");
        let mut w = Short(Vec::new(), 2);
        b.write_to(&mut w).unwrap();
        let mut want = b"xyz".to_vec();
        want.extend_from_slice(&big);
        want.push(b'!');
        assert_eq!(w.0, want);
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
