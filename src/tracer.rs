//! The proxy-facing recording API: [`Tracer`] starts [`Span`]s; a span
//! encodes its fields straight into a pooled buffer as they are set, and on
//! `end` (or drop) goes into the ring for the export worker.
//!
//! What one proxy-shaped span costs (see `BENCHMARKS.md`): two time-stamp
//! counter reads, two random ids, a pooled buffer, the bytes of its fields,
//! and one lock-free push. No allocation in the steady state, no lock, no
//! syscall, no waiting: when the ring is full the span is dropped and
//! counted. An unsampled span is only a context: no clock, no buffer, no
//! queueing, but its context still propagates.
//!
//! This module must never block, do I/O, or allocate per span once warm.
//!
//! ```no_run
//! use tracewire::span::{SpanKind, Status};
//!
//! # fn handle(tracer: &tracewire::Tracer, headers: &http::HeaderMap) {
//! let parent = tracewire::propagation::extract_from_headers(headers);
//! let mut server = tracer.start_with_parent("GET /users/{id}", SpanKind::Server, parent.as_ref());
//! server.set_str("http.request.method", "GET");
//! server.set_i64("http.response.status_code", 502);
//! server.set_status(Status::error("upstream refused the connection"));
//! server.end();
//! # }
//! ```

use std::cell::{Cell, RefCell};
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use crate::clock;
use crate::encode::buf::SpanBuf;
use crate::encode::otlp::{
    patch_end_time, put_event, put_i64_kv, put_kv_span, put_link, put_span_end, put_span_start,
    put_str_kv, replace_span_name, EncodeValue, EncodedScope, LinkTarget, SpanEnd, SpanStart,
    SpanStartLayout, MAX_VALUE_DEPTH,
};
use crate::pool::{Bundles, Pool, Returner, BUNDLE};
use crate::ring::{FinishedSpan, Ring};
use crate::sampling::Sampler;
use crate::span::{
    InstrumentationScope, SpanContext, SpanId, SpanKind, SpanLimits, Status, StatusCode,
    TraceFlags, TraceId, TraceState, ValueRef,
};
use crate::stats::{self, Counters};

/// `Span.attributes` field number.
const ATTRIBUTES: u32 = crate::encode::otlp::field::span::ATTRIBUTES;

/// The `random` trace flag of W3C Trace Context Level 2, kept from a parent.
const RANDOM_FLAG: u8 = 0x02;

/// What a pipeline's tracers and spans share.
pub(crate) struct Shared {
    /// This pipeline's id in [`PIPELINES`].
    id: u64,
    pub(crate) ring: Ring,
    /// Span buffers, in bundles of sixteen.
    pub(crate) bufs: Bundles<SpanBuf>,
    /// Buffers for span events and links (rare): one at a time.
    pub(crate) side_pool: Pool<Vec<u8>>,
    pub(crate) counters: Counters,
    pub(crate) sampler: Sampler,
    pub(crate) limits: SpanLimits,
    /// Set when the pipeline shuts down: later spans are dropped and counted.
    pub(crate) closed: AtomicBool,
    ring_capacity: usize,
    /// Instrumentation scopes, indexed by `FinishedSpan::scope`.
    pub(crate) scopes: Mutex<Vec<(InstrumentationScope, Arc<EncodedScope>)>>,
    /// Encoded scopes, published for the worker.
    pub(crate) scope_version: AtomicU64,
}

impl Shared {
    pub(crate) fn new(capacity: usize, batch: usize, sampler: Sampler, limits: SpanLimits) -> Self {
        Shared {
            id: NEXT_PIPELINE.fetch_add(1, Ordering::Relaxed),
            ring: Ring::new(capacity, batch),
            // Buffers in the ring, plus one batch being encoded, plus those
            // being recorded; anything beyond is freed.
            bufs: Bundles::new((capacity + batch + 256).div_ceil(BUNDLE) + 4),
            side_pool: Pool::new(256, SPAN_BUFFER_RETAIN, Vec::new),
            counters: Counters::new(),
            sampler,
            limits,
            closed: AtomicBool::new(false),
            ring_capacity: capacity,
            scopes: Mutex::new(Vec::new()),
            scope_version: AtomicU64::new(0),
        }
    }

    /// Fills the buffer pool: one span buffer per queue slot, plus a batch.
    pub(crate) fn preallocate(&self) {
        let bundles = (self.ring_capacity + self.ring.wake_at() + 64).div_ceil(BUNDLE);
        for _ in 0..bundles.min(self.bufs.slots()) {
            let mut bundle = self.bufs.take_empty();
            bundle.extend((0..BUNDLE).map(|_| SpanBuf::with_capacity(SPAN_BUFFER_INITIAL)));
            self.bufs.give_full(bundle);
        }
    }

    /// Makes the pipeline findable by its id, so spans need not hold a
    /// reference count on it (see [`with_handle`]).
    pub(crate) fn register(self: &Arc<Self>) {
        let mut all = lock(&PIPELINES);
        // Forget pipelines that are gone.
        all.retain(|(_, w)| w.strong_count() > 0);
        all.push((self.id, Arc::downgrade(self)));
    }

    /// The index of `scope`, registering it on first use.
    pub(crate) fn scope_index(&self, scope: InstrumentationScope) -> u16 {
        let mut scopes = lock(&self.scopes);
        if let Some(i) = scopes.iter().position(|(s, _)| *s == scope) {
            return i as u16;
        }
        if scopes.len() >= usize::from(u16::MAX) {
            // Absurdly many scopes: share the last one rather than fail.
            return u16::MAX - 1;
        }
        let encoded = Arc::new(EncodedScope::new(&scope));
        scopes.push((scope, encoded));
        self.scope_version.fetch_add(1, Ordering::Release);
        (scopes.len() - 1) as u16
    }
}

/// Every pipeline, by id: how a span finds its pipeline when it ends on a
/// thread that has not recorded into that pipeline before (rare).
static PIPELINES: Mutex<Vec<(u64, Weak<Shared>)>> = Mutex::new(Vec::new());
static NEXT_PIPELINE: AtomicU64 = AtomicU64::new(1);

/// Locks `m`, recovering from poisoning (nothing here panics while holding
/// a lock, and the state it guards is valid at every step).
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The live pipeline with id `id`, from the registry (slow path).
fn find_pipeline(id: u64) -> Option<Arc<Shared>> {
    let all = lock(&PIPELINES);
    all.iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, w)| w.upgrade())
}

/// Calls `f` with pipeline `id`'s state and this thread's handle on it:
/// the thread's own handle when it has one (the common case: a lookup in a
/// short thread-local list, no reference count touched), else a handle
/// registered now, else (the thread is exiting) a temporary one. `None`
/// when the pipeline no longer exists.
#[inline]
fn with_handle<R>(id: u64, f: impl FnOnce(&Handle) -> R) -> Option<R> {
    let mut f = Some(f);
    let local = LOCAL.try_with(|l| {
        {
            let handles = l.handles.borrow();
            if let Some(h) = handles.iter().find(|h| h.shared.id == id) {
                return f.take().map(|f| f(h));
            }
        }
        let shared = find_pipeline(id)?;
        let h = l.handle(&shared);
        f.take().map(|f| f(&h))
    });
    match local {
        Ok(r) => r,
        // This thread's state is gone (it is exiting).
        Err(_) => {
            let shared = find_pipeline(id)?;
            f.take().map(|f| f(&Handle::new(shared, 0)))
        }
    }
}

/// A new span buffer's capacity: a proxy span with 8 attributes is ~330 bytes.
const SPAN_BUFFER_INITIAL: usize = 512;
/// Span buffers that grew past this are freed rather than pooled.
pub(crate) const SPAN_BUFFER_RETAIN: usize = 16 * 1024;

/// Everything one thread keeps for recording, in one thread-local, visited
/// once per span start.
struct ThreadState {
    /// wyrand state for ids.
    rng: Cell<u64>,
    /// This thread's stripe of the striped counters.
    stripe: usize,
    /// This thread's handles, one per pipeline it records into.
    handles: RefCell<Vec<Rc<Handle>>>,
    /// Span buffers cached for this thread (one bundle): taking one costs
    /// no atomic.
    buffers: RefCell<Vec<SpanBuf>>,
}

thread_local! {
    static LOCAL: ThreadState = ThreadState::new();
}

impl ThreadState {
    fn new() -> Self {
        ThreadState {
            rng: Cell::new(seed()),
            stripe: stats::next_stripe(),
            handles: RefCell::new(Vec::new()),
            buffers: RefCell::new(Vec::with_capacity(BUNDLE)),
        }
    }

    /// wyrand: a fast, well-distributed 64-bit generator.
    #[inline]
    fn next_u64(&self) -> u64 {
        let x = self.rng.get().wrapping_add(0xa076_1d64_78bd_642f);
        self.rng.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    }

    #[inline]
    fn trace_id(&self) -> TraceId {
        loop {
            let v = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
            if v != 0 {
                return TraceId::from_u128(v);
            }
        }
    }

    #[inline]
    fn span_id(&self) -> SpanId {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return SpanId::from_u64(v);
            }
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
    fn ensure_handle(&self, shared: &Arc<Shared>) {
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
    #[inline]
    fn take_buffer(&self, bufs: &Bundles<SpanBuf>) -> SpanBuf {
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

/// Collects span buffers returned by the export worker into bundles.
pub(crate) type BufReturner = Returner<SpanBuf>;

/// A thread's handle on a pipeline, kept in the thread's state. A span
/// holds only its pipeline's id and finds the handle of the thread it ends
/// on, so starting and ending a span touches no reference count (cloning
/// the pipeline's `Arc` per span would bounce one cache line between every
/// recording thread, and even a per-thread `Arc` costs two atomic
/// operations per span).
pub(crate) struct Handle {
    shared: Arc<Shared>,
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
    fn queue(&self, body: SpanBuf, scope: u16) {
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

fn seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u64(clock::now_unix_nanos());
    h.finish()
}

/// A random number from this thread's generator (for jitter).
pub(crate) fn random_u64() -> u64 {
    LOCAL
        .try_with(ThreadState::next_u64)
        .unwrap_or_else(|_| seed())
}

/// A random, valid (non-zero) trace id from this thread's generator.
pub fn random_trace_id() -> TraceId {
    LOCAL
        .try_with(ThreadState::trace_id)
        .unwrap_or_else(|_| ThreadState::new().trace_id())
}

/// A random, valid (non-zero) span id from this thread's generator.
pub fn random_span_id() -> SpanId {
    LOCAL
        .try_with(ThreadState::span_id)
        .unwrap_or_else(|_| ThreadState::new().span_id())
}

// ---------------------------------------------------------------------------
// Tracer
// ---------------------------------------------------------------------------

/// Starts spans. Cheap to clone, `Send + Sync`; get one from
/// [`crate::Pipeline::tracer`].
#[derive(Clone)]
pub struct Tracer {
    shared: Arc<Shared>,
    scope: u16,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("scope", &self.scope)
            .finish()
    }
}

impl Tracer {
    pub(crate) fn new(shared: Arc<Shared>, scope: u16) -> Self {
        Tracer { shared, scope }
    }

    /// Starts a root span (a new trace, unless the sampler says otherwise).
    ///
    /// Hot path: see the module docs.
    #[inline]
    pub fn start(&self, name: &str, kind: SpanKind) -> Span {
        self.start_inner(name, kind, None, None)
    }

    /// Starts a span under `parent` (a remote context from
    /// [`crate::propagation::extract`], or a local span's
    /// [`Span::context`]); with `None`, a root span.
    #[inline]
    pub fn start_with_parent(
        &self,
        name: &str,
        kind: SpanKind,
        parent: Option<&SpanContext>,
    ) -> Span {
        self.start_inner(name, kind, parent, None)
    }

    /// A builder for spans that need links at creation or an explicit start
    /// time.
    ///
    /// ```no_run
    /// # fn f(tracer: &tracewire::Tracer, other: &tracewire::span::SpanContext) {
    /// use tracewire::span::SpanKind;
    /// let span = tracer
    ///     .span_builder("batch")
    ///     .kind(SpanKind::Consumer)
    ///     .link(other, &[("messaging.batch.index", 3i64.into())])
    ///     .start();
    /// # }
    /// ```
    pub fn span_builder<'a>(&'a self, name: &'a str) -> SpanBuilder<'a> {
        SpanBuilder {
            tracer: self,
            name,
            kind: SpanKind::Internal,
            parent: None,
            start_time: None,
            links: Vec::new(),
        }
    }

    #[inline]
    fn start_inner(
        &self,
        name: &str,
        kind: SpanKind,
        parent: Option<&SpanContext>,
        start_time: Option<u64>,
    ) -> Span {
        let parent = parent.filter(|p| p.is_valid());
        // One visit to this thread's state: ids, sampling, handle, buffer.
        let started = LOCAL.try_with(|l| self.begin(l, name, kind, parent, start_time));
        match started {
            Ok(span) => span,
            Err(_) => self.begin(&ThreadState::new(), name, kind, parent, start_time),
        }
    }

    #[inline(always)]
    fn begin(
        &self,
        l: &ThreadState,
        name: &str,
        kind: SpanKind,
        parent: Option<&SpanContext>,
        start_time: Option<u64>,
    ) -> Span {
        let shared = &*self.shared;
        let trace_id = match parent {
            Some(p) => p.trace_id(),
            None => l.trace_id(),
        };
        let span_id = l.span_id();
        let sampled = shared.sampler.should_sample(parent, &trace_id);
        let inherited = parent.map_or(0, |p| p.trace_flags().bits() & RANDOM_FLAG);
        let flags = TraceFlags::new(inherited).with_sampled(sampled);
        let trace_state = parent.map_or(TraceState::EMPTY, |p| p.trace_state().clone());
        let ctx = SpanContext::new(trace_id, span_id, flags, false, trace_state);
        if !sampled {
            shared.counters.sampled_out.add_at(l.stripe, 1);
            return Span { ctx, rec: None };
        }
        let parent_remote = parent.is_some_and(SpanContext::is_remote);
        let parent_id = parent.map(SpanContext::span_id);
        l.ensure_handle(&self.shared);
        let mut buf = l.take_buffer(&shared.bufs);
        let start = start_time.unwrap_or_else(clock::now_unix_nanos);
        let layout = put_span_start(
            &mut buf,
            &SpanStart {
                trace_id: &trace_id,
                span_id: &span_id,
                trace_state: ctx.trace_state().as_str(),
                parent_span_id: parent_id.as_ref(),
                name,
                kind,
                start_time_unix_nano: start,
            },
        );
        Span {
            ctx,
            rec: Some(Recording {
                pipeline: shared.id,
                buf,
                side: Vec::new(),
                events_end: 0,
                layout,
                attributes: 0,
                dropped_attributes: 0,
                event_count: 0,
                dropped_events: 0,
                link_count: 0,
                dropped_links: 0,
                max_attributes: shared.limits.max_attributes_per_span,
                value_limit: shared.limits.max_attribute_value_length.unwrap_or(u32::MAX),
                flags: u32::from(flags.bits()) | 0x100 | if parent_remote { 0x200 } else { 0 },
                scope: self.scope,
                status: None,
            }),
        }
    }
}

/// Options for a span that [`Tracer::start`] does not cover.
pub struct SpanBuilder<'a> {
    tracer: &'a Tracer,
    name: &'a str,
    kind: SpanKind,
    parent: Option<&'a SpanContext>,
    start_time: Option<u64>,
    links: Vec<(&'a SpanContext, &'a [(&'a str, ValueRef<'a>)])>,
}

impl<'a> SpanBuilder<'a> {
    /// The span's kind (default `Internal`).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// The parent context.
    pub fn parent(mut self, parent: &'a SpanContext) -> Self {
        self.parent = Some(parent);
        self
    }

    /// An explicit start time.
    pub fn start_time(mut self, t: SystemTime) -> Self {
        self.start_time = Some(clock::to_unix_nanos(t));
        self
    }

    /// Adds a link (available to the sampler's caller at creation, as
    /// OpenTelemetry recommends).
    pub fn link(mut self, ctx: &'a SpanContext, attributes: &'a [(&'a str, ValueRef<'a>)]) -> Self {
        self.links.push((ctx, attributes));
        self
    }

    /// Starts the span.
    pub fn start(self) -> Span {
        let mut span = self
            .tracer
            .start_inner(self.name, self.kind, self.parent, self.start_time);
        for (ctx, attrs) in self.links {
            span.add_link(ctx, attrs);
        }
        span
    }
}

// ---------------------------------------------------------------------------
// Span
// ---------------------------------------------------------------------------

struct Recording {
    /// The pipeline's id: see [`with_handle`].
    pipeline: u64,
    buf: SpanBuf,
    /// Encoded `Span.events` fields, then encoded `Span.links` fields, each
    /// in order (a pooled buffer, taken on first use).
    side: Vec<u8>,
    /// Where the events end and the links begin in `side`.
    events_end: u32,
    layout: SpanStartLayout,
    attributes: u32,
    dropped_attributes: u32,
    event_count: u32,
    dropped_events: u32,
    link_count: u32,
    dropped_links: u32,
    /// Copied from the pipeline's limits at start, for the setters' fast path.
    max_attributes: u32,
    value_limit: u32,
    flags: u32,
    scope: u16,
    status: Option<Status>,
}

/// A span being recorded. Ends on [`Span::end`] or when dropped.
///
/// Every setter is a no-op on a span that is not sampled; its
/// [`context`](Span::context) still propagates.
///
/// Attributes are encoded as they are set, in order, and not de-duplicated
/// (as in the OpenTelemetry Rust SDK): set each key once.
pub struct Span {
    ctx: SpanContext,
    rec: Option<Recording>,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Span")
            .field("context", &self.ctx)
            .field("recording", &self.rec.is_some())
            .finish()
    }
}

impl Span {
    /// A span that records nothing and has an invalid context (for code
    /// paths where tracing is off).
    pub fn noop() -> Span {
        Span {
            ctx: SpanContext::default(),
            rec: None,
        }
    }

    /// This span's context: what children and upstream requests inherit.
    pub fn context(&self) -> &SpanContext {
        &self.ctx
    }

    /// Whether the span is sampled and not yet ended.
    pub fn is_recording(&self) -> bool {
        self.rec.is_some()
    }

    /// Sets a string attribute.
    ///
    /// Hot path: copies `key` and `value` into the span's buffer once.
    #[inline(always)]
    pub fn set_str(&mut self, key: &str, value: &str) {
        if let Some(r) = self.rec.as_mut() {
            if r.admit_attribute() {
                put_str_kv(&mut r.buf, ATTRIBUTES, key, value, r.value_limit as usize);
            }
        }
    }

    /// Sets an integer attribute.
    #[inline(always)]
    pub fn set_i64(&mut self, key: &str, value: i64) {
        if let Some(r) = self.rec.as_mut() {
            if r.admit_attribute() {
                put_i64_kv(&mut r.buf, ATTRIBUTES, key, value);
            }
        }
    }

    /// Sets a double attribute.
    #[inline]
    pub fn set_f64(&mut self, key: &str, value: f64) {
        self.set_attribute(key, ValueRef::F64(value));
    }

    /// Sets a boolean attribute.
    #[inline]
    pub fn set_bool(&mut self, key: &str, value: bool) {
        self.set_attribute(key, ValueRef::Bool(value));
    }

    /// Sets a bytes attribute.
    #[inline]
    pub fn set_bytes(&mut self, key: &str, value: &[u8]) {
        self.set_attribute(key, ValueRef::Bytes(value));
    }

    /// Sets an attribute of any type: strings, numbers, booleans, bytes,
    /// arrays, nested key-value lists, or an owned
    /// [`AnyValue`](crate::span::AnyValue).
    ///
    /// A value nested deeper than
    /// [`MAX_VALUE_DEPTH`] is dropped
    /// and counted in `dropped_attributes_count`.
    pub fn set_attribute<'v>(&mut self, key: &str, value: impl Into<ValueRef<'v>>) {
        let Some(r) = self.rec.as_mut() else { return };
        let value = value.into();
        if value.deeper_than(MAX_VALUE_DEPTH) {
            r.dropped_attributes = r.dropped_attributes.saturating_add(1);
            return;
        }
        if !r.admit_attribute() {
            return;
        }
        let limit = r.value_limit as usize;
        match value {
            ValueRef::Str(s) => put_str_kv(&mut r.buf, ATTRIBUTES, key, s, limit),
            ValueRef::I64(v) => put_i64_kv(&mut r.buf, ATTRIBUTES, key, v),
            other => put_kv_span(&mut r.buf, ATTRIBUTES, key, &other, limit),
        }
    }

    /// Adds an event, timestamped now.
    ///
    /// ```no_run
    /// # fn f(span: &mut tracewire::Span) {
    /// span.add_event("retry", &[("attempt", 2i64.into())]);
    /// # }
    /// ```
    pub fn add_event(&mut self, name: &str, attributes: &[(&str, ValueRef<'_>)]) {
        if self.rec.is_some() {
            self.add_event_at_nanos(name, clock::now_unix_nanos(), attributes);
        }
    }

    /// Adds an event with an explicit timestamp.
    pub fn add_event_at(
        &mut self,
        name: &str,
        time: SystemTime,
        attributes: &[(&str, ValueRef<'_>)],
    ) {
        self.add_event_at_nanos(name, clock::to_unix_nanos(time), attributes);
    }

    fn add_event_at_nanos(&mut self, name: &str, time: u64, attributes: &[(&str, ValueRef<'_>)]) {
        let Some(r) = self.rec.as_mut() else { return };
        let Some(limits) = with_handle(r.pipeline, |h| h.shared.limits) else {
            return;
        };
        if r.event_count >= limits.max_events_per_span {
            r.dropped_events = r.dropped_events.saturating_add(1);
            return;
        }
        r.ensure_side();
        let at = r.side.len();
        with_encodable(
            attributes,
            limits.max_attributes_per_event,
            |attrs, kept, dropped| {
                put_event(
                    &mut r.side,
                    time,
                    name,
                    attrs,
                    kept,
                    dropped,
                    limits.value_limit(),
                );
            },
        );
        // Events go before any links (canonical field order): rotate the new
        // event in front of the links.
        let events_end = r.events_end as usize;
        let added = r.side.len() - at;
        r.side[events_end..].rotate_right(added);
        r.events_end = (events_end + added) as u32;
        r.event_count += 1;
    }

    /// Adds a link to another span.
    pub fn add_link(&mut self, ctx: &SpanContext, attributes: &[(&str, ValueRef<'_>)]) {
        let Some(r) = self.rec.as_mut() else { return };
        if !ctx.is_valid() {
            return;
        }
        let Some(limits) = with_handle(r.pipeline, |h| h.shared.limits) else {
            return;
        };
        if r.link_count >= limits.max_links_per_span {
            r.dropped_links = r.dropped_links.saturating_add(1);
            return;
        }
        r.ensure_side();
        let trace_id = ctx.trace_id();
        let span_id = ctx.span_id();
        let target = LinkTarget {
            trace_id: &trace_id,
            span_id: &span_id,
            trace_state: ctx.trace_state().as_str(),
            flags: ctx.otlp_flags(),
        };
        with_encodable(
            attributes,
            limits.max_attributes_per_link,
            |attrs, kept, dropped| {
                put_link(
                    &mut r.side,
                    &target,
                    attrs,
                    kept,
                    dropped,
                    limits.value_limit(),
                );
            },
        );
        r.link_count += 1;
    }

    /// Sets the status, following OpenTelemetry's rules: `Ok` is final,
    /// `Error` replaces `Unset`, `Unset` changes nothing, and a message is
    /// only kept for `Error`.
    pub fn set_status(&mut self, status: Status) {
        let Some(r) = self.rec.as_mut() else { return };
        let current = r.status.as_ref().map_or(StatusCode::Unset, |s| s.code);
        match (current, status.code) {
            (StatusCode::Ok, _) | (_, StatusCode::Unset) => {}
            (_, StatusCode::Ok) => r.status = Some(Status::OK),
            (_, StatusCode::Error) => r.status = Some(status),
        }
    }

    /// Replaces the span's name.
    pub fn update_name(&mut self, name: &str) {
        if let Some(r) = self.rec.as_mut() {
            r.layout = replace_span_name(&mut r.buf, &r.layout, name);
        }
    }

    /// Ends the span now and queues it for export.
    ///
    /// Hot path: one clock read, the closing fields, one lock-free push.
    #[inline]
    pub fn end(mut self) {
        self.finish(None);
    }

    /// Ends the span at an explicit time.
    pub fn end_at(mut self, time: SystemTime) {
        self.finish(Some(clock::to_unix_nanos(time)));
    }

    #[inline]
    fn finish(&mut self, end_time: Option<u64>) {
        let Some(r) = self.rec.as_mut() else { return };
        let end = end_time.unwrap_or_else(clock::now_unix_nanos);
        patch_end_time(&mut r.buf, &r.layout, end);
        let (events, links) = r.side.split_at(r.events_end as usize);
        put_span_end(
            &mut r.buf,
            &SpanEnd {
                dropped_attributes_count: r.dropped_attributes,
                events,
                dropped_events_count: r.dropped_events,
                links,
                dropped_links_count: r.dropped_links,
                status: r.status.as_ref(),
                flags: r.flags,
            },
        );
        let body = std::mem::take(&mut r.buf);
        let side = std::mem::take(&mut r.side);
        let (pipeline, scope) = (r.pipeline, r.scope);
        self.rec = None;
        // `None`: the pipeline no longer exists, so there is nothing left to
        // count the span in.
        let _ = with_handle(pipeline, move |h| {
            if side.capacity() != 0 {
                h.shared.side_pool.give(side);
            }
            h.queue(body, scope);
        });
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.finish(None);
    }
}

impl Recording {
    /// Takes the side buffer for events and links on first use.
    fn ensure_side(&mut self) {
        if self.side.capacity() == 0 {
            self.side =
                with_handle(self.pipeline, |h| h.shared.side_pool.take()).unwrap_or_default();
        }
    }

    /// Counts an attribute against the limit; `false` when it must be dropped.
    #[inline(always)]
    fn admit_attribute(&mut self) -> bool {
        if self.attributes < self.max_attributes {
            self.attributes += 1;
            true
        } else {
            self.dropped_attributes = self.dropped_attributes.saturating_add(1);
            false
        }
    }
}

/// Calls `f` with the attributes that can be encoded (nested no deeper than
/// `MAX_VALUE_DEPTH`), how many of them to keep (`max`), and how many are
/// dropped in all.
fn with_encodable<R>(
    attributes: &[(&str, ValueRef<'_>)],
    max: u32,
    f: impl FnOnce(&[(&str, ValueRef<'_>)], usize, u32) -> R,
) -> R {
    let max = max as usize;
    if attributes
        .iter()
        .any(|(_, v)| v.deeper_than(MAX_VALUE_DEPTH))
    {
        // Rare: build the filtered list.
        let ok: Vec<(&str, ValueRef<'_>)> = attributes
            .iter()
            .filter(|(_, v)| !v.deeper_than(MAX_VALUE_DEPTH))
            .copied()
            .collect();
        let kept = ok.len().min(max);
        let dropped = u32::try_from(attributes.len() - kept).unwrap_or(u32::MAX);
        f(&ok, kept, dropped)
    } else {
        let kept = attributes.len().min(max);
        let dropped = u32::try_from(attributes.len() - kept).unwrap_or(u32::MAX);
        f(attributes, kept, dropped)
    }
}
