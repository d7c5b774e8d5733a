//! The bounded pool of chunks every span log of a pipeline draws from:
//! how big a chunk is, how many may exist, and the free ones.
//!
//! Runs once per chunk on a recording thread (tens of spans), never per
//! span. It takes no lock: the worker, which gives chunks back, may run at
//! a lower priority than the recording threads (crate::priority), and a
//! recording thread waiting on a lock the worker holds would wait until
//! the worker's CPU has nothing better to do.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

use super::chunk::{Chunk, ChunkConsumer, ChunkProducer};

/// Room for free chunks beyond the budget: one per recording thread's own
/// chunk, for this many threads; a chunk that finds the free list full is
/// freed.
const SPARE_SLOTS: usize = 256;

/// The chunks every log of a pipeline draws from.
///
/// Free chunks wait in a lock-free queue. Every chunk of the budget stays
/// allocated once made (by default all are made at start,
/// [`ChunkPool::preallocate`]): the budget is 1 MiB by default, within
/// this machine's L2 cache, so reusing the chunk freed first rather than
/// last costs no miss.
pub(crate) struct ChunkPool {
    free: ArrayQueue<Arc<Chunk>>,
    chunk_bytes: usize,
    spans_per_chunk: u32,
    budget: usize,
    allocated: AtomicUsize,
    /// Live producers: each may hold one chunk beyond the budget.
    producers: AtomicUsize,
    /// Keep every chunk of the limit allocated ([`ChunkPool::preallocate`]).
    eager: AtomicBool,
    /// Chunks holding a batch's worth of memory (a batch of 512-byte
    /// spans), at most half the budget.
    batch_chunks: usize,
}

impl ChunkPool {
    /// A pool for a queue of `max_spans` spans exported `batch` at a time:
    /// `max_spans * 512` bytes in chunks of up to 64 spans (and never more
    /// than a batch) and at most 32 KiB (at least 4 chunks).
    pub(crate) fn for_queue(max_spans: usize, batch: usize) -> ChunkPool {
        let max_spans = max_spans.max(1);
        let spans_per_chunk = (max_spans / 8).clamp(1, 64).min(batch.max(1));
        let chunk_bytes = (spans_per_chunk * 512).clamp(4 * 1024, 32 * 1024);
        let budget = max_spans.div_ceil(spans_per_chunk).max(4);
        let batch_chunks = (batch.max(1) * 512)
            .div_ceil(chunk_bytes)
            .clamp(1, budget / 2);
        ChunkPool {
            free: ArrayQueue::new(budget + SPARE_SLOTS),
            chunk_bytes,
            spans_per_chunk: spans_per_chunk as u32,
            budget,
            allocated: AtomicUsize::new(0),
            producers: AtomicUsize::new(0),
            eager: AtomicBool::new(false),
            batch_chunks,
        }
    }

    /// Sealed chunks that hold a batch's worth of memory (`batch` x 512
    /// bytes, at most half the budget): with big spans, a batch is full by
    /// memory long before it is by count.
    pub(crate) fn batch_chunks(&self) -> usize {
        self.batch_chunks
    }

    /// The most spans a chunk holds.
    pub(crate) fn spans_per_chunk(&self) -> u32 {
        self.spans_per_chunk
    }

    /// A chunk's size in bytes.
    pub(crate) fn chunk_bytes(&self) -> usize {
        self.chunk_bytes
    }

    /// The bytes a slot reserves for a span written in place (its share of
    /// a chunk: 512 by default, a proxy span's size with room to spare).
    /// A span that is the last in its chunk grows past it; one that is not
    /// moves to memory of its own.
    pub(crate) fn slot_bytes(&self) -> usize {
        self.chunk_bytes / self.spans_per_chunk as usize
    }

    /// Chunks the budget holds (beyond the recording threads' own).
    pub(crate) fn budget(&self) -> usize {
        self.budget
    }

    /// A recording thread starts: one more chunk may be allocated for it.
    pub(crate) fn add_producer(&self) {
        self.producers.fetch_add(1, Ordering::Relaxed);
        self.top_up();
    }

    /// A recording thread is gone.
    pub(crate) fn remove_producer(&self) {
        self.producers.fetch_sub(1, Ordering::Relaxed);
    }

    /// A chunk left the pool's accounting without coming back (its memory
    /// goes with its last reference).
    pub(crate) fn forget_one(&self) {
        self.allocated.fetch_sub(1, Ordering::Relaxed);
    }

    /// The budget, plus one chunk per live producer beyond the first (its
    /// current one), so that however many threads record, most of the
    /// budget stays for the chunks they move on to.
    fn limit(&self) -> usize {
        self.budget + self.producers.load(Ordering::Relaxed).saturating_sub(1)
    }

    /// A new chunk of this pool's size (outside its accounting: the
    /// caller counts it, see [`ChunkPool::take`]).
    pub(crate) fn new_chunk(&self) -> Arc<Chunk> {
        Chunk::new(self.chunk_bytes, self.spans_per_chunk as usize)
    }

    /// The producer and the consumer of a new chunk of this pool's size
    /// (outside its accounting, as [`ChunkPool::new_chunk`]).
    pub(crate) fn new_split(&self) -> (ChunkProducer, ChunkConsumer) {
        Chunk::split_new(self.chunk_bytes, self.spans_per_chunk as usize)
    }

    /// A free chunk, or a new one within the limit; `force` allocates past
    /// it (a thread's first chunk).
    ///
    /// Runs once per chunk on a recording thread.
    pub(crate) fn take(&self, force: bool) -> Option<Arc<Chunk>> {
        if let Some(c) = self.free.pop() {
            return Some(c);
        }
        let n = self.allocated.load(Ordering::Relaxed);
        if n < self.limit() || force {
            self.allocated.fetch_add(1, Ordering::Relaxed);
            return Some(self.new_chunk());
        }
        None
    }

    /// Takes back a chunk nobody uses; frees it when over the limit (or
    /// the free list is full).
    pub(crate) fn give(&self, chunk: Arc<Chunk>) {
        if self.allocated.load(Ordering::Relaxed) > self.limit() || self.free.push(chunk).is_err() {
            self.allocated.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Allocates every chunk of the budget now, and from now on a chunk
    /// for each new recording thread when it starts, so that recording
    /// allocates no chunk later.
    pub(crate) fn preallocate(&self) {
        self.eager.store(true, Ordering::Relaxed);
        self.top_up();
    }

    /// With [`ChunkPool::preallocate`]: allocates free chunks up to the
    /// limit.
    fn top_up(&self) {
        if !self.eager.load(Ordering::Relaxed) {
            return;
        }
        while self.allocated.load(Ordering::Relaxed) < self.limit() {
            self.allocated.fetch_add(1, Ordering::Relaxed);
            if self.free.push(self.new_chunk()).is_err() {
                self.allocated.fetch_sub(1, Ordering::Relaxed);
                return;
            }
        }
    }

    /// Chunks in use beyond each recording thread's current one: sealed,
    /// holding spans the worker has not taken yet (approximate: it only
    /// decides when to export).
    ///
    /// Worker side.
    pub(crate) fn sealed(&self) -> usize {
        let free = self.free.len();
        self.allocated()
            .saturating_sub(free)
            .saturating_sub(self.producers.load(Ordering::Relaxed))
    }

    /// Whether few chunks are left to take (under a quarter of the
    /// budget, free or yet to allocate): recording threads then write new
    /// spans in memory of their own rather than reserve log room for them
    /// while they are open (the log's room goes to ended spans).
    ///
    /// Runs once per chunk on a recording thread.
    pub(crate) fn is_low(&self) -> bool {
        let spare = self.free.len()
            + self
                .limit()
                .saturating_sub(self.allocated.load(Ordering::Relaxed));
        spare * 4 < self.budget
    }

    /// Chunks allocated now (for tests and the RSS figures).
    pub(crate) fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }
}
