//! Each recording thread's own state: its id generator, its span log in
//! each pipeline it records into, and a small cache of scratch span
//! buffers, all in one thread-local.
//!
//! A span holds only its pipeline's id and, when it ends, is appended to
//! the log of the thread it ends on ([`end_span`]), so starting and ending
//! a span touches no reference count and no shared cache line but the
//! log's own. When the thread exits, its logs are marked finished: the
//! worker exports what they hold and frees them.
//!
//! This module runs per span: it must never block, lock (except the
//! pipeline's registry, once per thread and pipeline), make a syscall
//! (except the worker's wake-up, about once per batch), or allocate once
//! warm.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::codec::buf::SpanBuf;
use crate::rand::Wyrand;
use crate::shared::lane::LargeSpan;
use crate::shared::log::{frame_in_place, LogProducer, Refused, HEADROOM};
use crate::shared::pool::{Bundles, BUNDLE};
use crate::shared::{self as pipelines, Shared, SPAN_BUFFER_INITIAL, SPAN_BUFFER_RETAIN};

/// This thread's log in one pipeline.
struct ThreadLog {
    shared: Arc<Shared>,
    producer: LogProducer,
}

/// Everything one thread keeps for recording.
pub(super) struct ThreadState {
    /// Ids.
    pub(super) rng: Wyrand,
    /// This thread's logs, one per pipeline it records into (usually one).
    logs: RefCell<Vec<ThreadLog>>,
    /// The scratch buffer the last span on this thread gave back, ready
    /// (with the headroom reserved), kept right here: most spans take it.
    hot: RefCell<Option<SpanBuf>>,
    /// More scratch span buffers cached for this thread (at most one
    /// bundle): taking one costs no atomic.
    buffers: RefCell<Vec<SpanBuf>>,
}

thread_local! {
    pub(super) static LOCAL: ThreadState = const { ThreadState::new() };
}

impl ThreadState {
    pub(super) const fn new() -> Self {
        ThreadState {
            rng: Wyrand::unseeded(),
            logs: RefCell::new(Vec::new()),
            hot: RefCell::new(None),
            buffers: RefCell::new(Vec::new()),
        }
    }

    /// Calls `f` with this thread's log in pipeline `id`, creating it on
    /// first use (`shared` spares the registry lookup when the caller has
    /// the pipeline at hand). `None` when the pipeline no longer exists.
    ///
    /// Hot path (runs per span end): a look at the first entry of a list
    /// as long as the number of pipelines this thread records into
    /// (usually one).
    #[inline(always)]
    fn with_log<R>(
        &self,
        id: u64,
        shared: Option<&Arc<Shared>>,
        f: impl FnOnce(&Shared, &mut LogProducer) -> R,
    ) -> Option<R> {
        let mut logs = self.logs.borrow_mut();
        let i = match logs.first() {
            Some(l) if l.shared.id == id => 0,
            _ => find_or_add_log(&mut logs, id, shared)?,
        };
        let l = &mut logs[i];
        Some(f(&l.shared, &mut l.producer))
    }

    /// Counts an unsampled span in this thread's log of `shared`.
    ///
    /// Hot path (runs per unsampled span): the log lookup and one plain
    /// store.
    #[inline]
    pub(super) fn count_sampled_out(&self, shared: &Arc<Shared>) {
        self.with_log(shared.id, Some(shared), |_, log| log.count_sampled_out());
    }

    /// Counts a shed span in this thread's log of `shared`.
    ///
    /// Hot path (runs per shed span): the log lookup and two plain stores.
    #[inline]
    pub(super) fn count_shed(&self, shared: &Arc<Shared>) {
        self.with_log(shared.id, Some(shared), |_, log| log.count_shed());
    }

    /// Counts a kept span's start in the shedding pressure.
    ///
    /// Hot path (runs per sampled span while shedding is on): the log
    /// lookup and local arithmetic; one read-modify-write per
    /// [`STEP`](crate::shared::shed::STEP) spans.
    #[inline]
    pub(super) fn count_started(&self, shared: &Arc<Shared>) {
        self.with_log(shared.id, Some(shared), |shared, log| {
            if let Some(d) = log.count_started() {
                shared.shed.add(d);
            }
        });
    }

    /// A span buffer with [`HEADROOM`] reserved: from this thread's cache,
    /// else the cache swaps itself for a full bundle from the pool, else a
    /// new buffer (warm-up only).
    ///
    /// Hot path (runs per span start): no atomic except once per bundle.
    #[inline]
    pub(super) fn take_buffer(&self, bufs: &Bundles<SpanBuf>) -> SpanBuf {
        if let Some(b) = self.hot.borrow_mut().take() {
            return b;
        }
        let mut cache = self.buffers.borrow_mut();
        let mut b = match cache.pop() {
            Some(b) => b,
            None => take_bundle(&mut cache, bufs),
        };
        // Buffers wait with the headroom reserved already; a new one has not.
        b.reset_to(HEADROOM);
        b
    }

    /// Returns a scratch buffer to this thread's cache. A full cache goes
    /// to the pool as a bundle first, so a thread that ends spans other
    /// threads started (an async runtime moving requests) passes their
    /// buffers back rather than freeing them while the starting threads
    /// allocate new ones.
    ///
    /// Hot path (runs per span end): no atomic except once per bundle.
    #[inline]
    fn give_buffer(&self, mut buf: SpanBuf, bufs: &Bundles<SpanBuf>) {
        if buf.capacity() > SPAN_BUFFER_RETAIN {
            return;
        }
        // Made ready for the next span where it will wait (done here, not
        // when taken, so taking one reads a buffer written long before; and
        // in place, so no fresh narrow store is read back by a wide move).
        let mut hot = self.hot.borrow_mut();
        if hot.is_none() {
            hot.insert(buf).reset_to(HEADROOM);
            return;
        }
        drop(hot);
        buf.reset_to(HEADROOM);
        let mut cache = self.buffers.borrow_mut();
        if cache.len() >= BUNDLE {
            let mut bundle = bufs.take_empty();
            std::mem::swap(&mut *cache, &mut bundle);
            bufs.give_full(bundle);
        }
        // Below one bundle now: grows only while warming up.
        cache.push(buf);
    }
}

/// This thread's log in pipeline `id`, other than the first: found, or
/// created (and the logs of pipelines that have shut down dropped).
#[cold]
fn find_or_add_log(
    logs: &mut Vec<ThreadLog>,
    id: u64,
    shared: Option<&Arc<Shared>>,
) -> Option<usize> {
    if let Some(i) = logs.iter().position(|l| l.shared.id == id) {
        return Some(i);
    }
    let shared = match shared {
        Some(s) => s.clone(),
        None => pipelines::find(id)?,
    };
    logs.retain(|l| !l.shared.finished.load(Ordering::Relaxed));
    let producer = shared.new_log();
    logs.push(ThreadLog { shared, producer });
    Some(logs.len() - 1)
}

#[cold]
fn take_bundle(cache: &mut Vec<SpanBuf>, bufs: &Bundles<SpanBuf>) -> SpanBuf {
    if let Some(mut bundle) = bufs.take_full() {
        std::mem::swap(cache, &mut bundle);
        bufs.give_empty(bundle);
        if let Some(b) = cache.pop() {
            return b;
        }
    }
    SpanBuf::with_capacity(SPAN_BUFFER_INITIAL)
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        for mut l in self.logs.get_mut().drain(..) {
            // The shedding pressure this thread has not reported yet.
            if let Some(pending) = l.producer.take_pending(1) {
                if l.shared.shed.enabled() {
                    l.shared.shed.add(pending);
                }
            }
            l.producer.finish(&l.shared.pool);
            // So the worker exports what the log holds and frees it now,
            // rather than at the next scheduled export.
            l.shared.wake.wake();
        }
    }
}

/// Queues an ended span (`body`, scope `scope`) of pipeline `pipeline` into
/// the log of the thread it ends on, or counts it dropped when the log is
/// full or the pipeline closed; the buffer goes back to this thread's
/// cache.
///
/// Hot path (runs per span): one thread-local visit, one copy into the log,
/// one release store; no allocation, no lock, no read-modify-write atomic
/// but once per chunk, no syscall but the worker's wake-up once per batch.
#[inline]
pub(super) fn end_span(pipeline: u64, body: SpanBuf, side: Vec<u8>, scope: u16) {
    let mut body = Some(body);
    let done = LOCAL.try_with(|l| {
        // `None`: the pipeline no longer exists; there is nothing left to
        // count the span in.
        let _ = l.with_log(pipeline, None, |shared, log| {
            let Some(buf) = body.take() else { return };
            if let Some(buf) = queue(shared, log, buf, scope) {
                l.give_buffer(buf, &shared.bufs);
            }
            if shared.shed.enabled() {
                // Spans it dropped no longer press.
                if let Some(d) = log.take_pending(crate::shared::shed::STEP) {
                    shared.shed.add(d);
                }
            }
            if side.capacity() != 0 {
                shared.side_pool.give(side);
            }
        });
    });
    if done.is_err() {
        // This thread's state is gone (it is exiting): the pipeline's
        // shared log for such spans takes it.
        if let (Some(shared), Some(buf)) = (pipelines::find(pipeline), body.take()) {
            shared.with_orphan_log(|log| {
                let _ = queue(&shared, log, buf, scope);
            });
        }
    }
}

/// Calls `f` with pipeline `id`'s shared state (through this thread's
/// log when it has one, else the registry). `None` when the pipeline no
/// longer exists.
pub(super) fn with_pipeline<R>(id: u64, f: impl FnOnce(&Shared) -> R) -> Option<R> {
    let mut f = Some(f);
    let local = LOCAL.try_with(|l| l.with_log(id, None, |shared, _| f.take().map(|f| f(shared))));
    match local {
        Ok(r) => r.flatten(),
        Err(_) => {
            let shared = pipelines::find(id)?;
            f.take().map(|f| f(&shared))
        }
    }
}

/// Appends the span in `buf` (its body after [`HEADROOM`]) to `log`;
/// gives the buffer back unless it went to the large-span lane.
///
/// Hot path (runs per span end): see [`end_span`].
#[inline]
fn queue(shared: &Shared, log: &mut LogProducer, mut buf: SpanBuf, scope: u16) -> Option<SpanBuf> {
    if shared.closed.load(Ordering::Acquire) {
        log.count_dropped();
        return Some(buf);
    }
    let Some(start) = frame_in_place(buf.as_mut_slice(), scope) else {
        log.count_dropped();
        return Some(buf);
    };
    match log.append(&buf.as_slice()[start..], &shared.pool) {
        Ok(0) => Some(buf),
        Ok(sealed) => {
            shared.wake.sealed(sealed);
            Some(buf)
        }
        Err(Refused::Full) => Some(buf),
        Err(Refused::TooLarge) => queue_large(shared, log, buf, scope),
    }
}

#[cold]
fn queue_large(
    shared: &Shared,
    log: &mut LogProducer,
    buf: SpanBuf,
    scope: u16,
) -> Option<SpanBuf> {
    match shared.lane.push(LargeSpan {
        body: buf,
        start: HEADROOM,
        scope,
    }) {
        Ok(()) => {
            log.count_diverted();
            shared.wake.wake();
            None
        }
        Err(span) => {
            log.count_refused_dropped();
            Some(span.body)
        }
    }
}
