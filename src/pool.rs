//! Reusable byte buffers: per-span buffers (`Vec<u8>`) and per-batch request
//! buffers (`BytesMut`) come from here and go back here, so the steady state
//! allocates nothing.
//!
//! A pool is a bounded lock-free free-list (crossbeam `ArrayQueue`). It must
//! never grow without bound: it keeps at most `slots` buffers, and drops (so
//! frees) any buffer whose capacity grew past `max_retained_capacity`
//! instead of keeping it. The memory a pool can hold is therefore at most
//! `slots * max_retained_capacity`.
//!
//! ```
//! use tracewire::pool::Pool;
//!
//! let pool: Pool<Vec<u8>> = Pool::new(4, 1024, || Vec::with_capacity(256));
//! let mut buf = pool.take();
//! buf.extend_from_slice(b"span bytes");
//! pool.give(buf);
//! assert_eq!(pool.len(), 1);
//! let again = pool.take();
//! assert!(again.is_empty() && again.capacity() >= 256);
//! ```

use bytes::BytesMut;
use crossbeam_queue::ArrayQueue;

/// A buffer that can be cleared and reused.
pub trait Reusable: Send {
    /// Empties the buffer, keeping its capacity.
    fn reset(&mut self);
    /// The capacity the buffer would keep allocated in the pool.
    fn retained_capacity(&self) -> usize;
}

impl Reusable for Vec<u8> {
    #[inline]
    fn reset(&mut self) {
        self.clear();
    }
    #[inline]
    fn retained_capacity(&self) -> usize {
        self.capacity()
    }
}

impl Reusable for BytesMut {
    #[inline]
    fn reset(&mut self) {
        self.clear();
    }
    #[inline]
    fn retained_capacity(&self) -> usize {
        self.capacity()
    }
}

/// A bounded pool of reusable buffers.
pub struct Pool<T> {
    free: ArrayQueue<T>,
    max_retained_capacity: usize,
    make: fn() -> T,
}

impl<T: Reusable> Pool<T> {
    /// A pool keeping at most `slots` buffers (at least one) of at most
    /// `max_retained_capacity` bytes each; `make` builds a buffer when the
    /// pool is empty.
    pub fn new(slots: usize, max_retained_capacity: usize, make: fn() -> T) -> Self {
        Pool {
            free: ArrayQueue::new(slots.max(1)),
            max_retained_capacity,
            make,
        }
    }

    /// A buffer from the pool, or a new one when it is empty.
    ///
    /// Hot path (runs per span): lock-free; allocates only when the pool is
    /// empty (warm-up, or more buffers in flight than ever before).
    #[inline]
    pub fn take(&self) -> T {
        match self.free.pop() {
            Some(buf) => buf,
            None => (self.make)(),
        }
    }

    /// A buffer from the pool, or `None` when it is empty (never allocates).
    #[inline]
    pub fn try_take(&self) -> Option<T> {
        self.free.pop()
    }

    /// Returns a buffer. It is cleared and kept unless the pool is full or
    /// the buffer grew past the retention limit, in which case it is freed.
    ///
    /// Never blocks.
    #[inline]
    pub fn give(&self, mut buf: T) {
        if buf.retained_capacity() > self.max_retained_capacity {
            return;
        }
        buf.reset();
        // A full pool frees the buffer: the bound holds.
        let _ = self.free.push(buf);
    }

    /// How many buffers are waiting in the pool.
    pub fn len(&self) -> usize {
        self.free.len()
    }

    /// Whether the pool holds no buffer.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// The most buffers the pool keeps.
    pub fn slots(&self) -> usize {
        self.free.capacity()
    }

    /// The largest capacity a kept buffer may have.
    pub fn max_retained_capacity(&self) -> usize {
        self.max_retained_capacity
    }
}

impl<T> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("free", &self.free.len())
            .field("slots", &self.free.capacity())
            .field("max_retained_capacity", &self.max_retained_capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_keeps_more_than_slots() {
        let pool: Pool<Vec<u8>> = Pool::new(2, 64, Vec::new);
        for _ in 0..5 {
            pool.give(Vec::with_capacity(8));
        }
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn frees_buffers_that_grew_past_the_limit() {
        let pool: Pool<BytesMut> = Pool::new(4, 64, BytesMut::new);
        pool.give(BytesMut::with_capacity(4096));
        assert!(pool.is_empty());
        pool.give(BytesMut::with_capacity(32));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn returned_buffers_come_back_empty() {
        let pool: Pool<Vec<u8>> = Pool::new(1, 64, Vec::new);
        let mut v = pool.take();
        v.extend_from_slice(b"abc");
        let cap = v.capacity();
        pool.give(v);
        let v = pool.take();
        assert!(v.is_empty());
        assert_eq!(v.capacity(), cap);
    }
}
