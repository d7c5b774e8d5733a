//! The export worker: drains every recording thread's span log (and the
//! lane of large spans) into batches, writes each batch into a pooled
//! request buffer (the spans copied once, already framed), hands it to the
//! exporter with a bounded number of exports in flight, and accounts for
//! every span's outcome.
//!
//! It exports when the logs hold a full batch (`max_export_batch_size`),
//! when `scheduled_delay` has passed, on [`force_flush`](crate::Pipeline::force_flush),
//! and on [`shutdown`](crate::Pipeline::shutdown), which delivers what is
//! queued or reports what could not be delivered by its deadline.
//!
//! This module must never run on a recording thread: it runs on its own
//! thread (with its own tokio runtime) or as a task on the caller's runtime.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::clock;
use crate::codec::otlp::{EncodedResource, EncodedScope};
use crate::export::{ExportError, ExportReport, ExportRequest, Exporter};
use crate::fleet::Router;
use crate::pool::Pool;
use crate::priority::{Bounded, WorkerPriority};
use crate::shared::{BufReturner, Shared};
use crate::span_log::lane::LargeSpan;
use crate::span_log::{Joins, LogReader, Mark, RecordRef};
use crate::stats::Stats;

mod pace;
mod take;

use pace::{Next, Pacer, MIN_LOOK};

/// The batch span processor's knobs, with OpenTelemetry's defaults.
///
/// ```
/// let c = tracewire::BatchConfig::default();
/// assert_eq!((c.max_queue_size, c.max_export_batch_size), (2048, 512));
/// assert_eq!(c.scheduled_delay.as_millis(), 5000);
/// assert_eq!(c.export_timeout.as_millis(), 30000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Spans the recording threads' logs hold, in all, before new ones are
    /// dropped (`OTEL_BSP_MAX_QUEUE_SIZE`, default 2048): a budget of
    /// `max_queue_size * 512` bytes shared by every thread's log, in chunks
    /// of up to 64 spans and 32 KiB, beyond which a thread's spans are
    /// dropped; each recording thread beyond the first also holds one chunk
    /// of its own past the budget, so that however many threads record,
    /// each can.
    pub max_queue_size: usize,
    /// Spans per export request (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, default
    /// 512; never more than `max_queue_size`).
    pub max_export_batch_size: usize,
    /// Longest wait before queued spans are exported
    /// (`OTEL_BSP_SCHEDULE_DELAY`, default 5000 ms).
    pub scheduled_delay: Duration,
    /// Longest an export may take, retries included
    /// (`OTEL_BSP_EXPORT_TIMEOUT`, default 30000 ms).
    pub export_timeout: Duration,
    /// Exports in flight at once (`OTEL_BSP_MAX_CONCURRENT_EXPORTS`,
    /// default 4). When all are busy the queue absorbs new spans, then drops.
    pub max_concurrent_exports: usize,
    /// The largest export request, in bytes of protobuf before compression
    /// (`tracing.batch.maxExportBytes`). A batch closes before the span that
    /// would take it past this; a span that alone exceeds it is rejected
    /// (counted, never sent). `None`: the transport's default, the
    /// OpenTelemetry Collector's limits (4 MiB less the framing for gRPC,
    /// 20 MiB for OTLP/HTTP).
    pub max_export_bytes: Option<usize>,
    /// Trace-consistent shedding (`tracing.batch.shedding`, default on):
    /// when the spans on their way to the logs pass half the queue, new
    /// traces are shed whole, by their randomness, so that the traces kept
    /// stay complete; off, spans that find the queue full are dropped one
    /// by one.
    pub shedding: bool,
    /// How the export worker's own thread is scheduled against the
    /// application's (`tracing.batch.workerPriority`, default
    /// [`WorkerPriority::Idle`]: it runs only when the CPU has nothing
    /// else to do).
    pub worker_priority: WorkerPriority,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(30000),
            max_concurrent_exports: 4,
            max_export_bytes: None,
            shedding: true,
            worker_priority: WorkerPriority::Idle,
        }
    }
}

impl BatchConfig {
    /// The batch size actually used: at least 1, at most the queue size.
    pub fn effective_batch_size(&self) -> usize {
        self.max_export_batch_size
            .clamp(1, self.max_queue_size.max(1))
    }
}

/// Why a flush did not deliver everything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The timeout passed with spans still queued or in flight.
    #[error("flush timed out with {queued} span(s) still queued or in flight; raise the timeout or check the collector")]
    Timeout {
        /// Spans not yet resolved.
        queued: u64,
    },
    /// Some spans could not be delivered.
    #[error("{failed} span(s) failed and {rejected} were rejected during the flush; see the pipeline stats and logs")]
    Undelivered {
        /// Spans that failed during the flush.
        failed: u64,
        /// Spans the collector rejected during the flush.
        rejected: u64,
    },
    /// The pipeline has shut down.
    #[error("the pipeline has shut down")]
    ShutDown,
}

/// What shutdown could not do by its deadline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// Spans were still queued or in flight at the deadline; they are
    /// counted as failed.
    #[error("shutdown deadline passed; {unsent} span(s) could not be delivered and were counted as failed")]
    DeadlineExceeded {
        /// Spans given up on.
        unsent: u64,
        /// Final statistics.
        stats: Stats,
    },
    /// Shutdown was already requested.
    #[error("the pipeline was already shut down")]
    AlreadyShutDown,
}

/// How a caller waits for the worker's answer.
pub(crate) enum Reply<T> {
    Blocking(std::sync::mpsc::SyncSender<T>),
    Async(oneshot::Sender<T>),
}

impl<T> Reply<T> {
    fn send(self, value: T) {
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.try_send(value);
            }
            Reply::Async(tx) => {
                let _ = tx.send(value);
            }
        }
    }
}

pub(crate) enum Control {
    Flush {
        deadline: Instant,
        reply: Reply<Result<(), FlushError>>,
    },
    Shutdown {
        deadline: Instant,
        reply: Option<Reply<Result<Stats, ShutdownError>>>,
    },
}

/// Resolves an export's spans exactly once, even if its task is aborted.
struct InFlight {
    shared: Arc<Shared>,
    spans: u64,
    resolved: bool,
    started: Instant,
}

impl InFlight {
    fn new(shared: Arc<Shared>, spans: u64) -> Self {
        shared
            .counters
            .exports_in_flight
            .fetch_add(1, Ordering::Relaxed);
        InFlight {
            shared,
            spans,
            resolved: false,
            started: Instant::now(),
        }
    }
}

impl InFlight {
    fn resolve(mut self, report: &ExportReport) {
        let c = &self.shared.counters;
        c.export_latency.observe(self.started.elapsed());
        c.exports_in_flight.fetch_sub(1, Ordering::Relaxed);
        c.exports
            .fetch_add(u64::from(report.attempts), Ordering::Relaxed);
        c.bytes_sent.fetch_add(report.bytes_sent, Ordering::Relaxed);
        let retried = report
            .retried
            .unwrap_or(u64::from(report.attempts.saturating_sub(1)) * self.spans);
        if retried > 0 {
            c.retried.fetch_add(retried, Ordering::Relaxed);
        }
        match &report.result {
            Ok(()) => {
                let failed = report.failed.min(self.spans);
                let rejected = report.rejected.min(self.spans - failed);
                c.resolve(self.spans, rejected, failed)
            }
            Err(e) => {
                log::warn!("tracewire: export of {} span(s) failed: {e}", self.spans);
                c.resolve(self.spans, 0, self.spans);
            }
        }
        self.resolved = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.resolved {
            // Aborted (shutdown deadline) or panicked: the spans are lost.
            let c = &self.shared.counters;
            c.export_latency.observe(self.started.elapsed());
            c.exports_in_flight.fetch_sub(1, Ordering::Relaxed);
            c.resolve(self.spans, 0, self.spans);
        }
    }
}

pub(crate) struct Worker {
    pub(crate) shared: Arc<Shared>,
    pub(crate) exporter: Arc<dyn Exporter>,
    pub(crate) config: BatchConfig,
    pub(crate) resource: EncodedResource,
    pub(crate) control: mpsc::UnboundedReceiver<Control>,
    pub(crate) request_pool: Arc<Pool<BytesMut>>,
    permits: Arc<Semaphore>,
    tasks: JoinSet<()>,
    /// The reading end of every recording thread's log.
    readers: Vec<LogReader>,
    log_version: u64,
    /// Where the next batch starts reading, round robin over the logs.
    next_reader: usize,
    /// The records of the batch being built (reused).
    records: Vec<RecordRef>,
    /// How far each log's records go: reader index, mark, records range.
    marks: Vec<(usize, Mark, std::ops::Range<usize>)>,
    /// Large spans in the batch being built (reused), and the fleet member
    /// each goes to.
    large: Vec<LargeSpan>,
    large_members: Vec<u32>,
    /// The fleet members able to take requests (refreshed per batch), and
    /// the member of each span.
    router: Router,
    /// Per member: spans and span bytes in the batch being built (reused).
    per_member: Vec<(usize, usize)>,
    /// The batch's requests: member, buffer, spans (reused).
    requests: Vec<(usize, BytesMut, usize)>,
    /// A large (or joined) span that did not fit the last batch's byte
    /// cap: it leads the next one.
    held: Option<LargeSpan>,
    /// Split spans being put back together (see `span_log::join`).
    joins: Joins,
    /// The largest request (protobuf message) the peer accepts.
    max_request_bytes: usize,
    /// An upper bound on a request's size beyond its spans (per scopes).
    overhead: usize,
    /// When the last "span larger than the limit" warning was logged.
    last_too_large_warning: Option<Instant>,
    /// When the last "split span lost" warning was logged.
    last_lost_warning: Option<Instant>,
    /// Large spans' buffers, on their way back to the recording threads.
    returner: BufReturner,
    scopes: Vec<Arc<EncodedScope>>,
    scope_version: u64,
    /// Spans taken out of the logs and the lane so far (exported,
    /// rejected or discarded): with what waits, what has arrived.
    taken_total: u64,
    /// The bytes of the spans taken from the logs so far.
    taken_bytes_total: u64,
}

/// The most bytes of split spans' part ones the worker keeps waiting for
/// the rest (the oldest go past it).
const JOIN_BUDGET: usize = 8 << 20;

/// How often the worker re-anchors the span clock to the system clock.
const RECALIBRATE_EVERY: Duration = Duration::from_secs(5);

impl Worker {
    pub(crate) fn new(
        shared: Arc<Shared>,
        exporter: Arc<dyn Exporter>,
        config: BatchConfig,
        resource: EncodedResource,
        control: mpsc::UnboundedReceiver<Control>,
    ) -> Self {
        let concurrency = config.max_concurrent_exports.max(1);
        let max_request_bytes = config
            .max_export_bytes
            .or(exporter.max_request_bytes())
            .unwrap_or(usize::MAX);
        Worker {
            request_pool: Arc::new(Pool::new(concurrency + 1, 64 << 20, BytesMut::new)),
            permits: Arc::new(Semaphore::new(concurrency)),
            tasks: JoinSet::new(),
            readers: Vec::new(),
            log_version: u64::MAX,
            next_reader: 0,
            records: Vec::new(),
            marks: Vec::new(),
            large: Vec::new(),
            large_members: Vec::new(),
            router: Router::default(),
            per_member: Vec::new(),
            requests: Vec::new(),
            held: None,
            joins: Joins::new(JOIN_BUDGET),
            max_request_bytes,
            overhead: 0,
            last_too_large_warning: None,
            last_lost_warning: None,
            returner: BufReturner::default(),
            scopes: Vec::new(),
            scope_version: u64::MAX,
            taken_total: 0,
            taken_bytes_total: 0,
            shared,
            exporter,
            config,
            resource,
            control,
        }
    }

    pub(crate) async fn run(mut self) {
        let delay = self.config.scheduled_delay.max(Duration::from_millis(1));
        let now = tokio::time::Instant::now();
        let mut next_export = now + delay;
        let mut next_recalibration = now + RECALIBRATE_EVERY;
        // The timer fired while every export slot was busy.
        let mut overdue = false;
        // While spans keep coming the worker looks at the logs when the
        // pacer expects a batch to be full (about once per batch); parked,
        // a recording thread wakes it when a batch waits (see `pace` and
        // `crate::wake`).
        let mut pacer = Pacer::new(self.look_target(), Instant::now());
        let mut next_look = now + MIN_LOOK;
        loop {
            // One timer for the scheduled export and the clock's
            // re-anchoring, so a quiet worker wakes once per delay.
            let housekeeping = next_export.min(next_recalibration);
            tokio::select! {
                biased;
                msg = self.control.recv() => match msg {
                    Some(Control::Flush { deadline, reply }) => {
                        let result = self.flush(deadline).await;
                        reply.send(result);
                        next_export = tokio::time::Instant::now() + delay;
                    }
                    Some(Control::Shutdown { deadline, reply }) => {
                        let result = self.shutdown(deadline).await;
                        if let Some(reply) = reply {
                            reply.send(result);
                        }
                        return;
                    }
                    None => {
                        // Every pipeline handle is gone: shut down quietly.
                        let _ = self.shutdown(Instant::now() + Duration::from_secs(5)).await;
                        return;
                    }
                },
                () = self.shared.wake.woken() => {
                    // A batch waits (or the logs fill faster than the
                    // worker looks): export, and look again when the next
                    // batch should be full.
                    self.shared.wake.unpark();
                    self.drain_full_batches().await;
                    if self.readers.iter().any(LogReader::is_gone) {
                        // A thread exited: export what its log holds, so
                        // its chunks go back to the threads still recording.
                        overdue = !self.drain_all().await;
                    }
                    next_look = self.schedule(&mut pacer);
                }
                () = tokio::time::sleep_until(housekeeping) => {
                    let now = tokio::time::Instant::now();
                    if now >= next_export {
                        overdue = !self.drain_all().await;
                        next_export = now + delay;
                    }
                    if now >= next_recalibration {
                        clock::recalibrate();
                        next_recalibration = now + RECALIBRATE_EVERY;
                    }
                }
                () = tokio::time::sleep_until(next_look), if !self.shared.wake.is_parked() => {
                    self.drain_full_batches().await;
                    next_look = self.schedule(&mut pacer);
                }
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    // A slot is free again: export what waited for one.
                    self.drain_full_batches().await;
                    if overdue {
                        overdue = !self.drain_all().await;
                    }
                }
            }
        }
    }

    /// Spans that make a full batch: one per fleet member that is up.
    fn batch_target(&self) -> u64 {
        self.config.effective_batch_size() as u64 * self.router.route().len().max(1) as u64
    }

    /// The spans the next look should find: a full batch, or fewer when
    /// spans are large enough to fill a batch's worth of chunk memory
    /// first (the worker exports then too), from the average size of the
    /// spans taken so far.
    fn look_target(&self) -> u64 {
        let by_count = self.batch_target();
        if self.taken_total == 0 {
            return by_count;
        }
        let pool = &self.shared.pool;
        let record = (self.taken_bytes_total / self.taken_total).max(1);
        let per_chunk =
            (pool.chunk_bytes() as u64 / record).clamp(1, u64::from(pool.spans_per_chunk()));
        by_count.min(per_chunk * pool.batch_chunks() as u64)
    }

    /// After a look at the logs: when to look next; or parks the worker
    /// (a recording thread wakes it when a batch waits).
    fn schedule(&mut self, pacer: &mut Pacer) -> tokio::time::Instant {
        pacer.set_batch(self.look_target());
        let waiting = self.waiting();
        let now = Instant::now();
        match pacer.next(now, self.taken_total + waiting, waiting) {
            Next::At(at) => at.into(),
            Next::Park => {
                if self.shared.wake.park() {
                    // A batch was sealed as the worker parked: go on.
                    self.shared.wake.unpark();
                }
                (now + MIN_LOOK).into()
            }
        }
    }

    /// Exports full batches while export slots are free; whether it
    /// exported any.
    async fn drain_full_batches(&mut self) -> bool {
        let mut any = false;
        // Chunks can be full of the part ones of spans still open (split
        // when their chunk was let go) with no ended span waiting: one
        // look then takes the part ones and frees the chunks.
        let mut tidy = self.shared.memory_pressed();
        // A batch is full by count, or by memory: big spans fill half the
        // queue's memory before they make a batch's count.
        while match self.waiting() {
            0 => std::mem::take(&mut tidy),
            n => n >= self.batch_target() || self.shared.memory_pressed(),
        } {
            if self.export_batch(None).await == 0 {
                break;
            }
            any = true;
            // A batch is a slice of work: let the runtime (and, through
            // `priority::Bounded`, the application's threads) run between
            // batches.
            tokio::task::yield_now().await;
        }
        any
    }

    /// Exports everything waiting while export slots are free; `false` when
    /// every slot was busy before the end (finish when one frees).
    async fn drain_all(&mut self) -> bool {
        while self.waiting() > 0 {
            if self.export_batch(None).await == 0 {
                return false;
            }
            tokio::task::yield_now().await;
        }
        self.retire_finished_logs();
        true
    }

    /// Takes up to one batch from the logs and the lane and starts
    /// exporting it. Needs an export slot: with a `deadline` it waits for
    /// one until then; without, it takes one only if free, so the worker
    /// never stops listening for flush and shutdown while exports are slow.
    /// Returns the number of spans taken.
    async fn export_batch(&mut self, deadline: Option<Instant>) -> usize {
        let permit: OwnedSemaphorePermit = match deadline {
            None => match self.permits.clone().try_acquire_owned() {
                Ok(p) => p,
                Err(_) => return 0,
            },
            Some(d) => {
                match tokio::time::timeout_at(d.into(), self.permits.clone().acquire_owned()).await
                {
                    Ok(Ok(p)) => p,
                    _ => return 0,
                }
            }
        };
        let taken = self.take_batch();
        if taken == 0 {
            return 0;
        }
        // The batch's requests (one per fleet member) share its slot.
        let permit = Arc::new(permit);
        let mut requests = std::mem::take(&mut self.requests);
        for (member, buffer, spans) in requests.drain(..) {
            self.start_export(permit.clone(), buffer, spans, member, deadline);
        }
        self.requests = requests;
        taken
    }

    /// Hands a request to the exporter on a task of its own.
    fn start_export(
        &mut self,
        permit: Arc<OwnedSemaphorePermit>,
        buffer: BytesMut,
        taken: usize,
        member: usize,
        deadline: Option<Instant>,
    ) {
        let prefix = self.exporter.prefix_len();
        let export_deadline = Instant::now() + self.config.export_timeout;
        let deadline = deadline.map_or(export_deadline, |d| d.min(export_deadline));
        let request = ExportRequest {
            buffer,
            prefix,
            spans: taken,
            deadline,
            member,
        };
        let guard = InFlight::new(self.shared.clone(), taken as u64);
        let exporter = self.exporter.clone();
        let pool = self.request_pool.clone();
        self.tasks.spawn(Bounded::new(async move {
            let _permit = permit;
            // The exporter should honour the deadline itself; this is the
            // safety net that makes a silent collector unable to hold a
            // batch (and shutdown) past it.
            let grace = Duration::from_millis(100);
            let report =
                match tokio::time::timeout_at((deadline + grace).into(), exporter.export(request))
                    .await
                {
                    Ok(report) => report,
                    Err(_) => ExportReport::failure(
                        ExportError::DeadlineExceeded {
                            attempts: 1,
                            last: "the exporter did not return by the export deadline".into(),
                        },
                        1,
                        0,
                    ),
                };
            guard.resolve(&report);
            if let Some(buf) = report.buffer {
                pool.give(buf);
            }
        }));
    }

    /// Waits for every export in flight, until `deadline`. Returns `false`
    /// when the deadline passed first.
    async fn wait_in_flight(&mut self, deadline: Instant) -> bool {
        let tasks = &mut self.tasks;
        tokio::time::timeout_at(deadline.into(), async {
            while tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok()
    }

    /// Exports what was waiting when the flush began (spans recorded
    /// during the flush may go with it) and waits for every export in
    /// flight, until `deadline`.
    async fn flush(&mut self, deadline: Instant) -> Result<(), FlushError> {
        let before = self.shared.stats();
        let mut left = self.waiting();
        while left > 0 && Instant::now() < deadline {
            match self.export_batch(Some(deadline)).await {
                0 => break,
                n => left = left.saturating_sub(n as u64),
            }
        }
        let finished = self.wait_in_flight(deadline).await && left == 0;
        self.retire_finished_logs();
        let after = self.shared.stats();
        if !finished {
            let in_flight = self.shared.counters.in_flight.load(Ordering::Relaxed);
            return Err(FlushError::Timeout {
                queued: left + in_flight,
            });
        }
        let failed = after.failed - before.failed;
        let rejected = after.rejected - before.rejected;
        if failed > 0 || rejected > 0 {
            return Err(FlushError::Undelivered { failed, rejected });
        }
        Ok(())
    }

    async fn shutdown(&mut self, deadline: Instant) -> Result<Stats, ShutdownError> {
        self.shared.closed.store(true, Ordering::SeqCst);
        while self.waiting() > 0 && Instant::now() < deadline {
            if self.export_batch(Some(deadline)).await == 0 {
                break;
            }
        }
        let mut unsent = 0u64;
        if !self.wait_in_flight(deadline).await {
            unsent += self.shared.counters.in_flight.load(Ordering::Acquire);
            self.tasks.abort_all();
            // Aborted tasks resolve their spans as failed when dropped.
            while self.tasks.join_next().await.is_some() {}
        }
        // What is left in the logs could not be sent in time.
        let left = self.discard_waiting();
        if left > 0 {
            self.shared
                .counters
                .failed
                .fetch_add(left, Ordering::Release);
        }
        unsent += left;
        // From here on, a span still in a log (one that raced the close)
        // counts as dropped.
        self.shared.finished.store(true, Ordering::Release);
        self.shared.wake.close();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(remaining, self.exporter.shutdown()).await;
        let stats = self.shared.stats();
        if unsent > 0 {
            log::warn!(
                "tracewire: shutdown deadline passed; {unsent} span(s) could not be delivered"
            );
            return Err(ShutdownError::DeadlineExceeded { unsent, stats });
        }
        Ok(stats)
    }
}
