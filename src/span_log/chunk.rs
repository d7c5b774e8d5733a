//! A chunk: a fixed-size byte buffer written by one producer and read,
//! at the same time, by one consumer. The producer appends records and
//! publishes them with one release store of the committed length; the
//! consumer reads only below that length. This is the seam between a
//! recording thread and the export worker: no lock and no read-modify-write
//! atomic per record.
//!
//! The roles are types: [`Chunk::split`] hands out exactly one
//! [`ChunkProducer`] and one [`ChunkConsumer`], neither `Clone`. The
//! producer only writes at or past the committed length, the consumer only
//! reads below it, so the two never touch the same byte at once; that is
//! the whole safety argument, and it lives in this file. Recycling needs
//! both halves gone ([`ChunkConsumer::reclaim`] succeeds only when the
//! producer has dropped its half), so a reused chunk is never shared.
//!
//! This is the only module of tracewire with `unsafe` code (two blocks, one
//! per role). It is written so that `loom` can model it, those two blocks
//! included: built with `--cfg loom` (`loom/` runs that model), the
//! committed length is loom's atomic and every byte has a loom cell beside
//! it, a shadow that the real copy and the real slice claim (for writing,
//! for reading) for exactly as long as they touch the byte. So loom's race
//! detector sees every access the unsafe blocks make, in every interleaving
//! it explores; the blocks themselves are the same code in both builds.
//! (Miri would check them too, but needs a nightly toolchain.)
//!
//! This module runs per span (the producer side): it must never allocate,
//! lock, or make a syscall.

use std::cell::UnsafeCell;

#[cfg(loom)]
use loom::{
    sync::atomic::{AtomicUsize, Ordering},
    sync::Arc,
};
#[cfg(not(loom))]
use std::{
    sync::atomic::{AtomicUsize, Ordering},
    sync::Arc,
};

/// The shared storage of one chunk.
pub(crate) struct Chunk {
    /// The bytes. Each is its own cell so that the producer's writes (past
    /// `committed`) and the consumer's reads (below it) are disjoint.
    cells: Box<[UnsafeCell<u8>]>,
    /// Bytes published by the producer; only grows until the chunk is
    /// recycled (which needs exclusive ownership).
    committed: AtomicUsize,
    /// Under loom only: one loom cell per byte, claimed by every access to
    /// the byte, so that loom checks the real accesses (see the module doc).
    #[cfg(loom)]
    shadow: Box<[loom::cell::UnsafeCell<()>]>,
}

// SAFETY: the cells are accessed only through a `ChunkProducer` (writes at
// or past `committed`, before publishing them with a release store) and a
// `ChunkConsumer` (reads below a `committed` it loaded with acquire), of
// which `split` makes exactly one each per use of the chunk. So no byte is
// ever written by one thread while another reads or writes it, and every
// read happens after the write it sees (release/acquire on `committed`).
unsafe impl Sync for Chunk {}
// `Send` needs no impl: `Box<[UnsafeCell<u8>]>` and `AtomicUsize` are both
// `Send`, so `Chunk` is; checked at compile time.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Chunk>()
};

impl Chunk {
    /// A chunk of `capacity` zeroed bytes.
    pub(crate) fn new(capacity: usize) -> Arc<Chunk> {
        Arc::new(Chunk {
            cells: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
            committed: AtomicUsize::new(0),
            #[cfg(loom)]
            shadow: (0..capacity)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
        })
    }

    /// The chunk's size in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.cells.len()
    }

    /// Makes the producer and the consumer of a chunk that nobody else
    /// holds (new, or reclaimed), starting empty. `None` when it is shared.
    pub(crate) fn split(mut chunk: Arc<Chunk>) -> Option<(ChunkProducer, ChunkConsumer)> {
        let exclusive = Arc::get_mut(&mut chunk)?;
        reset(&mut exclusive.committed);
        let consumer = ChunkConsumer {
            chunk: chunk.clone(),
            read: 0,
        };
        Some((ChunkProducer { chunk, tail: 0 }, consumer))
    }
}

#[cfg(not(loom))]
fn reset(committed: &mut AtomicUsize) {
    *committed.get_mut() = 0;
}

#[cfg(loom)]
fn reset(committed: &mut AtomicUsize) {
    committed.with_mut(|c| *c = 0);
}

/// The writing half of a chunk: appends records and publishes them.
pub(crate) struct ChunkProducer {
    chunk: Arc<Chunk>,
    /// Bytes written (all published: every append commits).
    tail: usize,
}

impl ChunkProducer {
    /// Bytes still free.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        self.chunk.capacity() - self.tail
    }

    /// Appends `record` and publishes it with one release store. `false`
    /// (nothing written) when it does not fit.
    ///
    /// Hot path (runs per span): one copy at memcpy speed; no allocation,
    /// no lock, no read-modify-write.
    #[inline]
    pub(crate) fn append(&mut self, record: &[u8]) -> bool {
        if record.len() > self.room() {
            return false;
        }
        let at = self.tail + record.len();
        write(&self.chunk, self.tail, record);
        self.tail = at;
        self.chunk.committed.store(at, Ordering::Release);
        true
    }
}

/// Copies `src` into the chunk's bytes `at..at + src.len()`. The caller
/// (the one producer) checked the bounds; the bytes are past `committed`.
#[inline(always)]
fn write(chunk: &Chunk, at: usize, src: &[u8]) {
    let dst = &chunk.cells[at..at + src.len()];
    // Under loom: claim the bytes for writing while the block below runs.
    #[cfg(loom)]
    let _claim: Vec<_> = chunk.shadow[at..at + src.len()]
        .iter()
        .map(|c| c.get_mut())
        .collect();
    // SAFETY: `dst` is in bounds (indexed above) and lies at or past the
    // committed length, which only this chunk's single producer writes and
    // which the consumer never reads until a later release store publishes
    // it. `UnsafeCell<u8>` has `u8`'s layout, so the cells are `src.len()`
    // contiguous bytes, writable through `UnsafeCell::raw_get`.
    unsafe {
        let dst = UnsafeCell::raw_get(dst.as_ptr());
        let (s, n) = (src.as_ptr(), src.len());
        if n < 32 {
            std::ptr::copy_nonoverlapping(s, dst, n);
        } else {
            // Whole 32-byte blocks inline (a span is a few hundred bytes,
            // where a call to memcpy costs more than the copy), then the
            // last 32 bytes (overlapping what is already copied).
            for i in 0..n / 32 {
                std::ptr::copy_nonoverlapping(s.add(i * 32), dst.add(i * 32), 32);
            }
            std::ptr::copy_nonoverlapping(s.add(n - 32), dst.add(n - 32), 32);
        }
    }
}

/// The reading half of a chunk: sees what the producer published.
pub(crate) struct ChunkConsumer {
    chunk: Arc<Chunk>,
    /// Bytes consumed.
    read: usize,
}

impl ChunkConsumer {
    /// Bytes published and not yet consumed.
    #[inline]
    pub(crate) fn available(&self) -> usize {
        self.chunk.committed.load(Ordering::Acquire) - self.read
    }

    /// Bytes consumed so far (an offset into the chunk).
    #[inline]
    pub(crate) fn position(&self) -> usize {
        self.read
    }

    /// Calls `f` with the published bytes from offset `from` to `to`
    /// (`position() <= from <= to <= position() + available()`, or `f` gets
    /// an empty slice).
    #[inline]
    pub(crate) fn with_bytes<R>(&self, from: usize, to: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let committed = self.chunk.committed.load(Ordering::Acquire);
        if from < self.read || from > to || to > committed {
            return f(&[]);
        }
        let cells = &self.chunk.cells[from..to];
        // Under loom: claim the bytes for reading while `f` sees them.
        #[cfg(loom)]
        let _claim: Vec<_> = self.chunk.shadow[from..to]
            .iter()
            .map(|c| c.get())
            .collect();
        // SAFETY: `from..to` is in bounds (indexed above) and below the
        // committed length loaded with acquire, so the producer finished
        // writing these bytes before publishing them and never writes them
        // again while this consumer exists. `UnsafeCell<u8>` has `u8`'s
        // layout.
        let bytes =
            unsafe { std::slice::from_raw_parts(UnsafeCell::raw_get(cells.as_ptr()), to - from) };
        f(bytes)
    }

    /// Marks everything up to offset `to` consumed (clamped to what was
    /// published).
    #[inline]
    pub(crate) fn consume_to(&mut self, to: usize) {
        let committed = self.chunk.committed.load(Ordering::Acquire);
        self.read = to.clamp(self.read, committed);
    }

    /// The chunk back, for reuse, once the producer has dropped its half;
    /// otherwise this half, unchanged.
    pub(crate) fn reclaim(self) -> Result<Arc<Chunk>, ChunkConsumer> {
        if Arc::strong_count(&self.chunk) == 1 {
            Ok(self.chunk)
        } else {
            Err(self)
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn records_are_seen_only_once_published() {
        let (mut p, mut c) = Chunk::split(Chunk::new(16)).unwrap();
        assert_eq!(c.available(), 0);
        assert!(p.append(b"abcde"));
        assert_eq!(c.available(), 5);
        c.with_bytes(0, 5, |b| assert_eq!(b, b"abcde"));
        // Reading past what is published gives nothing.
        c.with_bytes(0, 6, |b| assert!(b.is_empty()));
        assert!(!p.append(&[0u8; 12]), "does not fit: nothing written");
        assert_eq!(p.room(), 11);
        c.consume_to(3);
        assert_eq!((c.position(), c.available()), (3, 2));
        c.with_bytes(0, 3, |b| assert!(b.is_empty(), "already consumed"));
    }

    #[test]
    fn a_chunk_is_reused_only_when_both_halves_are_done() {
        let (p, c) = Chunk::split(Chunk::new(8)).unwrap();
        let Err(c) = c.reclaim() else {
            panic!("the producer still holds it")
        };
        drop(p);
        let Ok(chunk) = c.reclaim() else {
            panic!("both halves gone")
        };
        let (mut p, c) = Chunk::split(chunk).expect("exclusive again");
        assert_eq!(c.available(), 0, "starts empty");
        assert!(p.append(b"12345678"));
        assert_eq!(c.available(), 8);
    }

    #[test]
    fn a_consumer_on_another_thread_sees_every_record_in_order() {
        let (mut p, mut c) = Chunk::split(Chunk::new(64 * 1024)).unwrap();
        let reader = std::thread::spawn(move || {
            let mut seen = 0u32;
            while seen < 10_000 {
                let (from, to) = (c.position(), c.position() + c.available());
                let mut at = from;
                c.with_bytes(from, to, |bytes| {
                    for rec in bytes.chunks_exact(4) {
                        let v = u32::from_le_bytes([rec[0], rec[1], rec[2], rec[3]]);
                        assert_eq!(v, seen, "records arrive whole and in order");
                        seen += 1;
                        at += 4;
                    }
                });
                c.consume_to(at);
            }
        });
        for i in 0..10_000u32 {
            assert!(p.append(&i.to_le_bytes()));
        }
        reader.join().unwrap();
    }
}
