//! The export worker's end of a span log: finds the published records
//! across the log's chunks, lets the worker copy them out, consumes them,
//! and gives read chunks back to the pool.
//!
//! Runs on the worker, once per batch: it never blocks the producer.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::chunk::ChunkConsumer;
use super::chunks::ChunkPool;
use super::record::{HEADER, JUMP};
use super::state::{Counts, LogShared};

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
    pub(super) log: Arc<LogShared>,
    /// The chunk being read, then the ones after it.
    pub(super) chunks: VecDeque<ChunkConsumer>,
    /// Read chunks whose producer half was still alive when they were left.
    pub(super) zombies: Vec<ChunkConsumer>,
    /// Spans taken out of this log.
    pub(super) taken: u64,
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

    /// Frees the log's last chunk; returns its final counts.
    pub(crate) fn retire(mut self, pool: &ChunkPool) -> Counts {
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
