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

/// A boxed, sendable future (one allocation per batch, never per span).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One encoded `ExportTraceServiceRequest`, ready to send.
#[derive(Debug)]
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
}

impl ExportRequest {
    /// The protobuf message, without the framing prefix.
    pub fn message(&self) -> &[u8] {
        self.buffer.get(self.prefix..).unwrap_or(&[])
    }
}

/// Why an export failed for good.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
}

/// What became of one [`ExportRequest`].
#[derive(Debug)]
pub struct ExportReport {
    /// `Ok` when the collector accepted the request (possibly rejecting some
    /// spans: see `rejected`).
    pub result: Result<(), ExportError>,
    /// Spans the collector rejected in a partial success.
    pub rejected: u64,
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

    /// Called once when the pipeline shuts down, after the last export.
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
