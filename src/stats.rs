//! Span accounting: atomic counters readable at any time, and the invariant
//! they keep.
//!
//! Every span that is recorded (ended while sampled) is, at every moment,
//! in exactly one state:
//!
//! ```text
//! recorded = exported + dropped + shed + failed + rejected + queued
//! ```
//!
//! - `shed`: the pipeline shed its trace under overload (see
//!   [`shed`](crate::shed)): counted recorded and shed when it started,
//!   never encoded;
//! - `dropped`: its log had no room (or the pipeline was shut down) when it
//!   ended, or it was still in a log when shutdown finished;
//! - `exported`: the collector accepted it;
//! - `rejected`: the collector answered with a partial success naming it;
//! - `failed`: its export failed for good (non-retryable error, retries
//!   exhausted, export deadline, shutdown deadline);
//! - `queued`: in a log, being batched, or in an export in flight.
//!
//! Counters only grow. A [`Stats`] snapshot reads the outcome counters
//! (with acquire ordering) before `recorded`, and every span is counted in
//! `recorded` before it can reach an outcome, so `queued` (the difference)
//! is never negative: no span is ever counted twice. Tests pin that, and pin
//! `queued` against what the ring and the worker really hold.
//!
//! The counters written on the recording path (`recorded`, `sampled_out`,
//! `shed`, and `dropped` when a log is full) live in each thread's log, written by
//! that thread alone with plain stores (no read-modify-write); a snapshot
//! sums them over the live logs, plus the final counts of retired ones.
//!
//! This module must never lose a count: every transition is an atomic add.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::span_log::{Counts, LogShared};

/// The pipeline-wide counters (the worker's, mostly).
pub(crate) struct Counters {
    /// Dropped outside any log (a span ending on a thread with no log for
    /// a closed pipeline, a large span that found the lane full).
    pub(crate) dropped: AtomicU64,
    pub(crate) exported: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) exports: AtomicU64,
    /// Spans the worker has taken from the logs and not yet resolved.
    pub(crate) in_flight: AtomicU64,
    /// Export calls started and not yet finished.
    pub(crate) exports_in_flight: AtomicU64,
    /// How long export calls took (retries included), on the worker's
    /// tasks only: recording threads never touch it.
    pub(crate) export_latency: AtomicHistogram,
}

/// Upper bounds (seconds) of the export latency histogram's buckets, as
/// Prometheus' default buckets; a last `+Inf` bucket is implied.
pub const LATENCY_BOUNDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram the export tasks write with atomic adds (no lock).
pub(crate) struct AtomicHistogram {
    /// Per bucket (not cumulative), the last one `+Inf`.
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl AtomicHistogram {
    fn new() -> Self {
        AtomicHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Counts one observation.
    pub(crate) fn observe(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.sum_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.buckets[i].fetch_add(1, Ordering::Release);
    }

    pub(crate) fn snapshot(&self) -> Histogram {
        let mut buckets = [0u64; LATENCY_BOUNDS.len() + 1];
        for (out, b) in buckets.iter_mut().zip(&self.buckets) {
            *out = b.load(Ordering::Acquire);
        }
        Histogram {
            buckets,
            sum_nanos: self.sum_nanos.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of a histogram: counts per bucket of [`LATENCY_BOUNDS`] (not
/// cumulative; the last bucket counts what is above the last bound) and
/// the sum of the observations.
///
/// Read with [`Pipeline::export_latency`](crate::Pipeline::export_latency).
///
/// ```
/// let h = tracewire::Histogram::default();
/// assert_eq!(h.count(), 0);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Observations per bucket; `buckets[i]` counts those in
    /// `(LATENCY_BOUNDS[i-1], LATENCY_BOUNDS[i]]`, the last one those above
    /// every bound.
    pub buckets: [u64; LATENCY_BOUNDS.len() + 1],
    /// The sum of the observations, in nanoseconds.
    pub sum_nanos: u64,
}

impl Histogram {
    /// The number of observations.
    ///
    /// ```
    /// assert_eq!(tracewire::Histogram::default().count(), 0);
    /// ```
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            dropped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            exports: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            exports_in_flight: AtomicU64::new(0),
            export_latency: AtomicHistogram::new(),
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

    /// A snapshot, given every live log and the retired logs' final
    /// counts. Once shutdown has `finished`, spans still in a log will
    /// never leave it: they count as dropped.
    pub(crate) fn snapshot(
        &self,
        logs: &[Arc<LogShared>],
        retired: Counts,
        finished: bool,
    ) -> Stats {
        // Outcomes before `recorded`: see the module docs. A span's log
        // counts it recorded before publishing it, and the worker resolves
        // it only after reading it.
        let exported = self.exported.load(Ordering::Acquire);
        let failed = self.failed.load(Ordering::Acquire);
        let rejected = self.rejected.load(Ordering::Acquire);
        // Each log's outcomes (`dropped`, `shed`) before its `recorded`.
        let mut outcomes = retired;
        for l in logs {
            let c = l.counts();
            outcomes.dropped += c.dropped;
            outcomes.shed += c.shed;
        }
        let mut dropped = self.dropped.load(Ordering::Acquire) + outcomes.dropped;
        let shed = outcomes.shed;
        let retried = self.retried.load(Ordering::Acquire);
        let bytes_sent = self.bytes_sent.load(Ordering::Acquire);
        let exports = self.exports.load(Ordering::Acquire);
        let (mut recorded, mut sampled_out) = (retired.recorded, retired.sampled_out);
        for l in logs {
            let c = l.counts();
            recorded += c.recorded;
            sampled_out += c.sampled_out;
        }
        let resolved = exported + failed + rejected + dropped + shed;
        // Never negative while no span is counted twice; if one were,
        // `queued` would show it as an absurdly large number, which the
        // tests check for.
        let mut queued = recorded.wrapping_sub(resolved);
        if finished && queued < u64::MAX / 2 {
            dropped += queued;
            queued = 0;
        }
        Stats {
            recorded,
            sampled_out,
            dropped,
            shed,
            exported,
            failed,
            rejected,
            retried,
            queued,
            bytes_sent,
            exports,
            exports_in_flight: self.exports_in_flight.load(Ordering::Relaxed),
            exporting: self.in_flight.load(Ordering::Relaxed).min(queued),
        }
    }
}

/// A snapshot of a pipeline's span accounting.
///
/// `recorded == exported + dropped + shed + failed + rejected + queued`
/// holds for every snapshot.
///
/// ```no_run
/// # fn demo(pipeline: &tracewire::Pipeline) {
/// let s = pipeline.stats();
/// assert_eq!(s.recorded, s.exported + s.dropped + s.shed + s.failed + s.rejected + s.queued);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Sampled spans that ended, and spans shed under overload (counted
    /// when they started).
    pub recorded: u64,
    /// Spans not sampled (never encoded, never queued).
    pub sampled_out: u64,
    /// Spans dropped: no room in their thread's log, or the pipeline shut down.
    pub dropped: u64,
    /// Spans of traces the pipeline shed whole under overload (never
    /// encoded; see `tracing.batch.shedding`).
    pub shed: u64,
    /// Spans the collector accepted.
    pub exported: u64,
    /// Spans whose export failed for good.
    pub failed: u64,
    /// Spans the collector refused (partial success).
    pub rejected: u64,
    /// Span sends repeated after a retryable failure (a batch of 512 retried
    /// twice counts 1024).
    pub retried: u64,
    /// Spans recorded and not yet resolved: in a log, being batched, or in
    /// an export in flight.
    pub queued: u64,
    /// Request bytes written to the collector (after compression, including
    /// retries; not counting HTTP or gRPC headers).
    pub bytes_sent: u64,
    /// Export requests sent (including retries).
    pub exports: u64,
    /// Export calls in progress now (each one a batch, retries included).
    pub exports_in_flight: u64,
    /// Of `queued`, the spans the worker has taken from the logs: being
    /// batched or in an export in progress (OpenTelemetry's exporter
    /// in-flight spans). The rest of `queued` waits in the logs.
    pub exporting: u64,
}

impl Stats {
    /// Whether no span is counted twice (`queued` did not underflow).
    ///
    /// ```
    /// assert!(tracewire::Stats::default().is_consistent());
    /// ```
    pub fn is_consistent(&self) -> bool {
        self.exported + self.dropped + self.shed + self.failed + self.rejected <= self.recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(recorded: u64, dropped: u64, shed: u64) -> Counts {
        Counts {
            recorded,
            dropped,
            sampled_out: 0,
            shed,
        }
    }

    #[test]
    fn resolve_splits_a_batch() {
        let c = Counters::new();
        c.in_flight.fetch_add(10, Ordering::Relaxed);
        c.resolve(10, 3, 0);
        let s = c.snapshot(&[], counts(10, 0, 0), false);
        assert_eq!((s.exported, s.rejected, s.failed, s.queued), (7, 3, 0, 0));
        assert!(s.is_consistent());
        assert_eq!(c.in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn what_stays_in_a_log_after_shutdown_is_dropped() {
        let c = Counters::new();
        let s = c.snapshot(&[], counts(5, 1, 0), false);
        assert_eq!((s.dropped, s.queued), (1, 4));
        let s = c.snapshot(&[], counts(5, 1, 0), true);
        assert_eq!((s.dropped, s.queued), (5, 0));
    }

    #[test]
    fn shed_spans_are_an_outcome() {
        let c = Counters::new();
        let s = c.snapshot(&[], counts(10, 1, 4), false);
        assert_eq!((s.shed, s.dropped, s.queued), (4, 1, 5));
        assert!(s.is_consistent());
        let s = c.snapshot(&[], counts(10, 1, 4), true);
        assert_eq!((s.shed, s.dropped, s.queued), (4, 6, 0));
    }
}
