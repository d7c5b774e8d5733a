//! Span logs: each recording thread appends its ended spans to its own log
//! (one per pipeline), a chain of [`chunk`](super::chunk)s; the export
//! worker reads every log on its schedule. One writer and one reader per
//! log, no lock and no read-modify-write atomic per span.
//!
//! A record is a 6-byte header (`u32` little-endian length, `u16` scope
//! index) followed by the span already framed as a `ScopeSpans.spans`
//! field (`0x12`, varint length, `Span` body), so the worker copies it into
//! the request as it is. When a chunk is full (in bytes, or
//! [`ChunkPool::spans_per_chunk`] spans) the producer takes a new chunk
//! from the pipeline's [`ChunkPool`], hands its reading half to the log's
//! queue, and writes a jump record (length `u32::MAX`) where the next
//! record would have gone: the reader, reaching the jump, continues in the
//! next chunk. When no chunk is free, spans are dropped and counted.
//!
//! Memory is bounded by the pool: `budget` chunks shared by every log, plus
//! one chunk per recording thread beyond the first (every thread can always
//! record into a chunk of its own, and the budget stays for the chunks they
//! move on to).
//!
//! The producer side runs per span: it must never block, lock, allocate
//! (but for a chunk, once per chunk, within the budget) or make a syscall
//! (but the worker's wake-up, about once per batch).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use super::chunk::{Chunk, ChunkConsumer, ChunkProducer};
pub(crate) use super::chunk_pool::ChunkPool;

/// Bytes of a record's header.
pub(crate) const HEADER: usize = 6;
/// The most bytes a record puts in front of a span body: the header and
/// the `ScopeSpans.spans` key and length. The recording path leaves this
/// much room in front of a span's scratch bytes, so that the whole record
/// is one contiguous copy ([`frame_in_place`]).
pub(crate) const HEADROOM: usize = HEADER + 6;
/// The length that marks a jump to the next chunk.
const JUMP: u32 = u32::MAX;

/// What a log's producer and reader share. The producer's counters, the
/// reader's and the chunk queue each have a cache line of their own, so the
/// producer's per-span stores never wait on a line the worker just touched.
pub(crate) struct LogShared {
    /// Reading halves of the chunks the producer moved on to, in order.
    next: CachePadded<ArrayQueue<ChunkConsumer>>,
    /// Written by the producer alone.
    produced: CachePadded<Produced>,
    /// Spans the reader took out (single writer: the reader).
    taken: CachePadded<AtomicU64>,
}

/// A log's counters, written by its producer alone (plain stores).
struct Produced {
    /// Spans ended into this log.
    recorded: AtomicU64,
    /// Spans this log dropped.
    dropped: AtomicU64,
    /// Spans not sampled, started on this log's thread.
    sampled_out: AtomicU64,
    /// Spans counted recorded here but queued another way (larger than a
    /// chunk).
    diverted: AtomicU64,
    /// The producer is gone (its thread exited): what is published is all.
    gone: AtomicBool,
}

impl LogShared {
    /// `(recorded, dropped, sampled_out)`, as published (acquire).
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        let p = &self.produced;
        (
            p.recorded.load(Ordering::Acquire),
            p.dropped.load(Ordering::Acquire),
            p.sampled_out.load(Ordering::Acquire),
        )
    }

    /// Spans published into this log and not yet taken (while the producer
    /// works, spans it counted recorded may still be on their way in).
    pub(crate) fn waiting(&self) -> u64 {
        let (recorded, dropped, _) = self.counts();
        recorded
            .saturating_sub(dropped)
            .saturating_sub(self.produced.diverted.load(Ordering::Acquire))
            .saturating_sub(self.taken.load(Ordering::Acquire))
    }
}

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
}

/// The largest record a chunk of `pool` takes (room for a jump record
/// stays).
#[inline]
fn max_record(pool: &ChunkPool) -> usize {
    pool.chunk_bytes() - 2 * HEADER
}

/// Writes a record's header and framing into the [`HEADROOM`] bytes in
/// front of a span body (`buf[HEADROOM..]`, for scope `scope`); returns
/// where the record starts in `buf`, or `None` when the body is larger
/// than a record can say (4 GiB).
///
/// Hot path (runs per span): a few stores.
#[inline]
pub(crate) fn frame_in_place(buf: &mut [u8], scope: u16) -> Option<usize> {
    let body_len = buf.len().checked_sub(HEADROOM)?;
    let (prefix, prefix_len) = frame(body_len);
    let framed = u32::try_from(prefix_len + body_len)
        .ok()
        .filter(|&f| f != JUMP)?;
    let start = HEADROOM - HEADER - prefix_len;
    let room = &mut buf[start..HEADROOM];
    room[..4].copy_from_slice(&framed.to_le_bytes());
    room[4..HEADER].copy_from_slice(&scope.to_le_bytes());
    for (dst, src) in room[HEADER..].iter_mut().zip(&prefix[..prefix_len]) {
        *dst = *src;
    }
    Some(start)
}

/// Frames a span body as a `ScopeSpans.spans` field: key `0x12` and the
/// varint length; returns the prefix and its length.
#[inline(always)]
fn frame(body_len: usize) -> ([u8; 6], usize) {
    let mut out = [0x12u8, 0, 0, 0, 0, 0];
    let mut v = body_len as u64;
    let mut n = 1;
    while v >= 0x80 && n < 5 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    (out, n + 1)
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

/// What [`LogReader::gather`] does with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Collect it.
    Take,
    /// Take it out of the log without collecting it (it cannot be sent).
    Skip,
    /// Stop here (the batch is full); the record stays in the log.
    Stop,
}

/// Where a record is, for the worker to copy it out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordRef {
    /// Index of the chunk in the reader's list.
    chunk: usize,
    /// Offset of the framed span.
    at: usize,
    /// Length of the framed span.
    pub(crate) len: usize,
    /// Scope index.
    pub(crate) scope: u16,
    /// The fleet member its trace goes to (set by the worker's admit).
    pub(crate) member: u32,
}

/// The worker's end of a log.
pub(crate) struct LogReader {
    log: Arc<LogShared>,
    /// The chunk being read, then the ones after it.
    chunks: VecDeque<ChunkConsumer>,
    /// Read chunks whose producer half was still alive when they were left.
    zombies: Vec<ChunkConsumer>,
    /// Spans taken out of this log.
    taken: u64,
}

/// How far a [`LogReader::gather`] got, to be consumed once copied.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mark {
    chunk: usize,
    at: usize,
    spans: u64,
}

impl Mark {
    /// Spans gathered up to this mark.
    pub(crate) fn spans(&self) -> u64 {
        self.spans
    }
}

impl LogReader {
    /// The log's shared counters.
    pub(crate) fn shared(&self) -> &Arc<LogShared> {
        &self.log
    }

    /// Spans published into this log and not yet taken.
    pub(crate) fn waiting(&self) -> u64 {
        self.log.waiting()
    }

    /// Collects published records, in order, into `out` while `admit`
    /// takes them (it sees each record's framed length and, when `peek` is
    /// not 0, its first `peek` bytes at most; it may set the record's
    /// `member`; a skipped record is taken out of the log but not
    /// collected). Returns how far it got; nothing is consumed until
    /// [`LogReader::consume`].
    pub(crate) fn gather(
        &mut self,
        out: &mut Vec<RecordRef>,
        peek: usize,
        mut admit: impl FnMut(&mut RecordRef, &[u8]) -> Admit,
    ) -> Mark {
        let mut chunk = 0;
        let mut at = match self.chunks.front() {
            Some(c) => c.position(),
            None => return Mark::default(),
        };
        let mut spans = 0;
        while let Some(c) = self.chunks.get(chunk) {
            let end = c.position() + c.available();
            if end < at + HEADER {
                break;
            }
            let (len, scope) = c.with_bytes(at, at + HEADER, |h| {
                if h.len() < HEADER {
                    return (0, 0);
                }
                (
                    u32::from_le_bytes([h[0], h[1], h[2], h[3]]),
                    u16::from_le_bytes([h[4], h[5]]),
                )
            });
            if len == JUMP {
                // Sealed: the next chunk was queued before the jump was
                // published.
                if chunk + 1 >= self.chunks.len() {
                    match self.log.next.pop() {
                        Some(next) => self.chunks.push_back(next),
                        None => break,
                    }
                }
                chunk += 1;
                at = self.chunks.get(chunk).map_or(0, ChunkConsumer::position);
                continue;
            }
            let len = len as usize;
            if len == 0 || at + HEADER + len > end {
                // Not a whole record: cannot happen (records are published
                // whole); stop rather than misread.
                break;
            }
            let mut record = RecordRef {
                chunk,
                at: at + HEADER,
                len,
                scope,
                member: 0,
            };
            let verdict = if peek == 0 {
                admit(&mut record, &[])
            } else {
                let to = record.at + len.min(peek);
                c.with_bytes(record.at, to, |head| admit(&mut record, head))
            };
            match verdict {
                Admit::Take => out.push(record),
                Admit::Skip => {}
                Admit::Stop => break,
            }
            at += HEADER + len;
            spans += 1;
        }
        Mark { chunk, at, spans }
    }

    /// Calls `f` with the framed bytes of a record [`LogReader::gather`]
    /// found (before [`LogReader::consume`]).
    #[inline]
    pub(crate) fn with_record<R>(&self, r: &RecordRef, f: impl FnOnce(&[u8]) -> R) -> R {
        match self.chunks.get(r.chunk) {
            Some(c) => c.with_bytes(r.at, r.at + r.len, f),
            None => f(&[]),
        }
    }

    /// Consumes everything before `mark`, freeing the chunks left behind.
    pub(crate) fn consume(&mut self, mark: Mark, pool: &ChunkPool) {
        for z in std::mem::take(&mut self.zombies) {
            self.free(z, pool);
        }
        for _ in 0..mark.chunk {
            if let Some(done) = self.chunks.pop_front() {
                self.free(done, pool);
            }
        }
        if let Some(c) = self.chunks.front_mut() {
            c.consume_to(mark.at);
        }
        self.taken += mark.spans;
        self.log.taken.store(self.taken, Ordering::Release);
    }

    /// Gives a fully read chunk back to the pool, or keeps it for later
    /// when its producer still holds its half (for an instant after the
    /// jump record, or until a finished log's thread is gone).
    fn free(&mut self, done: ChunkConsumer, pool: &ChunkPool) {
        match done.reclaim() {
            Ok(chunk) => pool.give(chunk),
            Err(still_held) => self.zombies.push(still_held),
        }
    }

    /// Whether the producer is gone (its thread exited).
    pub(crate) fn is_gone(&self) -> bool {
        self.log.produced.gone.load(Ordering::Acquire)
    }

    /// Whether the producer is gone and everything it published was taken:
    /// the log can be dropped (see [`LogReader::retire`]).
    pub(crate) fn is_finished(&self) -> bool {
        self.log.produced.gone.load(Ordering::Acquire)
            && self.log.next.is_empty()
            && self.chunks.len() <= 1
            && self.chunks.front().is_none_or(|c| c.available() == 0)
    }

    /// Frees the log's last chunk; returns its final counts
    /// `(recorded, dropped, sampled_out)`.
    pub(crate) fn retire(mut self, pool: &ChunkPool) -> (u64, u64, u64) {
        let chunks: Vec<ChunkConsumer> = self
            .chunks
            .drain(..)
            .chain(self.zombies.drain(..))
            .collect();
        for c in chunks {
            match c.reclaim() {
                Ok(chunk) => pool.give(chunk),
                // Its thread's state is still being torn down: let the
                // memory go with the last reference instead.
                Err(_) => pool.forget_one(),
            }
        }
        self.log.counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(r: &mut LogReader, pool: &ChunkPool) -> Vec<(u16, Vec<u8>)> {
        let mut refs = Vec::new();
        let mark = r.gather(&mut refs, 0, |_, _| Admit::Take);
        let out = refs
            .iter()
            .map(|x| (x.scope, r.with_record(x, |b| b.to_vec())))
            .collect();
        r.consume(mark, pool);
        out
    }

    /// A record for `body` in scope `scope`, as the recording path makes it.
    fn record(scope: u16, body: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(body);
        let start = frame_in_place(&mut buf, scope).unwrap();
        buf.split_off(start)
    }

    #[test]
    fn frames_match_protobuf() {
        for len in [0usize, 1, 127, 128, 300, 16_383, 16_384, 1 << 21] {
            let (p, n) = frame(len);
            let mut want = vec![0x12];
            prost::encoding::encode_varint(len as u64, &mut want);
            assert_eq!(&p[..n], &want[..], "{len}");
        }
    }

    #[test]
    fn records_cross_chunks_in_order_and_chunks_are_reused() {
        let pool = ChunkPool::for_queue(64, 512); // 8 spans per chunk, 4 KiB chunks
        assert_eq!(pool.spans_per_chunk(), 8);
        let (mut p, mut r) = LogProducer::new(&pool);
        let mut sealed = 0;
        for i in 0..30u16 {
            sealed += p.append(&record(i % 3, &i.to_le_bytes()), &pool).unwrap();
        }
        assert_eq!(sealed, 24, "three chunks of eight sealed");
        let got = drain(&mut r, &pool);
        assert_eq!(got.len(), 30);
        for (i, (scope, framed)) in got.iter().enumerate() {
            assert_eq!(*scope, i as u16 % 3);
            assert_eq!(
                framed,
                &[&[0x12, 2][..], &(i as u16).to_le_bytes()].concat()
            );
        }
        assert!(drain(&mut r, &pool).is_empty(), "consumed once");
        assert!(
            pool.allocated() <= 4,
            "chunks were reused: {}",
            pool.allocated()
        );
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn a_full_pool_drops_and_counts() {
        let pool = ChunkPool::for_queue(32, 512); // 4 spans per chunk, 8 chunks
        let (mut p, r) = LogProducer::new(&pool);
        let mut dropped = 0;
        for _ in 0..100 {
            if p.append(&record(0, b"x"), &pool) == Err(Refused::Full) {
                dropped += 1;
            }
        }
        // The budget: 8 chunks of 4 spans (a second producer would add one).
        assert_eq!(dropped, 100 - 8 * 4);
        let (recorded, d, _) = r.shared().counts();
        assert_eq!((recorded, d), (100, dropped));
        assert_eq!(r.waiting(), 32);
    }

    #[test]
    fn oversized_spans_are_refused_without_counting_a_drop() {
        let pool = ChunkPool::for_queue(64, 512);
        let (mut p, r) = LogProducer::new(&pool);
        let big = vec![7u8; pool.chunk_bytes()];
        assert_eq!(p.append(&record(0, &big), &pool), Err(Refused::TooLarge));
        assert_eq!(r.shared().counts(), (1, 0, 0));
    }

    #[test]
    fn a_finished_log_is_drained_then_retired() {
        let pool = ChunkPool::for_queue(64, 512);
        let (mut p, mut r) = LogProducer::new(&pool);
        for _ in 0..20 {
            p.append(&record(0, b"span"), &pool).unwrap();
        }
        p.finish(&pool);
        assert!(!r.is_finished(), "published spans remain");
        assert_eq!(drain(&mut r, &pool).len(), 20);
        assert!(r.is_finished());
        assert_eq!(r.retire(&pool), (20, 0, 0));
    }
}
