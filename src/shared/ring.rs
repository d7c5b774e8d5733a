//! The bounded lock-free queue between recording threads and the export
//! worker.
//!
//! Any number of threads push finished spans (their encoded bodies); the
//! worker pops them. A full ring refuses the span, which the caller counts
//! as dropped: the ring never blocks and never grows. When the ring holds a
//! full batch, the first pusher to notice wakes the worker, once per batch,
//! so the recording path makes no syscall in the steady state.
//!
//! This module must never block, allocate after construction, or wait.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_queue::ArrayQueue;
use tokio::sync::Notify;

/// A finished span: its encoded OTLP `Span` body and its scope's index.
#[derive(Debug)]
pub(crate) struct FinishedSpan {
    pub(crate) body: crate::codec::buf::SpanBuf,
    pub(crate) scope: u16,
}

/// The bounded span queue plus the worker's wake-up signal.
pub(crate) struct Ring {
    queue: ArrayQueue<FinishedSpan>,
    wake_at: usize,
    wake_pending: AtomicBool,
    notify: Notify,
}

impl Ring {
    /// A ring holding at most `capacity` spans (at least 1) that wakes the
    /// worker when it holds `wake_at` spans.
    pub(crate) fn new(capacity: usize, wake_at: usize) -> Self {
        let capacity = capacity.max(1);
        Ring {
            queue: ArrayQueue::new(capacity),
            wake_at: wake_at.clamp(1, capacity),
            wake_pending: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Offers a span; gives it back when the ring is full.
    ///
    /// Hot path (runs per span): one lock-free push; every 32nd push per
    /// thread also checks whether a batch is ready, and at most once per
    /// batch wakes the worker.
    #[inline]
    pub(crate) fn push(&self, span: FinishedSpan, check: bool) -> Result<(), FinishedSpan> {
        self.queue.push(span)?;
        if check && self.queue.len() >= self.wake_at {
            self.wake();
        }
        Ok(())
    }

    /// Wakes the worker unless a wake-up is already pending.
    #[inline]
    pub(crate) fn wake(&self) {
        if !self.wake_pending.load(Ordering::Relaxed)
            && !self.wake_pending.swap(true, Ordering::AcqRel)
        {
            self.notify.notify_one();
        }
    }

    /// Waits for a wake-up (worker side).
    pub(crate) async fn woken(&self) {
        self.notify.notified().await;
        self.wake_pending.store(false, Ordering::Release);
    }

    /// Takes the oldest span (worker side).
    #[inline]
    pub(crate) fn pop(&self) -> Option<FinishedSpan> {
        self.queue.pop()
    }

    /// Spans waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// The batch size that triggers a wake-up.
    pub(crate) fn wake_at(&self) -> usize {
        self.wake_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span() -> FinishedSpan {
        FinishedSpan {
            body: crate::codec::buf::SpanBuf::default(),
            scope: 0,
        }
    }

    #[test]
    fn full_ring_refuses_without_blocking() {
        let r = Ring::new(2, 2);
        assert!(r.push(span(), true).is_ok());
        assert!(r.push(span(), true).is_ok());
        assert!(r.push(span(), true).is_err());
        assert_eq!(r.len(), 2);
        assert!(r.pop().is_some());
        assert!(r.push(span(), true).is_ok());
    }

    #[tokio::test]
    async fn a_full_batch_wakes_the_worker_once() {
        let r = std::sync::Arc::new(Ring::new(8, 2));
        r.push(span(), true).unwrap();
        r.push(span(), true).unwrap();
        r.push(span(), true).unwrap();
        // One pending wake-up, delivered even though nobody waited yet.
        tokio::time::timeout(std::time::Duration::from_secs(1), r.woken())
            .await
            .expect("woken");
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), r.woken())
                .await
                .is_err()
        );
    }
}
