//! Span accounting: atomic counters readable at any time, and the invariant
//! they keep.
//!
//! Every span that is recorded (ended while sampled) is, at every moment,
//! in exactly one state:
//!
//! ```text
//! recorded = exported + dropped + failed + rejected + queued
//! ```
//!
//! - `dropped`: the ring was full (or the pipeline was shut down) when it
//!   ended;
//! - `exported`: the collector accepted it;
//! - `rejected`: the collector answered with a partial success naming it;
//! - `failed`: its export failed for good (non-retryable error, retries
//!   exhausted, export deadline, shutdown deadline);
//! - `queued`: in the ring, being batched, or in an export in flight.
//!
//! Counters only grow. A [`Stats`] snapshot reads the outcome counters
//! (with acquire ordering) before `recorded`, and every span is counted in
//! `recorded` before it can reach an outcome, so `queued` (the difference)
//! is never negative: no span is ever counted twice. Tests pin that, and pin
//! `queued` against what the ring and the worker really hold.
//!
//! Counters written on the recording path (`recorded`, `sampled_out`) are
//! striped over cache-padded slots, one per thread group, so threads
//! recording at once do not contend on one cache line.
//!
//! This module must never lose a count: every transition is an atomic add.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

const STRIPES: usize = 16;

/// A counter split over cache-padded slots; each thread adds to its own.
pub(crate) struct Striped {
    slots: [CachePadded<AtomicU64>; STRIPES],
}

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

/// A stripe for a new thread (round-robin).
pub(crate) fn next_stripe() -> usize {
    NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES
}

impl Striped {
    fn new() -> Self {
        Striped {
            slots: std::array::from_fn(|_| CachePadded::new(AtomicU64::new(0))),
        }
    }

    /// Hot path: one uncontended atomic add on the caller's stripe (from
    /// [`next_stripe`]).
    #[inline]
    pub(crate) fn add_at(&self, stripe: usize, n: u64) {
        self.slots[stripe % STRIPES].fetch_add(n, Ordering::Release);
    }

    fn sum(&self) -> u64 {
        self.slots.iter().map(|s| s.load(Ordering::Acquire)).sum()
    }
}

/// The live counters of one pipeline.
pub(crate) struct Counters {
    pub(crate) recorded: Striped,
    pub(crate) sampled_out: Striped,
    pub(crate) dropped: AtomicU64,
    pub(crate) exported: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) exports: AtomicU64,
    /// Spans the worker has taken from the ring and not yet resolved.
    pub(crate) in_flight: AtomicU64,
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            recorded: Striped::new(),
            sampled_out: Striped::new(),
            dropped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            exports: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
        }
    }

    /// Counts `n` spans resolved by an export: `rejected` of them refused by
    /// the collector, `failed` lost, the rest exported.
    pub(crate) fn resolve(&self, n: u64, rejected: u64, failed: u64) {
        let rejected = rejected.min(n);
        let failed = failed.min(n - rejected);
        let exported = n - rejected - failed;
        // Outcomes first (release), then the in-flight gauge.
        if exported > 0 {
            self.exported.fetch_add(exported, Ordering::Release);
        }
        if rejected > 0 {
            self.rejected.fetch_add(rejected, Ordering::Release);
        }
        if failed > 0 {
            self.failed.fetch_add(failed, Ordering::Release);
        }
        self.in_flight.fetch_sub(n, Ordering::Release);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        // Outcomes before `recorded`: see the module docs.
        let exported = self.exported.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        let rejected = self.rejected.load(Ordering::Acquire);
        let dropped = self.dropped.load(Ordering::Acquire);
        let retried = self.retried.load(Ordering::Acquire);
        let bytes_sent = self.bytes_sent.load(Ordering::Acquire);
        let exports = self.exports.load(Ordering::Acquire);
        let sampled_out = self.sampled_out.sum();
        let recorded = self.recorded.sum();
        let resolved = exported + failed + rejected + dropped;
        Stats {
            recorded,
            sampled_out,
            dropped,
            exported,
            failed,
            rejected,
            retried,
            // Never negative while no span is counted twice; if one were,
            // `queued` would show it as an absurdly large number, which the
            // tests check for.
            queued: recorded.wrapping_sub(resolved),
            bytes_sent,
            exports,
        }
    }
}

/// A snapshot of a pipeline's span accounting.
///
/// `recorded == exported + dropped + failed + rejected + queued` holds for
/// every snapshot.
///
/// ```no_run
/// # fn demo(pipeline: &tracewire::Pipeline) {
/// let s = pipeline.stats();
/// assert_eq!(s.recorded, s.exported + s.dropped + s.failed + s.rejected + s.queued);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Sampled spans that ended.
    pub recorded: u64,
    /// Spans not sampled (never encoded, never queued).
    pub sampled_out: u64,
    /// Spans dropped because the queue was full or the pipeline shut down.
    pub dropped: u64,
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans whose export failed for good.
    pub failed: u64,
    /// Spans the collector refused (partial success).
    pub rejected: u64,
    /// Span sends repeated after a retryable failure (a batch of 512 retried
    /// twice counts 1024).
    pub retried: u64,
    /// Spans recorded and not yet resolved: in the queue, being batched, or
    /// in an export in flight.
    pub queued: u64,
    /// Request bytes written to the collector (after compression, including
    /// retries; not counting HTTP or gRPC headers).
    pub bytes_sent: u64,
    /// Export requests sent (including retries).
    pub exports: u64,
}

impl Stats {
    /// Whether no span is counted twice (`queued` did not underflow).
    ///
    /// ```
    /// assert!(tracewire::Stats::default().is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.exported + self.dropped + self.failed + self.rejected <= self.recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_splits_a_batch() {
        let c = Counters::new();
        c.recorded.add_at(0, 10);
        c.in_flight.fetch_add(10, Ordering::Relaxed);
        c.resolve(10, 3, 0);
        let s = c.snapshot();
        assert_eq!((s.exported, s.rejected, s.failed, s.queued), (7, 3, 0, 0));
        assert!(s.is_consistent());
        assert_eq!(c.in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn striped_counts_from_many_threads_add_up() {
        let c = std::sync::Arc::new(Counters::new());
        std::thread::scope(|s| {
            for _ in 0..8 {
                let c = &c;
                s.spawn(move || {
                    let stripe = next_stripe();
                    for _ in 0..10_000 {
                        c.recorded.add_at(stripe, 1);
                    }
                });
            }
        });
        assert_eq!(c.snapshot().recorded, 80_000);
    }
}
