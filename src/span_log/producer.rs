//! The recording thread's end of a span log: begins a slot in its chunk
//! for each span written in place, appends the spans that were not, moves
//! on to a new chunk from the pool when one is full, and keeps the log's
//! counters (single writer, plain stores).
//!
//! Runs per span: it must never block, lock, allocate (but for a chunk,
//! once per chunk, within the budget) or make a syscall.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use super::chunk::{Began, Chunk, ChunkProducer, PartOne, SlotWriter, CONT_KEY, PREFIX};
use super::chunks::ChunkPool;
use super::reader::LogReader;
use super::state::{LogShared, Produced};

/// The most spans a thread writes in place at once (a SERVER span and its
/// CLIENT, and a few more nested); while that many are open, the next one
/// is written in memory of its own and copied in when it ends. So open
/// spans hold little log room however many requests a thread serves at
/// once: the log's room is for ended spans.
pub(crate) const OPEN_IN_PLACE: u32 = 4;

/// Why a span was not taken into the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// No room and no free chunk: the span was dropped and counted.
    Full,
    /// The span is larger than a chunk: the caller sends it another way
    /// (it is counted recorded, not dropped).
    TooLarge,
}

/// The recording thread's end of a log.
pub(crate) struct LogProducer {
    log: Arc<LogShared>,
    chunk: ChunkProducer,
    /// What a slot reserves ([`ChunkPool::slot_bytes`]).
    slot_bytes: usize,
    /// The largest record a chunk takes.
    max_record: usize,
    /// The pool was low on chunks at the last switch: new spans are not
    /// written in place (they would hold log room while open).
    low: bool,
    /// Local copies of the single-writer counters.
    recorded: u64,
    dropped: u64,
    sampled_out: u64,
    diverted: u64,
    shed: u64,
    /// Spans started and kept, less those dropped, not yet reported to the
    /// pipeline's shedding pressure.
    pending: i64,
}

impl LogProducer {
    /// A new log with its first chunk (allocated past the budget if need
    /// be), and the reader's half of it.
    pub(crate) fn new(pool: &ChunkPool) -> (LogProducer, LogReader) {
        pool.add_producer();
        // A free chunk, or one allocated past the budget (`take(true)`
        // always gives one, and a pooled chunk is never shared: a new one,
        // should either ever fail, cannot).
        let (chunk, consumer) = pool
            .take(true)
            .and_then(Chunk::split)
            .unwrap_or_else(|| pool.new_split());
        let log = Arc::new(LogShared {
            next: CachePadded::new(ArrayQueue::new(pool.budget() + 64)),
            produced: CachePadded::new(Produced {
                recorded: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                sampled_out: AtomicU64::new(0),
                shed: AtomicU64::new(0),
                diverted: AtomicU64::new(0),
                gone: AtomicBool::new(false),
            }),
            taken: CachePadded::new(AtomicU64::new(0)),
        });
        let reader = LogReader::new(log.clone(), VecDeque::from([consumer]));
        let producer = LogProducer {
            log,
            chunk,
            slot_bytes: pool.slot_bytes(),
            max_record: pool.chunk_bytes() - PREFIX - CONT_KEY,
            low: false,
            recorded: 0,
            dropped: 0,
            sampled_out: 0,
            diverted: 0,
            shed: 0,
            pending: 0,
        };
        (producer, reader)
    }

    /// Counts an unsampled span.
    ///
    /// Hot path (runs per unsampled span): one plain store.
    #[inline]
    pub(crate) fn count_sampled_out(&mut self) {
        self.sampled_out += 1;
        self.log
            .produced
            .sampled_out
            .store(self.sampled_out, Ordering::Release);
    }

    /// Counts a shed span: recorded, and shed at once.
    ///
    /// Hot path (runs per shed span): two plain stores.
    #[inline]
    pub(crate) fn count_shed(&mut self) {
        self.count_recorded();
        self.shed += 1;
        self.log.produced.shed.store(self.shed, Ordering::Release);
    }

    /// A kept span started: one more span of shedding pressure, reported
    /// (and reset) once [`STEP`](crate::shed::STEP) built up. Hot path:
    /// local arithmetic.
    #[inline]
    pub(crate) fn count_started(&mut self) -> Option<i64> {
        self.pending += 1;
        self.take_pending(crate::shed::STEP)
    }

    /// The shedding pressure built up (dropped spans count -1), when at
    /// least `min` of it (1: all of it, as the thread exits).
    #[inline]
    pub(crate) fn take_pending(&mut self, min: i64) -> Option<i64> {
        (self.pending.abs() >= min).then(|| std::mem::take(&mut self.pending))
    }

    /// Counts a span ended. A span written in place is counted here before
    /// its writer publishes it (every span is counted recorded before it
    /// can reach an outcome, see `stats`).
    ///
    /// Hot path (runs per span end): one plain store.
    #[inline]
    pub(crate) fn count_recorded(&mut self) {
        self.recorded += 1;
        self.log
            .produced
            .recorded
            .store(self.recorded, Ordering::Release);
    }

    /// Counts a span that ended but cannot be queued (pipeline closed).
    #[inline]
    pub(crate) fn count_dropped(&mut self) {
        self.count_recorded();
        self.count_refused_dropped();
    }

    /// After [`Refused::TooLarge`]: the span was queued another way.
    pub(crate) fn count_diverted(&mut self) {
        self.diverted += 1;
        self.log
            .produced
            .diverted
            .store(self.diverted, Ordering::Release);
    }

    /// After [`Refused`]: the span could not be queued at all.
    pub(crate) fn count_refused_dropped(&mut self) {
        self.pending -= 1;
        self.dropped += 1;
        self.log
            .produced
            .dropped
            .store(self.dropped, Ordering::Release);
    }

    /// Begins a slot for a span to write in place (its writer goes to
    /// `into`), moving on to a new chunk when this one has no room. Returns
    /// the spans of the chunk it sealed to make room (0 if none). No writer
    /// (the span is
    /// written in memory of its own and copied in when it ends, holding no
    /// log room while it is open) when [`OPEN_IN_PLACE`] spans are open in
    /// place already, when the pool is low on chunks, or has none.
    ///
    /// Hot path (runs per span start): a few stores and one release store;
    /// no allocation, lock or read-modify-write but once per chunk.
    #[inline]
    pub(crate) fn begin(
        &mut self,
        scope: u16,
        pool: &ChunkPool,
        into: &mut Option<SlotWriter>,
    ) -> u32 {
        if self.low || self.chunk.open() >= OPEN_IN_PLACE {
            return 0;
        }
        match self.chunk.begin(self.slot_bytes, scope, into) {
            Began::Slot | Began::Refused => 0,
            Began::Full => self.begin_in_new_chunk(scope, pool, into),
        }
    }

    /// The chunk is full: moves on to a new one and begins the slot there.
    #[cold]
    fn begin_in_new_chunk(
        &mut self,
        scope: u16,
        pool: &ChunkPool,
        into: &mut Option<SlotWriter>,
    ) -> u32 {
        let Some(sealed) = self.switch(pool) else {
            return 0;
        };
        if !self.low {
            self.chunk.begin(self.slot_bytes, scope, into);
        }
        sealed
    }

    /// Grows `w`'s slot so that `need` more bytes fit, when it is this
    /// log's last slot and its chunk has the room (a span outgrowing its
    /// slot before any other began).
    pub(crate) fn extend(&mut self, w: &mut SlotWriter, need: usize) -> bool {
        self.chunk.extend(w, need)
    }

    /// Makes room for a record of `len` bytes: `Ok(sealed)` with the spans
    /// of the chunk it sealed (0 if none), or why not (counted).
    #[inline]
    fn room_for(&mut self, len: usize, pool: &ChunkPool) -> Result<u32, Refused> {
        if len > self.max_record {
            return Err(Refused::TooLarge);
        }
        if self.chunk.room() >= PREFIX + CONT_KEY + len {
            return Ok(0);
        }
        match self.switch(pool) {
            Some(n) => Ok(n),
            None => {
                self.count_refused_dropped();
                Err(Refused::Full)
            }
        }
    }

    /// Appends a whole span body written elsewhere (counted recorded
    /// first). `Ok(sealed)` with the spans of the chunk it sealed to make
    /// room (0 if none), or why it was not taken.
    ///
    /// Runs per span not written in place: one copy of the span into the
    /// log and two release stores.
    #[inline]
    pub(crate) fn append(
        &mut self,
        body: &[u8],
        scope: u16,
        pool: &ChunkPool,
    ) -> Result<u32, Refused> {
        self.count_recorded();
        let sealed = self.room_for(body.len(), pool)?;
        if self.chunk.append_span(body, scope) {
            Ok(sealed)
        } else {
            // Cannot happen (room was made); count it rather than lose it.
            self.count_refused_dropped();
            Err(Refused::Full)
        }
    }

    /// Appends the rest of a split span (its fields after part one, which
    /// `part` names), counted recorded first. As [`LogProducer::append`];
    /// the part comes back when it was not taken.
    pub(crate) fn append_cont(
        &mut self,
        part: PartOne,
        body: &[u8],
        scope: u16,
        pool: &ChunkPool,
    ) -> Result<u32, (Refused, PartOne)> {
        self.count_recorded();
        let sealed = match self.room_for(body.len(), pool) {
            Ok(n) => n,
            Err(why) => return Err((why, part)),
        };
        match self.chunk.append_cont(part, body, scope) {
            Ok(()) => Ok(sealed),
            Err(part) => {
                self.count_refused_dropped();
                Err((Refused::Full, part))
            }
        }
    }

    /// Moves to a new chunk: its reading half goes to the log's queue, then
    /// the old one is let go (sealed: its open slots become part one).
    /// Returns the slots the old chunk held; `None` (staying on the full
    /// chunk) when no chunk is free.
    #[cold]
    fn switch(&mut self, pool: &ChunkPool) -> Option<u32> {
        let (producer, consumer) = Chunk::split(pool.take(false)?)?;
        if let Err(consumer) = self.log.next.push(consumer) {
            // Cannot happen (the queue holds more than the pool); give the
            // chunk back rather than lose track of it.
            drop(producer);
            if let Ok(chunk) = consumer.reclaim() {
                pool.give(chunk);
            }
            return None;
        }
        self.low = pool.is_low();
        // The reader finds the next chunk queued before it sees this one
        // sealed.
        let old = std::mem::replace(&mut self.chunk, producer);
        let spans = old.begun();
        drop(old);
        Some(spans)
    }

    /// Marks the log finished (its thread exits): its chunk is let go, and
    /// the reader drains what is published and frees it.
    pub(crate) fn finish(self, pool: &ChunkPool) {
        pool.remove_producer();
        let LogProducer { log, chunk, .. } = self;
        drop(chunk);
        log.produced.gone.store(true, Ordering::Release);
    }
}
