//! What a log's two ends share: the queue of chunks the producer moved
//! on to, and the counters (each group on a cache line of its own; every
//! counter has a single writer).
//!
//! The producer's stores here run per span: plain stores, never a
//! read-modify-write, a lock or an allocation.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crossbeam_queue::ArrayQueue;
use crossbeam_utils::CachePadded;

use super::chunk::ChunkConsumer;

/// What a log's producer and reader share. The producer's counters, the
/// reader's and the chunk queue each have a cache line of their own, so the
/// producer's per-span stores never wait on a line the worker just touched.
pub(crate) struct LogShared {
    /// Reading halves of the chunks the producer moved on to, in order.
    pub(super) next: CachePadded<ArrayQueue<ChunkConsumer>>,
    /// Written by the producer alone.
    pub(super) produced: CachePadded<Produced>,
    /// Spans the reader took out (single writer: the reader).
    pub(super) taken: CachePadded<AtomicU64>,
}

/// A log's counters, written by its producer alone (plain stores).
pub(super) struct Produced {
    /// Spans ended into this log.
    pub(super) recorded: AtomicU64,
    /// Spans this log dropped.
    pub(super) dropped: AtomicU64,
    /// Spans not sampled, started on this log's thread.
    pub(super) sampled_out: AtomicU64,
    /// Spans shed (counted recorded too), started on this log's thread.
    pub(super) shed: AtomicU64,
    /// Spans counted recorded here but queued another way (larger than a
    /// chunk).
    pub(super) diverted: AtomicU64,
    /// The producer is gone (its thread exited): what is published is all.
    pub(super) gone: AtomicBool,
}

impl LogShared {
    /// `(recorded, dropped, sampled_out, shed)`, as published (acquire;
    /// the outcome `shed` before `recorded`, see `stats`).
    pub(crate) fn counts(&self) -> Counts {
        let p = &self.produced;
        let shed = p.shed.load(Ordering::Acquire);
        let dropped = p.dropped.load(Ordering::Acquire);
        Counts {
            recorded: p.recorded.load(Ordering::Acquire),
            dropped,
            sampled_out: p.sampled_out.load(Ordering::Acquire),
            shed,
        }
    }

    /// Spans published into this log and not yet taken (while the producer
    /// works, spans it counted recorded may still be on their way in).
    pub(crate) fn waiting(&self) -> u64 {
        let c = self.counts();
        c.recorded
            .saturating_sub(c.dropped)
            .saturating_sub(c.shed)
            .saturating_sub(self.produced.diverted.load(Ordering::Acquire))
            .saturating_sub(self.taken.load(Ordering::Acquire))
    }
}

/// A log's span counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) recorded: u64,
    pub(crate) dropped: u64,
    pub(crate) sampled_out: u64,
    pub(crate) shed: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.recorded += o.recorded;
        self.dropped += o.dropped;
        self.sampled_out += o.sampled_out;
        self.shed += o.shed;
    }
}
