//! Assembling the pieces: a [`Pipeline`] owns the ring, the buffer pools,
//! the counters and the export worker, and hands out [`Tracer`]s.
//!
//! The worker needs no runtime from the caller: by default it runs on its
//! own thread with a single-threaded tokio runtime; with
//! [`PipelineBuilder::runtime`] it is spawned on the caller's runtime.
//!
//! ```
//! use std::time::Duration;
//! use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
//! use tracewire::model::SpanKind;
//! use tracewire::Pipeline;
//!
//! struct Discard;
//! impl Exporter for Discard {
//!     fn export(&self, r: ExportRequest) -> BoxFuture<'_, ExportReport> {
//!         Box::pin(async move { ExportReport::success(r.message().len() as u64, Some(r.buffer)) })
//!     }
//! }
//!
//! let pipeline = Pipeline::builder().exporter(Discard).start().unwrap();
//! let tracer = pipeline.tracer("my-proxy");
//! let mut span = tracer.start("GET /", SpanKind::Server);
//! span.set_i64("http.response.status_code", 200);
//! span.end();
//! pipeline.force_flush(Duration::from_secs(5)).unwrap();
//! let stats = pipeline.shutdown(Duration::from_secs(5)).unwrap();
//! assert_eq!(stats.exported, 1);
//! ```

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::batch::{BatchConfig, Control, FlushError, Reply, ShutdownError, Worker};
use crate::codec::otlp::EncodedResource;
use crate::config::Config;
use crate::export::Exporter;
use crate::model::{InstrumentationScope, KeyValue, Resource, SpanLimits};
use crate::priority;
use crate::record::Tracer;
use crate::sampling::Sampler;
use crate::shared::Shared;
use crate::stats::{Histogram, Stats};
use crate::transport::TransportError;

/// Why a pipeline could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No exporter was given.
    #[error("no exporter configured: call PipelineBuilder::exporter, or build the pipeline from a Config")]
    NoExporter,
    /// The worker's thread or runtime could not be created.
    #[error("could not start the export worker: {0}")]
    Worker(#[source] std::io::Error),
    /// The exporter could not be built from the configuration.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// The standard resource for a service: `service.name` plus the
/// `telemetry.sdk.*` attributes, then `extra` (which may override them).
///
/// ```
/// let r = tracewire::service_resource("edge", []);
/// assert_eq!(r.attributes[0].key, "service.name");
/// ```
pub fn service_resource(service_name: &str, extra: impl IntoIterator<Item = KeyValue>) -> Resource {
    let mut attributes = vec![
        KeyValue::new("service.name", service_name),
        KeyValue::new("telemetry.sdk.name", "tracewire"),
        KeyValue::new("telemetry.sdk.language", "rust"),
        KeyValue::new("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
    ];
    for kv in extra {
        match attributes.iter_mut().find(|a| a.key == kv.key) {
            Some(existing) => existing.value = kv.value,
            None => attributes.push(kv),
        }
    }
    Resource {
        attributes,
        ..Resource::default()
    }
}

/// Builds a [`Pipeline`].
pub struct PipelineBuilder {
    resource: Resource,
    sampler: Sampler,
    limits: SpanLimits,
    batch: BatchConfig,
    exporter: Option<Arc<dyn Exporter>>,
    runtime: Option<tokio::runtime::Handle>,
    preallocate: bool,
}

impl std::fmt::Debug for PipelineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipelineBuilder")
            .field("sampler", &self.sampler)
            .field("limits", &self.limits)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

impl PipelineBuilder {
    /// The resource (default: [`service_resource`] for
    /// `unknown_service:tracewire`).
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resource = resource;
        self
    }

    /// The sampler (default: `ParentBased(AlwaysOn)`).
    pub fn sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Span limits (default: OpenTelemetry's).
    pub fn span_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Batching knobs (default: OpenTelemetry's).
    pub fn batch(mut self, batch: BatchConfig) -> Self {
        self.batch = batch;
        self
    }

    /// Where batches go.
    pub fn exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporter = Some(Arc::new(exporter));
        self
    }

    /// Where batches go, shared.
    pub fn exporter_arc(mut self, exporter: Arc<dyn Exporter>) -> Self {
        self.exporter = Some(exporter);
        self
    }

    /// Runs the worker as a task on this tokio runtime instead of its own
    /// thread.
    pub fn runtime(mut self, handle: tokio::runtime::Handle) -> Self {
        self.runtime = Some(handle);
        self
    }

    /// Allocates every chunk of the span logs' budget (`max_queue_size`
    /// spans, about 512 bytes each: 1 MiB by default) and a few bundles of
    /// span recordings (each with the buffer a span not in place writes
    /// into) up front, so even the first spans allocate nothing and no
    /// recording thread ever takes a page fault on new chunk memory.
    /// On by default; off, chunks are allocated as the logs first need
    /// them (and kept, up to the budget).
    pub fn preallocate(mut self, yes: bool) -> Self {
        self.preallocate = yes;
        self
    }

    /// Builds the exporter and applies everything else from a [`Config`]:
    /// resource (`service.name` and resource attributes), sampler, span
    /// limits and batching.
    pub fn config(mut self, config: &Config) -> Result<Self, BuildError> {
        self.exporter = Some(crate::transport::build(&config.exporter)?);
        self.resource = service_resource(
            &config.service_name,
            config
                .resource_attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.as_str(), v.as_str())),
        );
        self.sampler = config.sampler;
        self.limits = config.limits;
        self.batch = config.batch.clone();
        Ok(self)
    }

    /// Starts the export worker.
    pub fn start(self) -> Result<Pipeline, BuildError> {
        let exporter = self.exporter.ok_or(BuildError::NoExporter)?;
        let batch_size = self.batch.effective_batch_size();
        let shared = Arc::new(Shared::new(
            self.batch.max_queue_size.max(1),
            batch_size,
            self.sampler,
            self.limits,
            self.batch.shedding,
            self.batch.worker_priority,
        ));
        shared.register();
        if self.preallocate {
            shared.preallocate();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let worker = Worker::new(
            shared.clone(),
            exporter.clone(),
            self.batch.clone(),
            EncodedResource::new(&self.resource),
            rx,
        );
        let worker_thread = match self.runtime {
            Some(handle) => {
                handle.spawn(priority::Bounded::new(worker.run()));
                None
            }
            None => {
                // The runtime's blocking threads (DNS lookups) start from
                // the worker's thread and inherit its priority.
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(BuildError::Worker)?;
                let priority = self.batch.worker_priority;
                let t = std::thread::Builder::new()
                    .name("tracewire-export".into())
                    .spawn(move || {
                        priority::apply_to_current_thread(priority);
                        rt.block_on(priority::Bounded::new(worker.run()))
                    })
                    .map_err(BuildError::Worker)?;
                Some(t)
            }
        };
        Ok(Pipeline {
            shared,
            control: tx,
            worker_thread,
            batch: self.batch,
            exporter,
        })
    }
}

/// A running export pipeline. Dropping it shuts it down in the background
/// (up to 5 s); call [`Pipeline::shutdown`] to wait and see the outcome.
pub struct Pipeline {
    shared: Arc<Shared>,
    control: mpsc::UnboundedSender<Control>,
    worker_thread: Option<std::thread::JoinHandle<()>>,
    batch: BatchConfig,
    exporter: Arc<dyn Exporter>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("stats", &self.stats())
            .field("batch", &self.batch)
            .finish()
    }
}

impl Pipeline {
    /// Starts a pipeline exactly as `config` describes, with the worker on
    /// its own thread.
    ///
    /// ```no_run
    /// let config = tracewire::config::load_from_env().unwrap();
    /// let pipeline = tracewire::Pipeline::from_config(&config).unwrap();
    /// let tracer = pipeline.tracer("my-proxy");
    /// # drop(tracer);
    /// ```
    pub fn from_config(config: &Config) -> Result<Pipeline, BuildError> {
        Pipeline::builder().config(config)?.start()
    }

    /// A builder with OpenTelemetry's defaults.
    pub fn builder() -> PipelineBuilder {
        PipelineBuilder {
            resource: service_resource("unknown_service:tracewire", []),
            sampler: Sampler::default(),
            limits: SpanLimits::default(),
            batch: BatchConfig::default(),
            exporter: None,
            runtime: None,
            preallocate: true,
        }
    }

    /// A tracer for an instrumentation scope (a name, or a full
    /// [`InstrumentationScope`]).
    pub fn tracer(&self, scope: impl Into<InstrumentationScope>) -> Tracer {
        let index = self.shared.scope_index(scope.into());
        Tracer::new(self.shared.clone(), index)
    }

    /// The span accounting, now.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Where trace-consistent shedding stands: the share of new traces shed
    /// now, how often that rose and fell, and the pressure behind it (all
    /// zero while `tracing.batch.shedding` is off).
    ///
    /// ```no_run
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// let s = pipeline.shedding();
    /// assert!(s.level <= 16);
    /// # }
    /// ```
    pub fn shedding(&self) -> crate::shed::ShedState {
        self.shared.shed.state()
    }

    /// Appends the pipeline's statistics, now, to `out` in the Prometheus
    /// text exposition format (see [`crate::metrics`]): what a `/metrics`
    /// endpoint answers.
    ///
    /// ```no_run
    /// # fn demo(pipeline: &tracewire::Pipeline) {
    /// let mut body = String::new();
    /// pipeline.render_metrics(&mut body);
    /// assert!(body.contains("tracewire_spans_exported_total"));
    /// assert!(body.contains("otel_sdk_exporter_span_exported_total"));
    /// # }
    /// ```
    pub fn render_metrics(&self, out: &mut String) {
        let (stats, latency) = (self.stats(), self.export_latency());
        crate::metrics::write_prometheus(
            &stats,
            &latency,
            &self.endpoint_stats(),
            &self.dns_stats(),
            out,
        );
        let components = crate::metrics::Components::new(
            self.exporter.component_type(),
            self.shared.id,
            self.batch.max_queue_size as u64,
        );
        crate::metrics::write_otel_prometheus(&stats, &latency, &components, out);
    }

    /// How long export calls took so far (each call one batch, from its
    /// start to its last answer, retries and backoff included).
    ///
    /// ```no_run
    /// # fn demo(pipeline: &tracewire::Pipeline) {
    /// let h = pipeline.export_latency();
    /// println!("{} exports, {} ns in all", h.count(), h.sum_nanos);
    /// # }
    /// ```
    pub fn export_latency(&self) -> Histogram {
        self.shared.counters.export_latency.snapshot()
    }

    /// Per-collector statistics when the pipeline sends to a fleet (empty
    /// with one collector): exported, failed, retried, bytes and state of
    /// each member. Kept apart from [`Pipeline::stats`], which stays a
    /// `Copy` snapshot of counters.
    ///
    /// ```
    /// use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
    /// struct Discard;
    /// impl Exporter for Discard {
    ///     fn export(&self, r: ExportRequest) -> BoxFuture<'_, ExportReport> {
    ///         Box::pin(async move { ExportReport::success(0, Some(r.buffer)) })
    ///     }
    /// }
    /// let p = tracewire::Pipeline::builder().exporter(Discard).start().unwrap();
    /// assert!(p.endpoint_stats().is_empty());
    /// ```
    pub fn endpoint_stats(&self) -> Vec<crate::export::EndpointStats> {
        self.exporter
            .members()
            .map_or_else(Vec::new, |m| m.endpoint_stats())
    }

    /// Per-name statistics of the fleet's `dns:///` names (empty without
    /// one): re-resolutions, failed ones, and the addresses each names now.
    /// A name that stops resolving keeps its members and is retried; this
    /// is where that shows.
    ///
    /// ```
    /// use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
    /// struct Discard;
    /// impl Exporter for Discard {
    ///     fn export(&self, r: ExportRequest) -> BoxFuture<'_, ExportReport> {
    ///         Box::pin(async move { ExportReport::success(0, Some(r.buffer)) })
    ///     }
    /// }
    /// let p = tracewire::Pipeline::builder().exporter(Discard).start().unwrap();
    /// assert!(p.dns_stats().is_empty());
    /// ```
    pub fn dns_stats(&self) -> Vec<crate::export::DnsStats> {
        self.exporter
            .members()
            .map_or_else(Vec::new, |m| m.dns_stats())
    }

    /// Spans waiting in the logs and spans in exports in flight (for tests
    /// of the accounting invariant; reached through
    /// `tracewire::internal::occupancy`).
    pub(crate) fn occupancy(&self) -> (u64, u64) {
        (
            self.shared.waiting(),
            self.shared.counters.in_flight.load(Ordering::Acquire),
        )
    }

    /// Live span logs (for tests; see `tracewire::internal::live_logs`).
    pub(crate) fn live_logs(&self) -> usize {
        self.shared.live_logs()
    }

    /// Log chunks allocated (for tests and memory figures).
    pub(crate) fn chunks_allocated(&self) -> usize {
        self.shared.pool.allocated()
    }

    /// The batching configuration in use.
    pub fn batch_config(&self) -> &BatchConfig {
        &self.batch
    }

    /// Exports everything queued and waits for it, up to `timeout`.
    ///
    /// Blocks the calling thread; from async code use [`Pipeline::flush`].
    /// Returns by the timeout whatever the collector does.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.control
            .send(Control::Flush {
                deadline,
                reply: Reply::Blocking(tx),
            })
            .map_err(|_| FlushError::ShutDown)?;
        match rx.recv_timeout(timeout + Duration::from_millis(200)) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(FlushError::Timeout {
                queued: self.stats().queued,
            }),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(FlushError::ShutDown),
        }
    }

    /// [`Pipeline::force_flush`] for async callers.
    pub async fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Flush {
                deadline,
                reply: Reply::Async(tx),
            })
            .map_err(|_| FlushError::ShutDown)?;
        match tokio::time::timeout(timeout + Duration::from_millis(200), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(FlushError::ShutDown),
            Err(_) => Err(FlushError::Timeout {
                queued: self.stats().queued,
            }),
        }
    }

    /// Stops accepting spans, delivers what is queued, and returns the final
    /// statistics, by `timeout` whatever the collector does. Spans that
    /// could not be delivered in time are counted as failed.
    ///
    /// Blocks the calling thread; from async code use
    /// [`Pipeline::shutdown_async`].
    pub fn shutdown(&self, timeout: Duration) -> Result<Stats, ShutdownError> {
        let deadline = Instant::now() + timeout;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.control
            .send(Control::Shutdown {
                deadline,
                reply: Some(Reply::Blocking(tx)),
            })
            .map_err(|_| ShutdownError::AlreadyShutDown)?;
        match rx.recv_timeout(timeout + Duration::from_millis(500)) {
            Ok(r) => r,
            Err(_) => Err(self.abandoned()),
        }
    }

    /// [`Pipeline::shutdown`] for async callers.
    pub async fn shutdown_async(&self, timeout: Duration) -> Result<Stats, ShutdownError> {
        let deadline = Instant::now() + timeout;
        let (tx, rx) = oneshot::channel();
        self.control
            .send(Control::Shutdown {
                deadline,
                reply: Some(Reply::Async(tx)),
            })
            .map_err(|_| ShutdownError::AlreadyShutDown)?;
        match tokio::time::timeout(timeout + Duration::from_millis(500), rx).await {
            Ok(Ok(r)) => r,
            _ => Err(self.abandoned()),
        }
    }

    /// The worker did not answer in time (its runtime is blocked): stop
    /// recording and report what is still queued.
    fn abandoned(&self) -> ShutdownError {
        self.shared.closed.store(true, Ordering::Release);
        let stats = self.stats();
        ShutdownError::DeadlineExceeded {
            unsent: stats.queued,
            stats,
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Shutdown {
            deadline: Instant::now() + Duration::from_secs(5),
            reply: None,
        });
        // The worker thread finishes on its own; never block a drop.
        drop(self.worker_thread.take());
    }
}
