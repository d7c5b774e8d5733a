//! The seam between the batch worker and a transport: an encoded request
//! goes in, a report of what became of its spans comes out.
//!
//! tracewire's own transports (`crate::transport`) implement [`Exporter`];
//! so can an embedding application (to send batches somewhere else, or to
//! test). An exporter must never hold a request longer than one export, and
//! must resolve every request it is given: the worker counts the request's
//! spans from the [`ExportReport`].

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use bytes::BytesMut;

use crate::fleet::Router;

/// The crate-private seam of fleet routing (sealed: the trait is public
/// inside a private module, so only tracewire can name and implement it).
mod sealed {
    use super::{DnsStats, EndpointStats, Router};

    /// An exporter that sends to several collectors and routes spans by
    /// trace id (`transport::fleet`).
    #[allow(unreachable_pub)] // Sealed: reachable by no path outside the crate.
    pub trait Members: Send + Sync {
        /// The members able to take requests now: fills `router`'s route
        /// (`fleet::Router::fill`); the worker then routes each span of a
        /// batch with it and gives each request its
        /// [`ExportRequest::member`](super::ExportRequest::member). Called
        /// once per batch.
        fn route(&self, router: &mut Router);

        /// Per-collector statistics.
        fn endpoint_stats(&self) -> Vec<EndpointStats>;

        /// Per-name statistics of the `dns:///` names it resolves.
        fn dns_stats(&self) -> Vec<DnsStats>;
    }
}
pub(crate) use sealed::Members;

/// What one collector of a fleet did (see
/// [`Pipeline::endpoint_stats`](crate::Pipeline::endpoint_stats)).
///
/// ```
/// let e = tracewire::export::EndpointStats::default();
/// assert_eq!(e.exported, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// The member's address (`host:port`, `unix:PATH`, or the URL).
    pub endpoint: String,
    /// Spans it accepted.
    pub exported: u64,
    /// Spans whose export to it failed (those failed over to another
    /// member are counted here and delivered there).
    pub failed: u64,
    /// Spans it refused in partial successes.
    pub rejected: u64,
    /// Span sends to it repeated after a retryable failure.
    pub retried: u64,
    /// Request bytes written to it.
    pub bytes_sent: u64,
    /// `up`, `down` (taken out after a failure, until its backoff ends or a
    /// probe succeeds) or `gone` (no longer resolved by DNS).
    pub state: &'static str,
}

/// What became of one `dns:///` name of a fleet (see
/// [`Pipeline::dns_stats`](crate::Pipeline::dns_stats)): how often it was resolved again after start,
/// how often that failed, and how many addresses it names now.
///
/// A failed re-resolution (an error, or no address) keeps the name's
/// members as they were and is retried: at the next refresh interval, or
/// within a second after a member fails.
///
/// ```
/// let d = tracewire::export::DnsStats::default();
/// assert_eq!(d.failures, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DnsStats {
    /// The name as configured (`dns:///host:port`).
    pub name: String,
    /// Re-resolutions since start (the one at start not counted).
    pub resolutions: u64,
    /// Re-resolutions that failed (an error, or no A/AAAA record).
    pub failures: u64,
    /// Addresses the name resolved to the last time it resolved: its
    /// members in the route (others are `gone`).
    pub addresses: u64,
}

/// A boxed, sendable future (one allocation per batch, never per span).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One encoded `ExportTraceServiceRequest`, ready to send.
#[derive(Debug)]
#[non_exhaustive]
pub struct ExportRequest {
    /// `prefix` bytes reserved for the exporter's framing (zeroed), then the
    /// protobuf message.
    pub buffer: BytesMut,
    /// How many framing bytes lead the buffer (see [`Exporter::prefix_len`]).
    pub prefix: usize,
    /// How many spans the request carries.
    pub spans: usize,
    /// When the export must be resolved, retries included.
    pub deadline: Instant,
    /// The fleet member the request's traces were routed to, when
    /// tracewire's own transport sends to several collectors; 0 with one
    /// collector and for any other exporter.
    pub member: usize,
}

impl ExportRequest {
    /// The protobuf message, without the framing prefix.
    pub fn message(&self) -> &[u8] {
        self.buffer.get(self.prefix..).unwrap_or(&[])
    }
}

/// Why an export failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The collector refused the request and retrying would not help.
    #[error("collector refused the export: {0}")]
    Refused(String),
    /// Retryable failures lasted past the export deadline.
    #[error("export deadline exceeded after {attempts} attempt(s); last error: {last}")]
    DeadlineExceeded {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The exporter could not be used at all (bad TLS setup, ...).
    #[error("exporter unavailable: {0}")]
    Unavailable(String),
    /// The pipeline shut down before the export finished.
    #[error("pipeline shut down before the export finished")]
    Shutdown,
    /// A retryable failure, not retried: retries are off (or left to the
    /// caller, as a fleet does when it fails over to another collector).
    #[error(
        "collector unreachable and retries are off ({0}); enable retry or check the collector"
    )]
    Unreachable(String),
}

/// What became of one [`ExportRequest`].
#[derive(Debug)]
#[non_exhaustive]
pub struct ExportReport {
    /// `Ok` when the collector accepted the request (possibly rejecting some
    /// spans: see `rejected`).
    pub result: Result<(), ExportError>,
    /// Spans the collector rejected in a partial success.
    pub rejected: u64,
    /// With `result` `Ok`: spans that could not be delivered although the
    /// rest were (a fleet whose members answered differently); with `Err`
    /// every span failed and this is ignored.
    pub failed: u64,
    /// Span sends repeated after a retryable failure, when the exporter
    /// counts them itself (a fleet resends parts of a request); `None`:
    /// `(attempts - 1) * spans`.
    pub retried: Option<u64>,
    /// Requests sent, retries included (0 when no connection could be
    /// made: attempts that sent nothing are not counted).
    pub attempts: u32,
    /// Request bytes written, retries included.
    pub bytes_sent: u64,
    /// The request buffer, when the exporter could take it back, for reuse.
    pub buffer: Option<BytesMut>,
}

impl ExportReport {
    /// A successful report with no retries.
    pub fn success(bytes_sent: u64, buffer: Option<BytesMut>) -> Self {
        ExportReport {
            result: Ok(()),
            rejected: 0,
            failed: 0,
            retried: None,
            attempts: 1,
            bytes_sent,
            buffer,
        }
    }

    /// A failed report.
    pub fn failure(error: ExportError, attempts: u32, bytes_sent: u64) -> Self {
        ExportReport {
            result: Err(error),
            rejected: 0,
            failed: 0,
            retried: None,
            attempts,
            bytes_sent,
            buffer: None,
        }
    }
}

/// Sends encoded requests somewhere.
///
/// ```
/// use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
///
/// /// Accepts everything and keeps nothing.
/// struct Discard;
///
/// impl Exporter for Discard {
///     fn export(&self, request: ExportRequest) -> BoxFuture<'_, ExportReport> {
///         Box::pin(async move {
///             let n = request.message().len() as u64;
///             ExportReport::success(n, Some(request.buffer))
///         })
///     }
/// }
/// ```
pub trait Exporter: Send + Sync + 'static {
    /// Framing bytes to reserve before the message (5 for gRPC's length
    /// prefix, 0 for HTTP).
    fn prefix_len(&self) -> usize {
        0
    }

    /// The largest request (the protobuf message, before compression) the
    /// peer accepts; the worker closes a batch before the span that would
    /// take it past this, and rejects a span that alone exceeds it. `None`:
    /// no limit but the batch's span count.
    fn max_request_bytes(&self) -> Option<usize> {
        None
    }

    /// Sends one request, retrying as the exporter sees fit until
    /// `request.deadline`, and reports the outcome.
    fn export(&self, request: ExportRequest) -> BoxFuture<'_, ExportReport>;

    /// The exporter's `otel.component.type` in OpenTelemetry's
    /// self-observability metrics ([`crate::metrics::write_otel_prometheus`]):
    /// `otlp_grpc_span_exporter` and `otlp_http_span_exporter` for
    /// tracewire's own; by default `span_exporter`. Lowercase with
    /// underscores, as the convention asks.
    fn component_type(&self) -> &'static str {
        "span_exporter"
    }

    /// tracewire's own fleet transport (several collectors, each trace
    /// routed whole to one): how the worker learns the members. Its type
    /// is private, so no exporter outside tracewire can implement it; a
    /// custom exporter gets every request with
    /// [`member`](ExportRequest::member) 0.
    #[doc(hidden)]
    fn members(&self) -> Option<&dyn Members> {
        None
    }

    /// Called once when the pipeline shuts down, after the last export.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
