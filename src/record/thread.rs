//! Each recording thread's own state: its id generator, its span log in
//! each pipeline it records into, and a small cache of pooled
//! [`Recording`]s (each with a buffer for spans not written in place), all
//! in one thread-local; bundles of recordings move between threads through
//! one process-wide spare list.
//!
//! A span starts in a slot of its thread's log ([`ThreadState::begin_slot`])
//! and holds only its pipeline's id; when it ends ([`end_span`]) it is
//! published in place, or, when it is not in place, appended to the log of
//! the thread it ends on. Starting and ending a span touches no shared
//! cache line but the log's own, and no reference count but that of a
//! request's own trace state, when its upstream sent one (the constant
//! states every root of a pipeline may carry are interned: see
//! `TraceState`). When the thread exits,
//! its logs are marked finished: the worker exports what they hold and
//! frees them.
//!
//! This module runs per span: it must never block, lock (except the
//! pipeline's registry, once per thread and pipeline), make a syscall
//! (except the worker's wake-up, about once per batch), or allocate once
//! warm.

use std::cell::{Cell, RefCell, RefMut};
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use super::recording::Recording;

use crate::codec::buf::SpanBuf;
use crate::pool::{Bundles, BUNDLE};
use crate::rand::Wyrand;
use crate::shared::{self as pipelines, Shared, SPAN_BUFFER_INITIAL, SPAN_BUFFER_RETAIN};
use crate::span_log::lane::LargeSpan;
use crate::span_log::{LogProducer, PartOne, Refused, SlotWriter};

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
    /// The recording (with its buffer) the last span on this thread gave
    /// back, ready, kept right here: most spans take it.
    /// A `Cell`: taking it and putting one back are a load and a store,
    /// no borrow flag to check and set.
    hot: Cell<Option<Box<Recording>>>,
    /// More recordings cached for this thread (at most one bundle): taking
    /// one costs no atomic. Boxed on purpose: a span holds its recording
    /// by pointer, and the box itself is what is reused.
    #[allow(clippy::vec_box)]
    buffers: RefCell<Vec<Box<Recording>>>,
}

thread_local! {
    pub(super) static LOCAL: ThreadState = const { ThreadState::new() };
}

impl ThreadState {
    pub(super) const fn new() -> Self {
        ThreadState {
            rng: Wyrand::unseeded(),
            logs: RefCell::new(Vec::new()),
            hot: Cell::new(None),
            buffers: RefCell::new(Vec::new()),
        }
    }

    /// This thread's logs, borrowed, its log in pipeline `id` first,
    /// creating it on first use (`shared` spares the registry lookup when
    /// the caller has the pipeline at hand). `None` when the pipeline no
    /// longer exists.
    ///
    /// Hot path (runs per span start and end): a look at the first entry
    /// of a list as long as the number of pipelines this thread records
    /// into (usually one), the one it recorded into last first. A function,
    /// not a closure taken by one: the compiler inlines it where it would
    /// leave such a closure out of line (a call, its prologue and epilogue
    /// per span).
    #[inline(always)]
    fn logs_for(
        &self,
        id: u64,
        shared: Option<&Arc<Shared>>,
    ) -> Option<RefMut<'_, Vec<ThreadLog>>> {
        let mut logs = self.logs.borrow_mut();
        if logs.first().is_none_or(|l| l.shared.id != id) {
            to_front(&mut logs, id, shared)?;
        }
        Some(logs)
    }

    /// Calls `f` with this thread's log in pipeline `id` (see
    /// [`ThreadState::logs_for`]).
    #[inline(always)]
    fn with_log<R>(
        &self,
        id: u64,
        shared: Option<&Arc<Shared>>,
        f: impl FnOnce(&Shared, &mut LogProducer) -> R,
    ) -> Option<R> {
        let mut logs = self.logs_for(id, shared)?;
        let l = logs.first_mut()?;
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

    /// Begins a slot for a kept span of `shared` in this thread's log (a
    /// new chunk when the current one is full, waking the worker when a
    /// batch waits), its writer into `into`, counting its start in the
    /// shedding pressure when shedding is on. No writer when no chunk is
    /// free or enough spans are in place already (the span is written in
    /// its own buffer).
    ///
    /// Hot path (runs per sampled span start): the log lookup, a few stores
    /// and one release store; one read-modify-write per
    /// [`STEP`](crate::shed::STEP) spans while shedding is on, and per
    /// chunk.
    #[inline(always)]
    pub(super) fn begin_slot(
        &self,
        shared: &Arc<Shared>,
        scope: u16,
        into: &mut Option<SlotWriter>,
    ) {
        let Some(mut logs) = self.logs_for(shared.id, Some(shared)) else {
            return;
        };
        let Some(ThreadLog {
            shared,
            producer: log,
        }) = logs.first_mut()
        else {
            return;
        };
        if shared.shed.enabled() {
            if let Some(d) = log.count_started() {
                shared.shed.add(d);
            }
        }
        let sealed = log.begin(scope, &shared.pool, into);
        if sealed > 0 {
            shared.wake.sealed(sealed);
        }
    }

    /// A recording with an empty buffer: from this thread's cache, else the
    /// cache swaps itself for a full bundle from the process's spare
    /// recordings, else a new one around a buffer from `bufs` (warm-up
    /// only).
    ///
    /// Hot path (runs per span start): no atomic except once per bundle.
    #[inline]
    pub(super) fn take_recording(&self, bufs: &Bundles<SpanBuf>) -> Box<Recording> {
        if let Some(r) = self.hot.take() {
            return r;
        }
        let mut cache = self.buffers.borrow_mut();
        let r = match cache.pop() {
            Some(r) => r,
            None => take_bundle(&mut cache, bufs),
        };
        // Recordings wait emptied (`give_recording`); a new one is empty.
        debug_assert!(r.buf.is_empty(), "a pooled recording kept its bytes");
        r
    }

    /// Returns a recording to this thread's cache, its buffer ready for the
    /// next span. A full cache goes to the process's spare recordings as a
    /// bundle first, so a thread that ends spans other threads started (an
    /// async runtime moving requests) passes their recordings back rather
    /// than freeing them while the starting threads allocate new ones.
    ///
    /// Hot path (runs per span end): no atomic except once per bundle.
    #[inline]
    fn give_recording(&self, mut r: Box<Recording>) {
        if !(1..=SPAN_BUFFER_RETAIN).contains(&r.buf.capacity()) {
            // Rare: the span was too big for its buffer to be kept, or its
            // buffer went to the large-span lane.
            r.buf = SpanBuf::with_capacity(SPAN_BUFFER_INITIAL);
        }
        r.buf.clear();
        // The hot one is nearly always empty here (the span took it).
        let Some(r) = self.hot.replace(Some(r)) else {
            return;
        };
        let mut cache = self.buffers.borrow_mut();
        if cache.len() >= BUNDLE {
            let spare = spare();
            let mut bundle = spare.take_empty();
            std::mem::swap(&mut *cache, &mut bundle);
            spare.give_full(bundle);
        }
        // Below one bundle now: grows only while warming up.
        cache.push(r);
    }
}

/// Recordings between threads, in bundles: one set for the process (a
/// recording is not tied to a pipeline). At most 64 bundles wait; more
/// are freed.
fn spare() -> &'static Bundles<Box<Recording>> {
    static SPARE: OnceLock<Bundles<Box<Recording>>> = OnceLock::new();
    SPARE.get_or_init(|| Bundles::new(64))
}

/// Puts this thread's log in pipeline `id`, not the first, first: found,
/// or created (and the logs of pipelines that have shut down dropped).
/// `None` when it has none and the pipeline no longer exists.
///
/// Runs when a thread records into another pipeline than its last: so a
/// thread that moves from one pipeline to another pays for the search
/// once, not on every span.
#[cold]
fn to_front(logs: &mut Vec<ThreadLog>, id: u64, shared: Option<&Arc<Shared>>) -> Option<()> {
    let i = match logs.iter().position(|l| l.shared.id == id) {
        Some(i) => i,
        None => {
            let shared = match shared {
                Some(s) => s.clone(),
                None => pipelines::find(id)?,
            };
            logs.retain(|l| !l.shared.finished.load(Ordering::Relaxed));
            let producer = shared.new_log();
            logs.push(ThreadLog { shared, producer });
            logs.len() - 1
        }
    };
    logs.swap(0, i);
    Some(())
}

#[cold]
#[allow(clippy::vec_box)] // the boxes are what is pooled (see `buffers`)
fn take_bundle(cache: &mut Vec<Box<Recording>>, bufs: &Bundles<SpanBuf>) -> Box<Recording> {
    let spare = spare();
    if let Some(mut bundle) = spare.take_full() {
        std::mem::swap(cache, &mut bundle);
        spare.give_empty(bundle);
        if let Some(r) = cache.pop() {
            return r;
        }
    }
    // Warming up: new recordings around a bundle of the pipeline's
    // (preallocated) buffers, or one new buffer.
    if let Some(mut buffers) = bufs.take_full() {
        if let Some(first) = buffers.pop() {
            cache.extend(buffers.drain(..).map(|b| Box::new(Recording::new(b))));
            bufs.give_empty(buffers);
            return Box::new(Recording::new(first));
        }
        bufs.give_empty(buffers);
    }
    Box::new(Recording::new(SpanBuf::with_capacity(SPAN_BUFFER_INITIAL)))
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

/// Publishes an ended span (its recording, `rec`): in place, in its slot;
/// otherwise into the log of the thread it ends on (the whole span, or the
/// rest of a split one); or counts it dropped when there is no room or the
/// pipeline closed. The recording goes back to this thread's cache.
///
/// Hot path (runs per span): one thread-local visit and, in place, one
/// plain store and one release store (not in place: one copy into the
/// log); no allocation, no lock, no read-modify-write atomic but once per
/// chunk, no syscall but the worker's wake-up once per batch.
#[inline]
pub(super) fn end_span(rec: Box<Recording>) {
    let pipeline = rec.pipeline;
    let mut rec = Some(rec);
    let done = LOCAL.try_with(|l| {
        // `None`: the pipeline no longer exists; there is nothing left to
        // count the span in.
        let _ = l.with_log(pipeline, None, |shared, log| {
            let Some(mut r) = rec.take() else { return };
            publish(shared, log, &mut r);
            if shared.shed.enabled() {
                // Spans it dropped no longer press.
                if let Some(d) = log.take_pending(crate::shed::STEP) {
                    shared.shed.add(d);
                }
            }
            if r.side.capacity() != 0 {
                shared.side_pool.give(std::mem::take(&mut r.side));
            }
            l.give_recording(r);
        });
    });
    if done.is_err() {
        // This thread's state is gone (it is exiting): the pipeline's
        // shared log for such spans takes it.
        if let (Some(shared), Some(mut r)) = (pipelines::find(pipeline), rec.take()) {
            shared.with_orphan_log(|log| publish(&shared, log, &mut r));
        }
    }
}

/// Publishes the ended span `r` (see [`end_span`]) into `log`, the log of
/// the thread it ends on.
///
/// Hot path (runs per span end): nearly every span is in place, at home,
/// its pipeline open: one count and the slot's release store, inline;
/// everything else is [`publish_rest`]'s.
#[inline(always)]
fn publish(shared: &Shared, log: &mut LogProducer, r: &mut Recording) {
    if !shared.closed.load(Ordering::Acquire) {
        if let Some(w) = r.slot.take_if(|w| w.is_home()) {
            return publish_at_home(log, w);
        }
    }
    publish_rest(shared, log, r);
}

/// Publishes a span in its slot, at home: counted, then one release store.
#[inline(always)]
fn publish_at_home(log: &mut LogProducer, w: SlotWriter) {
    // Counted before anyone can take it (see `stats`).
    log.count_recorded();
    if let Err(w) = w.finish() {
        lost_at_home(log, w);
    }
}

/// A slot that refused to be published at home: cannot happen (its home
/// was checked just before); dropped, counted.
#[cold]
fn lost_at_home(log: &mut LogProducer, w: SlotWriter) {
    debug_assert!(false, "a slot left home while published");
    let _ = w.abandon();
    log.count_refused_dropped();
}

/// [`publish`] for the rest: the pipeline closed, the span not in place
/// (its own buffer), split, or moved away from its slot's home.
#[inline(never)]
fn publish_rest(shared: &Shared, log: &mut LogProducer, r: &mut Recording) {
    if shared.closed.load(Ordering::Acquire) {
        log.count_dropped();
        // Nothing of it is exported: an open slot is emptied (a split
        // span's part one is dropped by the worker in time).
        if let Some(w) = r.slot.take() {
            let _ = w.move_out(|_| {});
        }
        r.part = None;
        return;
    }
    if let Some(w) = r.slot.take() {
        if w.is_home() {
            return publish_at_home(log, w);
        }
        // Its home changed since the span settled (this thread let a chunk
        // go as the span ended): what it wrote is part one, the rest empty.
        r.buf.clear();
        r.part = Some(w.abandon());
    }
    match r.part.take() {
        None => queue(shared, log, &mut r.buf, r.scope),
        Some(part) => queue_cont(shared, log, part, &mut r.buf, r.scope),
    }
}

/// Grows `w`'s slot by `n` bytes in this thread's log of `pipeline`, when
/// the slot is its chunk's last (a span outgrowing its slot); `false`
/// otherwise.
pub(super) fn extend_slot(pipeline: u64, w: &mut SlotWriter, n: usize) -> bool {
    LOCAL
        .try_with(|l| l.with_log(pipeline, None, |_, log| log.extend(w, n)))
        .ok()
        .flatten()
        .unwrap_or(false)
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

/// Appends the whole span in `buf` to `log`; a span larger than a chunk
/// goes to the large-span lane, taking the buffer with it (`buf` is left
/// empty).
///
/// Runs per span not written in place: one copy.
#[inline]
fn queue(shared: &Shared, log: &mut LogProducer, buf: &mut SpanBuf, scope: u16) {
    match log.append(buf.as_slice(), scope, &shared.pool) {
        Ok(0) | Err(Refused::Full) => {}
        Ok(sealed) => shared.wake.sealed(sealed),
        Err(Refused::TooLarge) => queue_large(shared, log, buf, scope, None),
    }
}

/// Appends the rest of a split span (in `buf`) to `log`, naming its part
/// one (`part`).
fn queue_cont(
    shared: &Shared,
    log: &mut LogProducer,
    part: PartOne,
    buf: &mut SpanBuf,
    scope: u16,
) {
    match log.append_cont(part, buf.as_slice(), scope, &shared.pool) {
        Ok(0) | Err((Refused::Full, _)) => {}
        Ok(sealed) => shared.wake.sealed(sealed),
        Err((Refused::TooLarge, part)) => queue_large(shared, log, buf, scope, Some(part)),
    }
}

#[cold]
fn queue_large(
    shared: &Shared,
    log: &mut LogProducer,
    buf: &mut SpanBuf,
    scope: u16,
    part: Option<PartOne>,
) {
    match shared.lane.push(LargeSpan {
        body: std::mem::take(buf),
        scope,
        part,
    }) {
        Ok(()) => {
            log.count_diverted();
            shared.wake.wake();
        }
        Err(span) => {
            log.count_refused_dropped();
            *buf = span.body;
        }
    }
}
