//! Waking the export worker, rarely: while spans keep coming the worker
//! looks at the logs on a timer of its own, paced to about once per batch
//! (`batch::pace`), and recording threads never wake it unless the logs
//! fill faster than it looks (half the queue, or a batch's worth of
//! memory); only when it has parked (less than a batch a second) does the
//! thread that seals the chunk completing a batch wake it, once.
//!
//! A wake-up is a syscall that costs the thread making it several
//! microseconds on a virtual machine: paid on every batch it would be the
//! slowest step of the record path, so it is paid only after a quiet spell.
//!
//! A recording thread never wakes the worker's task itself: waking a tokio
//! task from outside the runtime takes the runtime's locks (its scheduler
//! queue, its parker's mutex), which the worker's own thread holds while
//! it parks, so a recording thread could wait there (counted: 4 voluntary
//! context switches in 6 runs of 500,000 paced spans; BENCHMARKS.md).
//! It rings a
//! doorbell instead: `Thread::unpark` on a small thread of the pipeline's
//! (an atomic swap, and a futex wake only when that thread sleeps, never a
//! lock), and that thread wakes the task.
//!
//! This module must never block a recording thread.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::priority::{self, WorkerPriority};

/// What the doorbell thread shares with the pipeline.
struct Bell {
    notify: Notify,
    /// Rung since the doorbell thread last woke the task.
    rung: AtomicBool,
    /// The pipeline has shut down: the doorbell thread exits.
    closed: AtomicBool,
}

/// Starts the doorbell thread, which wakes the worker's task each time it
/// is unparked after a ring, until the bell is closed. `None` if no thread
/// can be started (then wake-ups notify the task directly).
fn start_doorbell(bell: Arc<Bell>, priority: WorkerPriority) -> Option<std::thread::Thread> {
    let handle = std::thread::Builder::new()
        .name("tracewire-wake".into())
        .stack_size(64 * 1024)
        .spawn(move || {
            priority::apply_to_current_thread(priority);
            loop {
                std::thread::park();
                if bell.closed.load(Ordering::Acquire) {
                    return;
                }
                if bell.rung.swap(false, Ordering::AcqRel) {
                    bell.notify.notify_one();
                }
            }
        })
        .ok()?;
    Some(handle.thread().clone())
}

/// The worker's wake-up signal, whether it is parked, and the count of
/// spans in sealed chunks that decides when to wake it.
pub(crate) struct Wake {
    bell: Arc<Bell>,
    /// The doorbell thread; `None` when it could not start.
    doorbell: Option<std::thread::Thread>,
    pending: AtomicBool,
    /// The worker is not polling: a full batch must wake it.
    parked: AtomicBool,
    /// Spans in chunks sealed since the worker last took spans
    /// (approximate: it only decides when to wake the worker).
    sealed_spans: AtomicUsize,
    /// Wake a parked worker when this many spans wait in sealed chunks.
    batch: usize,
    /// Wake the worker even while it polls when this many wait (half the
    /// logs' capacity, at least a batch): the logs are filling faster than
    /// it looks.
    pressure: usize,
    /// Chunks sealed since the worker last took spans: big spans fill the
    /// logs' memory long before they make a batch's count.
    sealed_chunks: AtomicUsize,
    /// Wake a parked worker when this many chunks (a batch's worth of
    /// memory) are sealed; a polling one at twice as many.
    chunk_pressure: usize,
}

impl Wake {
    /// A signal that fires when `batch` spans wait in sealed chunks while
    /// the worker is parked (a chunk never holds more than a batch, so a
    /// full batch is never held back by a chunk still filling), or when
    /// half the logs' `capacity` does, or `chunks` sealed chunks (a
    /// batch's worth of memory), while it polls. The doorbell thread runs
    /// at `priority`.
    pub(crate) fn new(
        batch: usize,
        capacity: usize,
        chunks: usize,
        priority: WorkerPriority,
    ) -> Self {
        let batch = batch.max(1);
        let bell = Arc::new(Bell {
            notify: Notify::new(),
            rung: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        });
        Wake {
            doorbell: start_doorbell(bell.clone(), priority),
            bell,
            pending: AtomicBool::new(false),
            parked: AtomicBool::new(true),
            sealed_spans: AtomicUsize::new(0),
            batch,
            pressure: batch.max(capacity / 2),
            sealed_chunks: AtomicUsize::new(0),
            chunk_pressure: chunks.max(1),
        }
    }

    /// A recording thread sealed a chunk of `spans` spans: wakes the worker
    /// if it is parked and a batch's worth waits.
    ///
    /// Runs once per chunk: one atomic add, one load, and a wake-up only
    /// after a quiet spell.
    #[inline]
    pub(crate) fn sealed(&self, spans: u32) {
        let before = self
            .sealed_spans
            .fetch_add(spans as usize, Ordering::Relaxed);
        let waiting = before + spans as usize;
        let chunks = self.sealed_chunks.fetch_add(1, Ordering::Relaxed) + 1;
        // SeqCst pairs with `park`: either this sees the worker parked, or
        // the worker, parking, sees these spans. A polling worker looks
        // when it expects a batch (by count or by memory), so it is woken
        // only at twice that: the logs fill faster than it looks.
        let wake = if self.parked.load(Ordering::SeqCst) {
            waiting >= self.batch || chunks >= self.chunk_pressure
        } else {
            waiting >= self.pressure || chunks == 2 * self.chunk_pressure
        };
        if wake {
            self.wake();
        }
    }

    /// Wakes the worker unless a wake-up is already pending: rings the
    /// doorbell (see the module doc). Never blocks.
    #[inline]
    pub(crate) fn wake(&self) {
        if !self.pending.load(Ordering::Relaxed) && !self.pending.swap(true, Ordering::AcqRel) {
            match &self.doorbell {
                // An atomic store and an unpark: never a lock.
                Some(thread) if !self.bell.closed.load(Ordering::Relaxed) => {
                    self.bell.rung.store(true, Ordering::Release);
                    thread.unpark();
                }
                _ => self.bell.notify.notify_one(),
            }
        }
    }

    /// The pipeline has shut down: the doorbell thread exits now (a thread
    /// that recorded into the pipeline may keep it alive until that thread
    /// exits, and need not keep a thread alive with it). Later wake-ups
    /// notify the task directly.
    pub(crate) fn close(&self) {
        self.bell.closed.store(true, Ordering::Release);
        if let Some(thread) = &self.doorbell {
            thread.unpark();
        }
    }

    /// Waits for a wake-up (worker side).
    pub(crate) async fn woken(&self) {
        self.bell.notify.notified().await;
        self.pending.store(false, Ordering::Release);
    }

    /// The worker polls from now on: recording threads need not wake it.
    pub(crate) fn unpark(&self) {
        self.parked.store(false, Ordering::SeqCst);
    }

    /// The worker stops polling. Returns whether a batch's worth may have
    /// been sealed meanwhile (then it should drain before sleeping).
    pub(crate) fn park(&self) -> bool {
        self.parked.store(true, Ordering::SeqCst);
        self.sealed_spans.load(Ordering::SeqCst) >= self.batch
            || self.sealed_chunks.load(Ordering::SeqCst) >= self.chunk_pressure
    }

    /// Whether the worker is parked.
    pub(crate) fn is_parked(&self) -> bool {
        self.parked.load(Ordering::Relaxed)
    }

    /// The worker took spans: start counting sealed spans afresh.
    pub(crate) fn drained(&self) {
        self.sealed_spans.store(0, Ordering::Relaxed);
        self.sealed_chunks.store(0, Ordering::Relaxed);
    }
}

impl Drop for Wake {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn woken_within(w: &Wake, d: Duration) -> bool {
        tokio::time::timeout(d, w.woken()).await.is_ok()
    }

    #[tokio::test]
    async fn a_parked_worker_is_woken_once_per_batch() {
        let w = Wake::new(100, 10_000, 100, WorkerPriority::Normal);
        w.sealed(64);
        assert!(
            !woken_within(&w, Duration::from_millis(20)).await,
            "not a batch yet"
        );
        w.sealed(64);
        w.sealed(64);
        assert!(woken_within(&w, Duration::from_secs(1)).await);
        assert!(
            !woken_within(&w, Duration::from_millis(20)).await,
            "one pending wake-up, not one per call"
        );
    }

    #[test]
    fn the_doorbell_thread_exits_with_its_pipeline() {
        let w = Wake::new(100, 10_000, 100, WorkerPriority::Normal);
        let bell = w.bell.clone();
        assert!(w.doorbell.is_some(), "the doorbell thread started");
        assert_eq!(
            Arc::strong_count(&bell),
            3,
            "the test, the wake, the thread"
        );
        let exits = |want: usize| {
            let until = std::time::Instant::now() + Duration::from_secs(10);
            while Arc::strong_count(&bell) > want {
                assert!(
                    std::time::Instant::now() < until,
                    "the doorbell thread is still alive"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        };
        // Closed at shutdown: the thread exits, the pipeline may live on.
        w.close();
        exits(2);
        w.wake();
        drop(w);
        exits(1);
    }

    #[test]
    fn a_dropped_wake_stops_its_doorbell_thread() {
        let w = Wake::new(100, 10_000, 100, WorkerPriority::Normal);
        let bell = w.bell.clone();
        drop(w);
        let until = std::time::Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&bell) > 1 {
            assert!(
                std::time::Instant::now() < until,
                "the doorbell thread is still alive"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[tokio::test]
    async fn a_polling_worker_is_not_woken() {
        let w = Wake::new(100, 10_000, 100, WorkerPriority::Normal);
        w.unpark();
        for _ in 0..10 {
            w.sealed(64);
        }
        assert!(!woken_within(&w, Duration::from_millis(20)).await);
        // Unless the logs fill faster than it polls.
        for _ in 0..80 {
            w.sealed(64);
        }
        assert!(woken_within(&w, Duration::from_secs(1)).await);
        // Parking sees the batch that waits.
        assert!(w.park());
        w.drained();
        assert!(!w.park());
    }
}
