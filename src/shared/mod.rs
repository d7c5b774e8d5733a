//! What a pipeline's recording threads and its export worker share: the
//! span queue ([`ring`]), the buffer pools ([`pool`]), the counters
//! ([`stats`]), the sampler and limits every span reads, the instrumentation
//! scopes, and the registry that lets a span find its pipeline by id.
//!
//! Only buffers (back to the pools), ring space and counters flow from the
//! worker back up to the recording threads. This module must never block a
//! recording thread: everything a span touches here is lock-free; the
//! locks below are taken once per scope registration, per new thread, and
//! per batch.

pub(crate) mod pool;
pub(crate) mod ring;
pub(crate) mod stats;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::codec::buf::SpanBuf;
use crate::codec::otlp::EncodedScope;
use crate::model::{InstrumentationScope, SpanLimits};
use crate::sampling::Sampler;
use crate::sync::lock;
use pool::{Bundles, Pool, Returner, BUNDLE};
use ring::Ring;
use stats::Counters;

/// A new span buffer's capacity: a proxy span with 8 attributes is ~330 bytes.
pub(crate) const SPAN_BUFFER_INITIAL: usize = 512;
/// Span buffers that grew past this are freed rather than pooled.
pub(crate) const SPAN_BUFFER_RETAIN: usize = 16 * 1024;

/// Collects span buffers returned by the export worker into bundles.
pub(crate) type BufReturner = Returner<SpanBuf>;

/// What a pipeline's tracers, spans and worker share.
pub(crate) struct Shared {
    /// This pipeline's id in [`PIPELINES`].
    pub(crate) id: u64,
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
    /// Instrumentation scopes, indexed by a finished span's scope number.
    pub(crate) scopes: Mutex<Vec<(InstrumentationScope, Arc<EncodedScope>)>>,
    /// Bumped whenever a scope is added, so the worker re-reads `scopes`.
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
    /// reference count on it (see [`find`]).
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

/// The live pipeline with id `id`, from the registry (slow path: takes the
/// registry's lock).
pub(crate) fn find(id: u64) -> Option<Arc<Shared>> {
    let all = lock(&PIPELINES);
    all.iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, w)| w.upgrade())
}
