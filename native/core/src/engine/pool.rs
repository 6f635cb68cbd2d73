//! A node's few spare message buffers. A 64 KiB message copied into memory
//! the allocator just handed out (or mapped) costs several times the same
//! copy into memory used a moment ago, so queued messages and reassembled
//! ones are built in buffers recycled from the messages before them. The pool
//! is bounded: at most [`POOL_BUFFERS`] buffers, each between
//! [`POOL_MIN_BYTES`] and [`POOL_MAX_BYTES`] of capacity (2 MiB per node at
//! most); anything else goes back to the allocator.

use std::sync::Mutex;

/// Buffers kept at most.
pub const POOL_BUFFERS: usize = 8;
/// Smaller messages are plain allocations (cheap, and not worth a slot).
pub const POOL_MIN_BYTES: usize = 16 * 1024;
/// Larger buffers are returned to the allocator.
pub const POOL_MAX_BYTES: usize = 256 * 1024;

/// Spare message buffers shared by a node's sessions.
#[derive(Debug, Default)]
pub struct BufferPool {
    spare: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// An empty buffer with room for at least `len` bytes: a recycled one
    /// when the pool has one large enough.
    pub fn take(&self, len: usize) -> Vec<u8> {
        if (POOL_MIN_BYTES..=POOL_MAX_BYTES).contains(&len) {
            if let Ok(mut spare) = self.spare.lock() {
                if let Some(i) = spare.iter().rposition(|b| b.capacity() >= len) {
                    return spare.swap_remove(i);
                }
            }
        }
        Vec::with_capacity(len)
    }

    /// Gives `buf` back (kept only while there is room and its size fits).
    pub fn put(&self, mut buf: Vec<u8>) {
        if !(POOL_MIN_BYTES..=POOL_MAX_BYTES).contains(&buf.capacity()) {
            return;
        }
        if let Ok(mut spare) = self.spare.lock() {
            if spare.len() < POOL_BUFFERS {
                buf.clear();
                spare.push(buf);
            }
        }
    }

    /// Buffers held now (tests).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.spare.lock().map_or(0, |s| s.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_recycles_within_its_bounds() {
        let p = BufferPool::default();
        let mut a = p.take(64 * 1024);
        a.extend_from_slice(&[1; 100]);
        let cap = a.capacity();
        p.put(a);
        assert_eq!(p.held(), 1);
        let b = p.take(20 * 1024);
        assert!(b.is_empty() && b.capacity() == cap, "recycled and cleared");
        // Too small, too large, or a full pool: back to the allocator.
        p.put(Vec::with_capacity(100));
        p.put(Vec::with_capacity(POOL_MAX_BYTES + 1));
        assert_eq!(p.held(), 0);
        for _ in 0..POOL_BUFFERS + 3 {
            p.put(Vec::with_capacity(POOL_MIN_BYTES));
        }
        assert_eq!(p.held(), POOL_BUFFERS);
        // Small requests never take a slot.
        assert_eq!(p.take(10).capacity(), 10);
        assert_eq!(p.held(), POOL_BUFFERS);
    }
}
