//! OTLP/gRPC: the unary `TraceService/Export` call over HTTP/2 (h2), with
//! gRPC's framing written by tracewire: the 5-byte length prefix goes into
//! the space the batch worker reserved in front of the request, so the
//! message is never copied again.
//!
//! One connection multiplexes concurrent exports; after a GOAWAY, a reset
//! or a lost connection the next attempt reconnects transparently.
//!
//! The sans-IO part, [`classify`], maps `grpc-status` (from trailers or a
//! trailers-only response, or derived from a non-200 HTTP status) to the
//! export's outcome as the OTLP specification says: retry on `CANCELLED`,
//! `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE` and
//! `DATA_LOSS`; on `RESOURCE_EXHAUSTED` only when `grpc-status-details-bin`
//! carries a `RetryInfo`, whose delay is honoured; fail otherwise.
//!
//! This module must never hold a batch longer than one export, and never
//! buffers more than [`MAX_GRPC_RESPONSE`] bytes of a response.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use tokio::sync::Mutex as AsyncMutex;

use super::response::{
    decode_export_response, decode_grpc_message, decode_status_details_bin, grpc_message,
    grpc_timeout, write_grpc_prefix, RpcStatus, MAX_GRPC_RESPONSE,
};
use super::tls::{Alpn, Connector};
use super::{
    connect, finish_export, gzip_into, ConnectError, Endpoint, PartialSuccessLog, TransportError,
    USER_AGENT,
};
use crate::config::{Compression, ExporterConfig};
use crate::export::{BoxFuture, ExportError, ExportReport, ExportRequest, Exporter};
use crate::pool::Pool;
use crate::retry::{self, Attempt, RetryConfig};

/// The method path of the OTLP trace export call.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// gRPC status codes tracewire distinguishes.
#[allow(missing_docs)]
pub mod code {
    pub const OK: u32 = 0;
    pub const CANCELLED: u32 = 1;
    pub const UNKNOWN: u32 = 2;
    pub const INVALID_ARGUMENT: u32 = 3;
    pub const DEADLINE_EXCEEDED: u32 = 4;
    pub const NOT_FOUND: u32 = 5;
    pub const PERMISSION_DENIED: u32 = 7;
    pub const RESOURCE_EXHAUSTED: u32 = 8;
    pub const ABORTED: u32 = 10;
    pub const OUT_OF_RANGE: u32 = 11;
    pub const UNIMPLEMENTED: u32 = 12;
    pub const INTERNAL: u32 = 13;
    pub const UNAVAILABLE: u32 = 14;
    pub const DATA_LOSS: u32 = 15;
    pub const UNAUTHENTICATED: u32 = 16;
}

/// The name of a gRPC status code.
pub fn code_name(c: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(c as usize).copied().unwrap_or("UNKNOWN")
}

/// The gRPC code for a non-200 HTTP status, as gRPC's HTTP mapping says.
pub fn code_for_http_status(status: u16) -> u32 {
    match status {
        400 => code::INTERNAL,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        404 => code::UNIMPLEMENTED,
        429 | 502 | 503 | 504 => code::UNAVAILABLE,
        _ => code::UNKNOWN,
    }
}

/// What a gRPC status means for the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcOutcome {
    /// `OK`.
    Ok,
    /// Retry, after `after` when the server said.
    Retry {
        /// From `RetryInfo`.
        after: Option<Duration>,
        /// Code and message.
        reason: String,
    },
    /// Failed for good.
    Fail {
        /// Code and message.
        reason: String,
    },
}

/// Classifies a final gRPC status, sans-IO.
///
/// ```
/// use std::time::Duration;
/// use tracewire::transport::grpc::{classify, code, GrpcOutcome};
/// use tracewire::transport::response::RpcStatus;
/// assert!(matches!(classify(code::UNAVAILABLE, "down", None), GrpcOutcome::Retry { after: None, .. }));
/// assert!(matches!(classify(code::RESOURCE_EXHAUSTED, "quota", None), GrpcOutcome::Fail { .. }));
/// let info = RpcStatus { retry_delay: Some(Duration::from_secs(1)), ..RpcStatus::default() };
/// assert!(matches!(classify(code::RESOURCE_EXHAUSTED, "quota", Some(&info)), GrpcOutcome::Retry { after: Some(_), .. }));
/// ```
pub fn classify(status: u32, message: &str, details: Option<&RpcStatus>) -> GrpcOutcome {
    if status == code::OK {
        return GrpcOutcome::Ok;
    }
    let reason = if message.is_empty() {
        format!("gRPC status {status} ({})", code_name(status))
    } else {
        format!("gRPC status {status} ({}): {message}", code_name(status))
    };
    let retry_info = details.and_then(|d| d.retry_delay);
    match status {
        code::CANCELLED
        | code::DEADLINE_EXCEEDED
        | code::ABORTED
        | code::OUT_OF_RANGE
        | code::UNAVAILABLE
        | code::DATA_LOSS => GrpcOutcome::Retry {
            after: retry_info,
            reason,
        },
        code::RESOURCE_EXHAUSTED if retry_info.is_some() => GrpcOutcome::Retry {
            after: retry_info,
            reason,
        },
        _ => GrpcOutcome::Fail { reason },
    }
}

/// The final status of a call read from a header block (trailers, or the
/// headers of a trailers-only response): code, message, details.
pub fn status_from_headers(headers: &HeaderMap) -> Option<(u32, String, Option<RpcStatus>)> {
    let status = headers.get("grpc-status")?;
    let code = std::str::from_utf8(status.as_bytes())
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(code::UNKNOWN);
    let message = headers
        .get("grpc-message")
        .map(|v| decode_grpc_message(v.as_bytes()))
        .unwrap_or_default();
    let details = headers
        .get("grpc-status-details-bin")
        .and_then(|v| decode_status_details_bin(v.as_bytes()).ok());
    Some((code, message, details))
}

/// The OTLP/gRPC exporter.
pub struct GrpcExporter {
    endpoint: Endpoint,
    uri: http::Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Option<Connector>,
    compression: Compression,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryConfig,
    client: AsyncMutex<Option<SendRequest<Bytes>>>,
    gzip_pool: Pool<BytesMut>,
    partial: PartialSuccessLog,
}

impl std::fmt::Debug for GrpcExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcExporter")
            .field("endpoint", &self.endpoint.to_string())
            .finish_non_exhaustive()
    }
}

impl GrpcExporter {
    /// An exporter for `config` (its protocol is not checked).
    pub fn new(config: &ExporterConfig) -> Result<Self, TransportError> {
        let endpoint = config.endpoint.clone();
        let tls = if endpoint.is_tls() {
            Some(Connector::new(&config.tls, Alpn::H2)?)
        } else {
            None
        };
        let scheme = if endpoint.is_tls() { "https" } else { "http" };
        let uri = format!("{scheme}://{}{EXPORT_PATH}", endpoint.authority())
            .parse::<http::Uri>()
            .map_err(|e| super::EndpointError::Invalid {
                value: endpoint.to_string(),
                reason: e.to_string(),
                expected: "<host>:<port>",
            })?;
        Ok(GrpcExporter {
            endpoint,
            uri,
            headers: config.headers.clone(),
            tls,
            compression: config.compression,
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            retry: config.retry,
            client: AsyncMutex::new(None),
            gzip_pool: Pool::new(4, 16 << 20, BytesMut::new),
            partial: PartialSuccessLog::default(),
        })
    }

    /// A ready handle on the shared connection, connecting when there is
    /// none or the last one is gone (GOAWAY, reset, loss).
    async fn client(&self, left: Duration) -> Result<SendRequest<Bytes>, ConnectError> {
        let mut guard = self.client.lock().await;
        if let Some(c) = guard.as_ref() {
            match c.clone().ready().await {
                Ok(ready) => return Ok(ready),
                Err(_) => *guard = None,
            }
        }
        let stream = connect(
            &self.endpoint,
            self.tls.as_ref(),
            self.connect_timeout.min(left),
        )
        .await?;
        let (client, conn) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(1 << 20)
            .handshake::<_, Bytes>(stream)
            .await
            .map_err(|e| ConnectError {
                message: format!("HTTP/2 handshake with {}: {e}", self.endpoint.authority()),
                permanent: false,
            })?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                log::debug!("tracewire: gRPC connection ended: {e}");
            }
        });
        let ready = client.clone().ready().await.map_err(|e| ConnectError {
            message: format!("HTTP/2 connection to {}: {e}", self.endpoint.authority()),
            permanent: false,
        })?;
        *guard = Some(client);
        Ok(ready)
    }

    async fn forget_connection(&self) {
        *self.client.lock().await = None;
    }

    fn request(&self, timeout: Duration) -> Result<Request<()>, String> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(http::header::CONTENT_TYPE, "application/grpc")
            .header(http::header::TE, "trailers")
            .header("grpc-timeout", grpc_timeout(timeout))
            .header(http::header::USER_AGENT, USER_AGENT);
        if self.compression == Compression::Gzip {
            req = req.header("grpc-encoding", "gzip");
        }
        let mut req = req.body(()).map_err(|e| e.to_string())?;
        for (name, value) in &self.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(req)
    }

    /// One call: send, read a bounded response, classify.
    async fn attempt(
        &self,
        framed: Bytes,
        left: Duration,
        sent: &AtomicU64,
    ) -> Attempt<(u64, String)> {
        let started = Instant::now();
        let mut client = match self.client(left).await {
            Ok(c) => c,
            Err(e) if e.permanent => return Attempt::Fail(ExportError::Unavailable(e.message)),
            Err(e) => {
                return Attempt::Retry {
                    after: None,
                    reason: e.message,
                }
            }
        };
        let left = left.saturating_sub(started.elapsed());
        let req = match self.request(left) {
            Ok(r) => r,
            Err(e) => return Attempt::Fail(ExportError::Unavailable(e)),
        };
        let call = async {
            let (response, mut stream) = client
                .send_request(req, false)
                .map_err(|e| (true, format!("starting the call: {e}")))?;
            sent.fetch_add(framed.len() as u64, Ordering::Relaxed);
            stream
                .send_data(framed, true)
                .map_err(|e| (true, format!("sending the request: {e}")))?;
            let response = response
                .await
                .map_err(|e| (true, format!("awaiting the response: {e}")))?;
            let (parts, mut body) = response.into_parts();
            if let Some(status) = status_from_headers(&parts.headers) {
                // Trailers-only response.
                return Ok((status, None));
            }
            if parts.status != http::StatusCode::OK {
                let code = code_for_http_status(parts.status.as_u16());
                return Ok(((code, format!("HTTP {}", parts.status), None), None));
            }
            let mut buf = BytesMut::new();
            while let Some(chunk) = body.data().await {
                let chunk = chunk.map_err(|e| (true, format!("reading the response: {e}")))?;
                let _ = body.flow_control().release_capacity(chunk.len());
                buf.extend_from_slice(&chunk);
                // Refuse a hostile length prefix before buffering for it.
                if let Err(e) = grpc_message(&buf, MAX_GRPC_RESPONSE) {
                    return Err((false, format!("invalid response message: {e}")));
                }
                if buf.len() > MAX_GRPC_RESPONSE + 5 {
                    return Err((false, "response larger than the limit".to_owned()));
                }
            }
            let trailers = body
                .trailers()
                .await
                .map_err(|e| (true, format!("reading the trailers: {e}")))?;
            let status = trailers.as_ref().and_then(status_from_headers).unwrap_or((
                code::UNKNOWN,
                "response ended without grpc-status".to_owned(),
                None,
            ));
            Ok((status, Some(buf.freeze())))
        };
        let result = match tokio::time::timeout(left, call).await {
            Err(_) => {
                return Attempt::Retry {
                    after: None,
                    reason: format!(
                        "no response within {left:?} ({})",
                        code_name(code::DEADLINE_EXCEEDED)
                    ),
                }
            }
            Ok(r) => r,
        };
        let ((status, message, details), body) = match result {
            Ok(r) => r,
            Err((connection_level, reason)) => {
                if connection_level {
                    self.forget_connection().await;
                    return Attempt::Retry {
                        after: None,
                        reason,
                    };
                }
                self.forget_connection().await;
                return Attempt::Fail(ExportError::Refused(reason));
            }
        };
        match classify(status, &message, details.as_ref()) {
            GrpcOutcome::Ok => {
                let partial = body
                    .as_deref()
                    .and_then(|b| grpc_message(b, MAX_GRPC_RESPONSE).ok().flatten())
                    .and_then(|m| decode_export_response(m).ok())
                    .unwrap_or_default();
                Attempt::Done((
                    u64::try_from(partial.rejected_spans).unwrap_or(0),
                    partial.error_message,
                ))
            }
            GrpcOutcome::Retry { after, reason } => Attempt::Retry { after, reason },
            GrpcOutcome::Fail { reason } => Attempt::Fail(ExportError::Refused(reason)),
        }
    }

    async fn export_inner(&self, request: ExportRequest) -> ExportReport {
        let deadline = request.deadline;
        let spans = request.spans as u64;
        let (framed, reclaim) = match self.compression {
            Compression::None if request.prefix == 5 => {
                let mut buffer = request.buffer;
                let len = buffer.len() - 5;
                let mut prefix = [0u8; 5];
                if !write_grpc_prefix(&mut prefix, false, len) {
                    return ExportReport::failure(
                        ExportError::Refused(
                            "request larger than gRPC's 4 GiB message limit".into(),
                        ),
                        0,
                        0,
                    );
                }
                buffer[..5].copy_from_slice(&prefix);
                (buffer.freeze(), true)
            }
            _ => {
                // Compressed (or no prefix reserved): frame into another buffer.
                let mut out = self.gzip_pool.take();
                out.extend_from_slice(&[0; 5]);
                let compressed = self.compression == Compression::Gzip;
                if compressed {
                    gzip_into(&mut out, request.message());
                } else {
                    out.extend_from_slice(request.message());
                }
                let mut prefix = [0u8; 5];
                if !write_grpc_prefix(&mut prefix, compressed, out.len() - 5) {
                    return ExportReport::failure(
                        ExportError::Refused(
                            "request larger than gRPC's 4 GiB message limit".into(),
                        ),
                        0,
                        0,
                    );
                }
                out[..5].copy_from_slice(&prefix);
                (out.freeze(), false)
            }
        };
        let sent = AtomicU64::new(0);
        let outcome = retry::run(&self.retry, deadline, |_, left| {
            let framed = framed.clone();
            let sent = &sent;
            async move { self.attempt(framed, left.min(self.timeout), sent).await }
        })
        .await;
        finish_export(
            outcome,
            spans,
            sent.load(Ordering::Relaxed),
            framed,
            reclaim,
            &self.gzip_pool,
            &self.partial,
        )
    }
}

impl Exporter for GrpcExporter {
    fn prefix_len(&self) -> usize {
        if self.compression == Compression::None {
            5
        } else {
            0
        }
    }

    fn export(&self, request: ExportRequest) -> BoxFuture<'_, ExportReport> {
        Box::pin(self.export_inner(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_codes_per_the_otlp_spec() {
        for c in [1u32, 4, 10, 11, 14, 15] {
            assert!(
                matches!(classify(c, "", None), GrpcOutcome::Retry { .. }),
                "{c}"
            );
        }
        for c in [2u32, 3, 5, 6, 7, 8, 9, 12, 13, 16] {
            assert!(
                matches!(classify(c, "", None), GrpcOutcome::Fail { .. }),
                "{c}"
            );
        }
        assert_eq!(classify(0, "", None), GrpcOutcome::Ok);
    }

    #[test]
    fn status_from_trailers() {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", HeaderValue::from_static("14"));
        h.insert(
            "grpc-message",
            HeaderValue::from_static("collector%20draining"),
        );
        let (c, m, d) = status_from_headers(&h).unwrap();
        assert_eq!((c, m.as_str(), d), (14, "collector draining", None));
        assert!(status_from_headers(&HeaderMap::new()).is_none());
        h.insert("grpc-status", HeaderValue::from_static("banana"));
        assert_eq!(status_from_headers(&h).unwrap().0, code::UNKNOWN);
    }

    #[test]
    fn http_statuses_map_to_grpc_codes() {
        assert_eq!(code_for_http_status(503), code::UNAVAILABLE);
        assert_eq!(code_for_http_status(401), code::UNAUTHENTICATED);
        assert_eq!(code_for_http_status(418), code::UNKNOWN);
    }
}
