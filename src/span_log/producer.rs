//! The recording thread's end of a span log: appends framed records to
//! its chunk, moves on to a new chunk from the pool when one is full, and
//! keeps the log's counters (single writer, plain stores).
//!
//! Runs per span: it must never block, lock, allocate (but for a chunk,
//! once per chunk, within the budget) or make a syscall.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use super::chunk::{Chunk, ChunkProducer};
use super::chunks::ChunkPool;
use super::reader::LogReader;
use super::record::{HEADER, JUMP};
use super::state::{LogShared, Produced};

/// Why [`LogProducer::append`] did not take a span.
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
    spans_in_chunk: u32,
    spans_per_chunk: u32,
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

/// The largest record a chunk of `pool` takes (room for a jump record
/// stays).
#[inline]
fn max_record(pool: &ChunkPool) -> usize {
    pool.chunk_bytes() - 2 * HEADER
}

impl LogProducer {
    /// A new log with its first chunk (allocated past the budget if need
    /// be), and the reader's half of it.
    pub(crate) fn new(pool: &ChunkPool) -> (LogProducer, LogReader) {
        pool.add_producer();
        let first = pool
            .take(true)
            .unwrap_or_else(|| Chunk::new(pool.chunk_bytes()));
        let (chunk, consumer) = match Chunk::split(first) {
            Some(halves) => halves,
            // A pooled chunk is never shared; a fresh one cannot be.
            None => match Chunk::split(Chunk::new(pool.chunk_bytes())) {
                Some(halves) => halves,
                None => unreachable!("a new chunk has one owner"),
            },
        };
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
        let reader = LogReader {
            log: log.clone(),
            chunks: VecDeque::from([consumer]),
            zombies: Vec::new(),
            taken: 0,
        };
        let producer = LogProducer {
            log,
            chunk,
            spans_in_chunk: 0,
            spans_per_chunk: pool.spans_per_chunk(),
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
        self.recorded += 1;
        self.log
            .produced
            .recorded
            .store(self.recorded, Ordering::Release);
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

    /// Counts a span that ended but cannot be queued (pipeline closed).
    #[inline]
    pub(crate) fn count_dropped(&mut self) {
        self.recorded += 1;
        self.log
            .produced
            .recorded
            .store(self.recorded, Ordering::Release);
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

    /// After [`Refused::TooLarge`]: the span could not be queued at all.
    pub(crate) fn count_refused_dropped(&mut self) {
        self.pending -= 1;
        self.dropped += 1;
        self.log
            .produced
            .dropped
            .store(self.dropped, Ordering::Release);
    }

    /// Appends a record made by [`frame_in_place`], counted recorded
    /// first. `Ok(sealed)` with the spans of the chunk it sealed to make
    /// room (0 if none), or why it was not taken.
    ///
    /// Hot path (runs per span): one copy of the record into the log and
    /// two release stores; no allocation, lock or read-modify-write but
    /// once per chunk.
    #[inline]
    pub(crate) fn append(&mut self, record: &[u8], pool: &ChunkPool) -> Result<u32, Refused> {
        // Counted before it can reach any outcome (see `stats`).
        self.recorded += 1;
        self.log
            .produced
            .recorded
            .store(self.recorded, Ordering::Release);
        if record.len() > max_record(pool) {
            return Err(Refused::TooLarge);
        }
        let mut sealed = 0;
        if record.len() + HEADER > self.chunk.room() || self.spans_in_chunk >= self.spans_per_chunk
        {
            match self.switch(pool) {
                Some(n) => sealed = n,
                None => {
                    self.pending -= 1;
                    self.dropped += 1;
                    self.log
                        .produced
                        .dropped
                        .store(self.dropped, Ordering::Release);
                    return Err(Refused::Full);
                }
            }
        }
        let ok = self.chunk.append(record);
        debug_assert!(ok, "room was checked");
        self.spans_in_chunk += 1;
        Ok(sealed)
    }

    /// Moves to a new chunk: its reading half goes to the log's queue, then
    /// a jump record seals the old one. Returns the spans the old chunk
    /// held; `None` (staying on the full chunk) when no chunk is free.
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
        let mut jump = [0u8; HEADER];
        jump[..4].copy_from_slice(&JUMP.to_le_bytes());
        let ok = self.chunk.append(&jump);
        debug_assert!(ok, "room for the jump record is always kept");
        self.chunk = producer;
        Some(std::mem::replace(&mut self.spans_in_chunk, 0))
    }

    /// Marks the log finished (its thread exits): the reader drains what is
    /// published and frees it.
    pub(crate) fn finish(self, pool: &ChunkPool) {
        pool.remove_producer();
        self.log.produced.gone.store(true, Ordering::Release);
    }
}
