//! What a pipeline's recording threads and its export worker share, and
//! the registry that lets a span find its pipeline by id: one [`Shared`]
//! per pipeline, holding its span logs' chunk pool and readers
//! ([`crate::span_log`]), the large-span lane, the worker's wake-up
//! ([`crate::wake`]), the buffer pools ([`crate::pool`]), the counters
//! ([`crate::stats`]), shedding ([`crate::shed`]), the sampler and limits
//! every span reads, and the instrumentation scopes.
//!
//! Only chunks (back to the pool), span recordings (their buffers) and counters flow from
//! the worker back up to the recording threads. This module must never
//! block a recording thread: what a span touches here is lock-free; the
//! locks below are taken once per scope registration, per new thread, per
//! stats read and per batch.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::codec::buf::SpanBuf;
use crate::codec::otlp::EncodedScope;
use crate::model::{InstrumentationScope, SpanLimits};
use crate::pool::{Bundles, Pool, Returner, BUNDLE};
use crate::priority::WorkerPriority;
use crate::sampling::Sampler;
use crate::shed::Shed;
use crate::span_log::lane::Lane;
use crate::span_log::{ChunkPool, Counts, LogProducer, LogReader, LogShared};
use crate::stats::{Counters, Stats};
use crate::sync::lock;
use crate::wake::Wake;

/// A new span buffer's capacity: a proxy span with 8 attributes is ~330 bytes.
pub(crate) const SPAN_BUFFER_INITIAL: usize = 512;
/// Span buffers that grew past this are freed rather than pooled.
pub(crate) const SPAN_BUFFER_RETAIN: usize = 16 * 1024;

/// Collects span buffers (of large spans) returned by the export worker.
pub(crate) type BufReturner = Returner<SpanBuf>;

/// Every log of a pipeline, for the stats and for the worker.
#[derive(Default)]
pub(crate) struct Logs {
    /// Every live log's shared counters.
    live: Vec<Arc<LogShared>>,
    /// Readers of logs created since the worker last looked.
    new_readers: Vec<LogReader>,
    /// Final counts of retired logs.
    retired: Counts,
}

/// What a pipeline's tracers, spans and worker share.
pub(crate) struct Shared {
    /// This pipeline's id in [`PIPELINES`].
    pub(crate) id: u64,
    /// The chunks of every span log.
    pub(crate) pool: ChunkPool,
    /// Spans too large for a chunk.
    pub(crate) lane: Lane,
    /// When to wake the worker.
    pub(crate) wake: Wake,
    /// Scratch span buffers, in bundles of sixteen, for threads whose own
    /// cache ran dry (spans that started on one thread and ended on another).
    pub(crate) bufs: Bundles<SpanBuf>,
    /// Buffers for span events and links (rare): one at a time.
    pub(crate) side_pool: Pool<Vec<u8>>,
    pub(crate) counters: Counters,
    pub(crate) sampler: Sampler,
    /// Trace-consistent shedding under overload.
    pub(crate) shed: Shed,
    /// `ot=th:...` alone for the sampler's own threshold (a root's trace
    /// state under the probability sampler, built once).
    pub(crate) sampler_state: Option<(crate::sampling::Threshold, crate::model::TraceState)>,
    pub(crate) limits: SpanLimits,
    /// Set when the pipeline shuts down: later spans are dropped and counted.
    pub(crate) closed: AtomicBool,
    /// Set when shutdown has finished: whatever is still in a log stays
    /// there for good, and counts as dropped.
    pub(crate) finished: AtomicBool,
    /// Instrumentation scopes, indexed by a record's scope number.
    pub(crate) scopes: Mutex<Vec<(InstrumentationScope, Arc<EncodedScope>)>>,
    /// Bumped whenever a scope is added, so the worker re-reads `scopes`.
    pub(crate) scope_version: AtomicU64,
    logs: Mutex<Logs>,
    /// Bumped whenever a log is added, so the worker picks up its reader.
    pub(crate) log_version: AtomicU64,
    /// The log for spans that end on a thread whose own state is gone
    /// (being torn down at exit): rare, so it takes a lock.
    orphans: Mutex<Option<LogProducer>>,
}

impl Shared {
    /// The shared state of a pipeline whose logs hold `capacity` spans in
    /// all (see [`ChunkPool::for_queue`]) and whose worker exports
    /// `batch` spans at a time.
    pub(crate) fn new(
        capacity: usize,
        batch: usize,
        sampler: Sampler,
        limits: SpanLimits,
        shedding: bool,
        priority: WorkerPriority,
    ) -> Self {
        let pool = ChunkPool::for_queue(capacity, batch);
        let chunks = pool.batch_chunks();
        Shared {
            id: NEXT_PIPELINE.fetch_add(1, Ordering::Relaxed),
            pool,
            lane: Lane::new(
                capacity.clamp(16, 4096),
                capacity.saturating_mul(512),
                batch.saturating_mul(512),
            ),
            wake: Wake::new(batch, capacity, chunks, priority),
            bufs: Bundles::new(64),
            side_pool: Pool::new(256, SPAN_BUFFER_RETAIN, Vec::new),
            counters: Counters::new(),
            sampler,
            shed: Shed::new(capacity, shedding),
            sampler_state: sampler_state(&sampler),
            limits,
            closed: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            scopes: Mutex::new(Vec::new()),
            scope_version: AtomicU64::new(0),
            logs: Mutex::new(Logs::default()),
            log_version: AtomicU64::new(0),
            orphans: Mutex::new(None),
        }
    }

    /// Whether the spans waiting hold a batch's worth of the queue's
    /// memory (`batch` x 512 bytes of log chunks, or of the lane for large
    /// spans) before they make a batch's count: big spans. Then the worker
    /// exports what waits, rather than wait for a batch the memory cannot
    /// hold.
    ///
    /// Worker side, once per poll: takes the chunk pool's lock.
    pub(crate) fn memory_pressed(&self) -> bool {
        self.pool.sealed() >= self.pool.batch_chunks() || self.lane.pressed()
    }

    /// Allocates every chunk of the budget and a bundle of span recordings
    /// now, so even the first spans allocate nothing.
    pub(crate) fn preallocate(&self) {
        self.pool.preallocate();
        for _ in 0..4 {
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

    /// A new log for the calling thread (once per thread and pipeline).
    pub(crate) fn new_log(&self) -> LogProducer {
        let (producer, reader) = LogProducer::new(&self.pool);
        let mut logs = lock(&self.logs);
        logs.live.push(reader.shared().clone());
        logs.new_readers.push(reader);
        drop(logs);
        self.log_version.fetch_add(1, Ordering::Release);
        producer
    }

    /// The readers of logs created since the last call (worker side).
    pub(crate) fn take_new_readers(&self, into: &mut Vec<LogReader>) {
        into.append(&mut lock(&self.logs).new_readers);
    }

    /// Retires a drained log whose thread is gone: its counts move to the
    /// pipeline's totals in the same step, so no read sees them twice or
    /// not at all (worker side).
    pub(crate) fn retire(&self, reader: LogReader) {
        let mut logs = lock(&self.logs);
        let shared = reader.shared().clone();
        let counts = reader.retire(&self.pool);
        logs.live.retain(|l| !Arc::ptr_eq(l, &shared));
        logs.retired += counts;
    }

    /// Runs `f` with the pipeline's log for spans ending on a thread that
    /// has no state of its own any more (rare: a thread being torn down).
    pub(crate) fn with_orphan_log<R>(&self, f: impl FnOnce(&mut LogProducer) -> R) -> R {
        let mut orphans = lock(&self.orphans);
        let log = orphans.get_or_insert_with(|| self.new_log());
        f(log)
    }

    /// Spans waiting in the logs and the lane, not yet taken by the worker.
    pub(crate) fn waiting(&self) -> u64 {
        let logs = lock(&self.logs);
        let in_logs: u64 = logs.live.iter().map(|l| l.waiting()).sum();
        in_logs + self.lane.len() as u64
    }

    /// Logs not yet retired.
    pub(crate) fn live_logs(&self) -> usize {
        lock(&self.logs).live.len()
    }

    /// The span accounting, now.
    pub(crate) fn stats(&self) -> Stats {
        let logs = lock(&self.logs);
        let finished = self.finished.load(Ordering::Acquire);
        self.counters.snapshot(&logs.live, logs.retired, finished)
    }
}

/// The trace state a root kept by `sampler` carries, when it writes one
/// (the probability sampler, directly or as a parent-based root).
fn sampler_state(
    sampler: &Sampler,
) -> Option<(crate::sampling::Threshold, crate::model::TraceState)> {
    use crate::sampling::RootSampler;
    let t = match sampler {
        Sampler::Probability(p)
        | Sampler::ParentBased {
            root: RootSampler::Probability(p),
        } => p.threshold(),
        _ => return None,
    };
    // Constant: every kept root on every thread carries it.
    let state =
        crate::sampling::with_threshold(&crate::model::TraceState::EMPTY, Some(t)).constant();
    Some((t, state))
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
