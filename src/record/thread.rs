//! Each recording thread's own state: its id generator, its stripe of the
//! striped counters, its handles on the pipelines it records into, and a
//! small cache of span buffers, all in one thread-local visited once per
//! span start.
//!
//! A span holds only its pipeline's id and, when it ends, finds the handle
//! of the thread it ends on ([`with_handle`]), so starting and ending a
//! span touches no reference count (cloning the pipeline's `Arc` per span
//! would bounce one cache line between every recording thread).
//!
//! This module runs per span: it must never block, lock (except the
//! registry, once per thread and pipeline), make a syscall (except the
//! worker's wake-up, once per batch), or allocate once warm.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::codec::buf::SpanBuf;
use crate::rand::Wyrand;
use crate::shared::pool::{Bundles, BUNDLE};
use crate::shared::ring::FinishedSpan;
use crate::shared::stats;
use crate::shared::{self as pipeline_state, Shared, SPAN_BUFFER_INITIAL, SPAN_BUFFER_RETAIN};

/// Everything one thread keeps for recording.
pub(super) struct ThreadState {
    /// Ids.
    pub(super) rng: Wyrand,
    /// This thread's stripe of the striped counters.
    pub(super) stripe: usize,
    /// This thread's handles, one per pipeline it records into.
    handles: RefCell<Vec<Rc<Handle>>>,
    /// Span buffers cached for this thread (one bundle): taking one costs
    /// no atomic.
    buffers: RefCell<Vec<SpanBuf>>,
}

thread_local! {
    pub(super) static LOCAL: ThreadState = ThreadState::new();
}

impl ThreadState {
    pub(super) fn new() -> Self {
        ThreadState {
            rng: Wyrand::new(),
            stripe: stats::next_stripe(),
            handles: RefCell::new(Vec::new()),
            buffers: RefCell::new(Vec::with_capacity(BUNDLE)),
        }
    }

    /// This thread's handle on `shared`, registered on first use.
    fn handle(&self, shared: &Arc<Shared>) -> Rc<Handle> {
        let mut handles = self.handles.borrow_mut();
        if let Some(h) = handles.iter().find(|h| Arc::ptr_eq(&h.shared, shared)) {
            return h.clone();
        }
        // Forget pipelines that have shut down, so they can be freed.
        handles.retain(|h| !h.shared.closed.load(Ordering::Relaxed));
        let h = Rc::new(Handle::new(shared.clone(), self.stripe));
        handles.push(h.clone());
        h
    }

    /// Registers this thread's handle on `shared` unless it has one.
    ///
    /// Hot path (runs per span start): a scan of a list as long as the
    /// number of pipelines this thread records into (usually one).
    #[inline]
    pub(super) fn ensure_handle(&self, shared: &Arc<Shared>) {
        let known = self
            .handles
            .borrow()
            .iter()
            .any(|h| Arc::ptr_eq(&h.shared, shared));
        if !known {
            let _ = self.handle(shared);
        }
    }

    /// A span buffer: from this thread's cache, else the cache swaps itself
    /// for a full bundle from the pool, else a new buffer (warm-up only).
    ///
    /// Hot path (runs per span start): no atomic except once per bundle.
    #[inline]
    pub(super) fn take_buffer(&self, bufs: &Bundles<SpanBuf>) -> SpanBuf {
        let mut cache = self.buffers.borrow_mut();
        if let Some(b) = cache.pop() {
            return b;
        }
        if let Some(mut bundle) = bufs.take_full() {
            std::mem::swap(&mut *cache, &mut bundle);
            bufs.give_empty(bundle);
            if let Some(b) = cache.pop() {
                return b;
            }
        }
        SpanBuf::with_capacity(SPAN_BUFFER_INITIAL)
    }
}

/// Calls `f` with this thread's handle on pipeline `id`: the thread's own
/// handle when it has one (the common case: a lookup in a short
/// thread-local list, no reference count touched), else a handle
/// registered now, else (the thread is exiting) a temporary one. `None`
/// when the pipeline no longer exists.
#[inline]
pub(super) fn with_handle<R>(id: u64, f: impl FnOnce(&Handle) -> R) -> Option<R> {
    let mut f = Some(f);
    let local = LOCAL.try_with(|l| {
        {
            let handles = l.handles.borrow();
            if let Some(h) = handles.iter().find(|h| h.shared.id == id) {
                return f.take().map(|f| f(h));
            }
        }
        let shared = pipeline_state::find(id)?;
        let h = l.handle(&shared);
        f.take().map(|f| f(&h))
    });
    match local {
        Ok(r) => r,
        // This thread's state is gone (it is exiting).
        Err(_) => {
            let shared = pipeline_state::find(id)?;
            f.take().map(|f| f(&Handle::new(shared, 0)))
        }
    }
}

/// Returns a span buffer that never reached the worker (queue full, pipeline
/// closed) to this thread's cache. A full cache goes to the pool as a
/// bundle first, so a thread that ends spans other threads started (an
/// async runtime moving requests) passes their buffers back rather than
/// freeing them while the starting threads allocate new ones.
fn give_buffer(mut buf: SpanBuf, bufs: &Bundles<SpanBuf>) {
    if buf.capacity() > SPAN_BUFFER_RETAIN {
        return;
    }
    buf.clear();
    let _ = LOCAL.try_with(|l| {
        let mut cache = l.buffers.borrow_mut();
        if cache.len() >= BUNDLE {
            let mut bundle = bufs.take_empty();
            std::mem::swap(&mut *cache, &mut bundle);
            bufs.give_full(bundle);
        }
        // Never grow the cache: no allocation on this path.
        if cache.len() < cache.capacity() {
            cache.push(buf);
        }
    });
}

/// A thread's handle on a pipeline, kept in the thread's state.
pub(super) struct Handle {
    pub(super) shared: Arc<Shared>,
    stripe: usize,
    /// Pushes through this handle, to check the ring's fill every 32nd.
    pushes: Cell<u32>,
}

impl Handle {
    fn new(shared: Arc<Shared>, stripe: usize) -> Self {
        Handle {
            shared,
            stripe,
            pushes: Cell::new(0),
        }
    }

    /// Queues an ended span's encoded body for export, or counts it
    /// dropped when the ring is full or the pipeline closed.
    ///
    /// Hot path (runs per span): one striped counter add, one lock-free
    /// push; no allocation, no lock, no syscall except the worker's
    /// wake-up once per batch.
    #[inline]
    pub(super) fn queue(&self, body: SpanBuf, scope: u16) {
        let shared = &*self.shared;
        // Counted before it can reach any outcome (see `stats`).
        shared.counters.recorded.add_at(self.stripe, 1);
        if shared.closed.load(Ordering::Acquire) {
            shared.counters.dropped.fetch_add(1, Ordering::Release);
            give_buffer(body, &shared.bufs);
            return;
        }
        let pushes = self.pushes.get().wrapping_add(1);
        self.pushes.set(pushes);
        match shared
            .ring
            .push(FinishedSpan { body, scope }, pushes % 32 == 0)
        {
            Ok(()) => {
                // Closed while we pushed: the worker may have swept
                // already, so take one span back out and count it dropped.
                if shared.closed.load(Ordering::Acquire) {
                    if let Some(s) = shared.ring.pop() {
                        shared.counters.dropped.fetch_add(1, Ordering::Release);
                        give_buffer(s.body, &shared.bufs);
                    }
                }
            }
            Err(span) => {
                shared.counters.dropped.fetch_add(1, Ordering::Release);
                give_buffer(span.body, &shared.bufs);
            }
        }
    }
}
