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
//! use tracewire::internal::pool::Pool;
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

impl Reusable for crate::codec::buf::SpanBuf {
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

/// Buffers per bundle in [`Bundles`].
pub const BUNDLE: usize = 16;

/// Buffers handed between threads sixteen at a time: the export worker
/// returns span buffers in full bundles and a recording thread takes a whole
/// bundle when its own cache runs dry, so the recording path pays one atomic
/// operation per sixteen spans for its buffers instead of one per span.
///
/// Bounded like [`Pool`]: at most `slots` bundles wait; a bundle returned to
/// a full pool is freed.
///
/// ```
/// use tracewire::internal::pool::{Bundles, Returner, BUNDLE};
///
/// let bundles: Bundles<Vec<u8>> = Bundles::new(4);
/// let mut returner = Returner::default();
/// for _ in 0..BUNDLE {
///     returner.give(&bundles, Vec::with_capacity(64), 1024);
/// }
/// let full = bundles.take_full().unwrap();
/// assert_eq!(full.len(), BUNDLE);
/// ```
pub struct Bundles<T> {
    full: ArrayQueue<Vec<T>>,
    empty: ArrayQueue<Vec<T>>,
}

impl<T> Bundles<T> {
    /// Room for `slots` full bundles (at least one).
    pub fn new(slots: usize) -> Self {
        Bundles {
            full: ArrayQueue::new(slots.max(1)),
            empty: ArrayQueue::new(slots.max(1)),
        }
    }

    /// A full bundle, if one waits. Lock-free.
    #[inline]
    pub fn take_full(&self) -> Option<Vec<T>> {
        self.full.pop()
    }

    /// Offers a full bundle; a full pool frees it.
    #[inline]
    pub fn give_full(&self, bundle: Vec<T>) {
        let _ = self.full.push(bundle);
    }

    /// An emptied bundle to fill, or a new one.
    #[inline]
    pub fn take_empty(&self) -> Vec<T> {
        self.empty
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUNDLE))
    }

    /// Hands back an emptied bundle for reuse.
    #[inline]
    pub fn give_empty(&self, bundle: Vec<T>) {
        if bundle.capacity() >= BUNDLE {
            let _ = self.empty.push(bundle);
        }
    }

    /// Full bundles waiting.
    #[cfg(test)]
    pub fn full_len(&self) -> usize {
        self.full.len()
    }

    /// The most full bundles kept.
    #[cfg(test)]
    pub fn slots(&self) -> usize {
        self.full.capacity()
    }
}

impl<T> std::fmt::Debug for Bundles<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundles")
            .field("full", &self.full.len())
            .field("empty", &self.empty.len())
            .finish()
    }
}

/// Gathers returned buffers into bundles for a [`Bundles`] pool; owned by
/// the one thread returning them.
#[derive(Debug)]
pub struct Returner<T> {
    bundle: Vec<T>,
}

impl<T> Default for Returner<T> {
    fn default() -> Self {
        Returner {
            bundle: Vec::with_capacity(BUNDLE),
        }
    }
}

impl<T: Reusable> Returner<T> {
    /// Returns one buffer: cleared and kept, unless it grew past
    /// `max_retained_capacity` (then freed). Every sixteenth fills a bundle.
    pub fn give(&mut self, bundles: &Bundles<T>, mut buf: T, max_retained_capacity: usize) {
        if buf.retained_capacity() > max_retained_capacity {
            return;
        }
        buf.reset();
        self.bundle.push(buf);
        if self.bundle.len() >= BUNDLE {
            let next = bundles.take_empty();
            bundles.give_full(std::mem::replace(&mut self.bundle, next));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_bounded_and_cycle() {
        let bundles: Bundles<Vec<u8>> = Bundles::new(2);
        let mut r = Returner::default();
        for _ in 0..BUNDLE * 5 {
            r.give(&bundles, Vec::with_capacity(8), 64);
        }
        assert_eq!(bundles.full_len(), 2, "extra bundles are freed");
        let b = bundles.take_full().unwrap();
        assert!(b.iter().all(|v| v.is_empty()));
        bundles.give_empty(b);
        assert_eq!(bundles.take_empty().capacity(), BUNDLE);
        // Oversized buffers are not kept.
        let mut r = Returner::default();
        r.give(&bundles, Vec::with_capacity(1000), 64);
        assert!(r.bundle.is_empty());
    }

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
