//! Waking the export worker: at most one wake-up pending at a time, so the
//! recording threads pay the wake-up's syscall about once per batch, never
//! per span.
//!
//! This module must never block a recording thread.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The worker's wake-up signal, and the count of spans in sealed chunks
/// that decides when to send it.
pub(crate) struct Wake {
    notify: Notify,
    pending: AtomicBool,
    /// Spans in chunks sealed since the worker last drained (approximate:
    /// it only decides when to wake the worker).
    sealed_spans: AtomicUsize,
    /// Wake the worker when this many spans wait in sealed chunks.
    batch: usize,
}

impl Wake {
    /// A signal that fires when `batch` spans wait in sealed chunks (a
    /// chunk never holds more than a batch, so a full batch is never held
    /// back by a chunk still filling).
    pub(crate) fn new(batch: usize) -> Self {
        Wake {
            notify: Notify::new(),
            pending: AtomicBool::new(false),
            sealed_spans: AtomicUsize::new(0),
            batch: batch.max(1),
        }
    }

    /// A recording thread sealed a chunk of `spans` spans: wakes the worker
    /// when a batch's worth waits.
    ///
    /// Runs once per chunk: one atomic add, and a wake-up once per batch.
    #[inline]
    pub(crate) fn sealed(&self, spans: u32) {
        let before = self
            .sealed_spans
            .fetch_add(spans as usize, Ordering::Relaxed);
        if before + spans as usize >= self.batch {
            self.wake();
        }
    }

    /// Wakes the worker unless a wake-up is already pending.
    #[inline]
    pub(crate) fn wake(&self) {
        if !self.pending.load(Ordering::Relaxed) && !self.pending.swap(true, Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }

    /// Waits for a wake-up (worker side).
    pub(crate) async fn woken(&self) {
        self.notify.notified().await;
        self.pending.store(false, Ordering::Release);
    }

    /// The worker drained the logs: start counting sealed spans afresh.
    pub(crate) fn drained(&self) {
        self.sealed_spans.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_batch_of_sealed_spans_wakes_the_worker_once() {
        let w = Wake::new(100);
        w.sealed(64);
        assert!(
            tokio::time::timeout(Duration::from_millis(20), w.woken())
                .await
                .is_err(),
            "not a batch yet"
        );
        w.sealed(64);
        w.sealed(64);
        tokio::time::timeout(Duration::from_secs(1), w.woken())
            .await
            .expect("woken");
        assert!(
            tokio::time::timeout(Duration::from_millis(20), w.woken())
                .await
                .is_err(),
            "one pending wake-up, not one per call"
        );
    }
}
