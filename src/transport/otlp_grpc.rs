//! OTLP/gRPC: the unary `TraceService/Export` call over HTTP/2 (h2), with
//! gRPC's framing written by tracewire ([`crate::internal::codec::grpc`]):
//! the 5-byte length prefix goes into
//! the space the batch worker reserved in front of the request, so the
//! message is never copied again.
//!
//! One connection multiplexes concurrent exports; after a GOAWAY, a reset
//! or a lost connection the next attempt reconnects transparently.
//!
//! The sans-IO part, [`classify`], maps `grpc-status` (from trailers or a
//! trailers-only response, or derived from a non-200 HTTP status) to the
//! attempt's [`Attempt`] as the OTLP specification says: retry on `CANCELLED`,
//! `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `UNAVAILABLE` and
//! `DATA_LOSS`; on `RESOURCE_EXHAUSTED` when `grpc-status-details-bin`
//! carries a `RetryInfo`, whose delay is honoured, or when its message says
//! memory ran short (the Collector's memory limiter extension refuses data
//! that way, without `RetryInfo`: see [`classify`]); fail otherwise. A
//! response over 4 MiB is a non-retryable error.
//!
//! This module must never hold a batch longer than one export, and never
//! buffers more than [`MAX_GRPC_RESPONSE`] bytes of a response.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderName, HeaderValue, Method, Request};
use tokio::sync::Mutex as AsyncMutex;

use super::conn::{connect, ConnectError, Heard};
use super::options::{
    compress_into, Compression, ExporterConfig, TransportError, GRPC_COMPONENT, USER_AGENT,
};
use super::outcome::{finish_export, PartialSuccessLog, Sent};
use crate::codec::grpc::{
    code, code_for_http_status, code_name, finish_frame, grpc_timeout, read_message,
    status_from_headers, EXPORT_PATH, MAX_GRPC_RESPONSE,
};
use crate::codec::response::{decode_export_response, RpcStatus};
use crate::endpoint::{Endpoint, EndpointError};
use crate::export::{BoxFuture, ExportError, ExportReport, ExportRequest, Exporter};
use crate::pool::Pool;
use crate::priority::Bounded;
use crate::retry::{self, Accepted, Attempt, RetryConfig};
use crate::tls::{Alpn, Connector};

/// Classifies a call's final status, sans-IO: `status`, `message` and
/// `details` from the trailers (or a trailers-only response), and for `OK`
/// the response body as received (one length-prefixed
/// `ExportTraceServiceResponse`, whose partial success it reads).
///
/// `RESOURCE_EXHAUSTED` is ambiguous: a message over the collector's size
/// limit (permanent: the same request fails again) and a collector short of
/// memory (transient) both answer it. OTLP retries it only with a
/// `RetryInfo`; the OpenTelemetry Collector's memory limiter extension sends
/// none, but says why ("data refused due to high memory usage"), and the
/// same refusal over OTLP/HTTP is a 429, which is retried. So a
/// `RESOURCE_EXHAUSTED` whose message names memory is retried with backoff
/// like that 429; any other one without `RetryInfo` fails for good, with
/// what to change.
///
/// ```
/// use std::time::Duration;
/// use tracewire::internal::codec::grpc::code;
/// use tracewire::internal::codec::response::RpcStatus;
/// use tracewire::internal::otlp_grpc::classify;
/// use tracewire::internal::retry::Attempt;
/// assert!(matches!(classify(code::UNAVAILABLE, "down", None, None), Attempt::Retry { after: None, .. }));
/// assert!(matches!(classify(code::RESOURCE_EXHAUSTED, "quota", None, None), Attempt::Fail(_)));
/// let refused = "data refused due to high memory usage";
/// assert!(matches!(classify(code::RESOURCE_EXHAUSTED, refused, None, None), Attempt::Retry { after: None, .. }));
/// let info = RpcStatus { retry_delay: Some(Duration::from_secs(1)), ..RpcStatus::default() };
/// assert!(matches!(classify(code::RESOURCE_EXHAUSTED, "quota", Some(&info), None), Attempt::Retry { after: Some(_), .. }));
/// ```
pub fn classify(
    status: u32,
    message: &str,
    details: Option<&RpcStatus>,
    response: Option<&[u8]>,
) -> Attempt {
    if status == code::OK {
        let partial = response
            .and_then(|b| read_message(b, MAX_GRPC_RESPONSE).ok().flatten())
            .and_then(|m| decode_export_response(m).ok())
            .unwrap_or_default();
        return Attempt::Accepted(Accepted {
            rejected: u64::try_from(partial.rejected_spans).unwrap_or(0),
            message: partial.error_message,
        });
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
        | code::DATA_LOSS => Attempt::Retry {
            after: retry_info,
            reason,
        },
        code::RESOURCE_EXHAUSTED if retry_info.is_some() => Attempt::Retry {
            after: retry_info,
            reason,
        },
        code::RESOURCE_EXHAUSTED if names_memory(message) => Attempt::Retry {
            after: None,
            reason,
        },
        code::RESOURCE_EXHAUSTED => Attempt::Fail(ExportError::Refused(format!(
            "{reason}; not retried (OTLP retries RESOURCE_EXHAUSTED only with RetryInfo): if the \
             collector refused a message over its size limit, lower tracing.batch.maxExportBytes \
             or raise the receiver's max_recv_msg_size_mib"
        ))),
        _ => Attempt::Fail(ExportError::Refused(reason)),
    }
}

/// Whether a status message says memory ran short (ASCII case-insensitive,
/// no allocation): the Collector's memory limiter's refusal.
fn names_memory(message: &str) -> bool {
    message
        .as_bytes()
        .windows(6)
        .any(|w| w.eq_ignore_ascii_case(b"memory"))
}

/// The OTLP/gRPC exporter.
pub(crate) struct GrpcExporter {
    endpoint: Endpoint,
    uri: http::Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Option<Connector>,
    compression: Compression,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryConfig,
    /// The shared connection, and whether its peer ever sent a byte.
    keep_alive: Duration,
    keep_alive_timeout: Duration,
    max_connection_age: Duration,
    client: AsyncMutex<Option<Conn>>,
    /// Connections in a row the peer closed without sending a byte.
    silent_closes: AtomicU32,
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
    pub(crate) fn new(config: &ExporterConfig) -> Result<Self, TransportError> {
        let endpoint = config.endpoint.clone();
        let tls = if endpoint.is_tls() {
            Some(Connector::new(&config.tls, Alpn::H2)?)
        } else {
            None
        };
        let scheme = if endpoint.is_tls() { "https" } else { "http" };
        let uri = format!("{scheme}://{}{EXPORT_PATH}", endpoint.authority())
            .parse::<http::Uri>()
            .map_err(|e| EndpointError::Invalid {
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
            keep_alive: config.keep_alive,
            keep_alive_timeout: config.keep_alive_timeout,
            max_connection_age: config.max_connection_age,
            client: AsyncMutex::new(None),
            silent_closes: AtomicU32::new(0),
            gzip_pool: Pool::new(4, 16 << 20, BytesMut::new),
            partial: PartialSuccessLog::default(),
        })
    }

    /// A ready handle on the shared connection, connecting when there is
    /// none or the last one is gone (GOAWAY, reset, loss).
    /// The connection to use: the current one while it is usable and
    /// younger than `max_connection_age` (an older one takes no new
    /// requests; those in flight finish on it and it closes), else a new
    /// one, checked by PINGs while requests wait on it.
    async fn client(&self, left: Duration) -> Result<Conn, ConnectError> {
        let mut guard = self.client.lock().await;
        if let Some(c) = guard.as_ref() {
            let aged =
                !self.max_connection_age.is_zero() && c.born.elapsed() >= self.max_connection_age;
            if aged {
                log::debug!(
                    "tracewire: rotating the gRPC connection to {} (older than {:?})",
                    self.endpoint.member_label(),
                    self.max_connection_age
                );
                *guard = None;
            } else {
                match c.send.clone().ready().await {
                    Ok(ready) => {
                        return Ok(Conn {
                            send: ready,
                            ..c.clone()
                        })
                    }
                    Err(_) => *guard = None,
                }
            }
        }
        let stream = connect(
            &self.endpoint,
            self.tls.as_ref(),
            self.connect_timeout.min(left),
        )
        .await?;
        let (stream, heard) = Heard::new(stream);
        let (client, mut conn) = h2::client::Builder::new()
            .initial_window_size(1 << 20)
            .initial_connection_window_size(1 << 20)
            .handshake::<_, Bytes>(stream)
            .await
            .map_err(|e| ConnectError {
                message: format!(
                    "HTTP/2 handshake with {}: {e}",
                    self.endpoint.member_label()
                ),
                permanent: false,
            })?;
        let ping_pong = conn.ping_pong();
        let task = tokio::spawn(Bounded::new(async move {
            if let Err(e) = conn.await {
                log::debug!("tracewire: gRPC connection ended: {e}");
            }
        }));
        let in_flight = Arc::new(AtomicUsize::new(0));
        if let (false, Some(pp)) = (self.keep_alive.is_zero(), ping_pong) {
            tokio::spawn(keep_alive(
                pp,
                self.keep_alive,
                self.keep_alive_timeout,
                in_flight.clone(),
                task.abort_handle(),
                self.endpoint.member_label(),
            ));
        }
        let ready = client.clone().ready().await.map_err(|e| ConnectError {
            message: format!("HTTP/2 connection to {}: {e}", self.endpoint.member_label()),
            permanent: false,
        })?;
        let conn = Conn {
            send: client,
            heard,
            born: Instant::now(),
            in_flight,
        };
        *guard = Some(conn.clone());
        Ok(Conn {
            send: ready,
            ..conn
        })
    }

    fn closed_silently_again(&self, heard: &AtomicBool) -> bool {
        if heard.load(Ordering::Relaxed) {
            self.silent_closes.store(0, Ordering::Relaxed);
            return false;
        }
        self.silent_closes.fetch_add(1, Ordering::Relaxed) + 1 >= 2
    }

    /// What an HTTP/2 error during a call means: `(retryable, why)`. A
    /// peer whose bytes are not HTTP/2 frames (an OTLP/HTTP port, a plain
    /// HTTP server) fails for good, with a message that says so.
    fn h2_error(&self, what: &str, e: h2::Error) -> (bool, String) {
        use h2::Reason;
        if e.is_go_away() && e.reason() == Some(Reason::NO_ERROR) {
            // A graceful GOAWAY refused the call: the peer did not process
            // it (RFC 9113 §6.8), so it goes again on a new connection.
            return (true, format!("{GRACEFUL_GOAWAY}: {what}: {e}"));
        }
        let malformed = matches!(
            e.reason(),
            Some(Reason::FRAME_SIZE_ERROR | Reason::PROTOCOL_ERROR)
        ) && !e.is_remote();
        if malformed {
            return (
                false,
                format!(
                    "{} does not speak HTTP/2, which OTLP/gRPC needs ({what}: {e}); \
                     is it an OTLP/HTTP port (4318)? then configure tracing.otlp.http with \
                     http://{}/v1/traces, or point tracing.otlp.grpc at the gRPC port (4317)",
                    self.endpoint.authority(),
                    self.endpoint.authority()
                ),
            );
        }
        (true, format!("{what}: {e}"))
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
        if self.compression != Compression::None {
            req = req.header("grpc-encoding", self.compression.as_str());
        }
        let mut req = req.body(()).map_err(|e| e.to_string())?;
        for (name, value) in &self.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(req)
    }

    /// One call: send, read a bounded response, classify.
    /// One attempt; a call a graceful GOAWAY refused goes once more, at
    /// once, on a new connection (even with retries off: it was not sent).
    async fn attempt(&self, framed: Bytes, left: Duration, sent: &Sent) -> Attempt {
        let started = Instant::now();
        match self.attempt_once(framed.clone(), left, sent).await {
            Attempt::Retry { reason, .. } if reason.starts_with(GRACEFUL_GOAWAY) => {
                let left = left.saturating_sub(started.elapsed());
                self.attempt_once(framed, left, sent).await
            }
            other => other,
        }
    }

    async fn attempt_once(&self, framed: Bytes, left: Duration, sent: &Sent) -> Attempt {
        let started = Instant::now();
        let Conn {
            send: mut client,
            heard,
            in_flight,
            ..
        } = match self.client(left).await {
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
        let _waiting = InFlightGuard::new(in_flight);
        let call = async {
            let (response, mut stream) = client
                .send_request(req, false)
                .map_err(|e| self.h2_error("starting the call", e))?;
            sent.request(framed.len() as u64);
            stream
                .send_data(framed, true)
                .map_err(|e| self.h2_error("sending the request", e))?;
            let response = response
                .await
                .map_err(|e| self.h2_error("awaiting the response", e))?;
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
                let chunk = chunk.map_err(|e| self.h2_error("reading the response", e))?;
                let _ = body.flow_control().release_capacity(chunk.len());
                buf.extend_from_slice(&chunk);
                // Refuse a hostile length prefix before buffering for it.
                if let Err(e) = read_message(&buf, MAX_GRPC_RESPONSE) {
                    return Err((false, format!("invalid response message: {e}")));
                }
                if buf.len() > MAX_GRPC_RESPONSE + 5 {
                    return Err((
                        false,
                        format!(
                            "response larger than {} MiB, which OTLP treats as a non-retryable \
                             error",
                            MAX_GRPC_RESPONSE >> 20
                        ),
                    ));
                }
            }
            let trailers = body
                .trailers()
                .await
                .map_err(|e| self.h2_error("reading the trailers", e))?;
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
                    if self.closed_silently_again(&heard) {
                        return Attempt::Fail(ExportError::Unavailable(format!(
                            "{} closed the connection twice without an HTTP/2 answer ({reason}): \
                             it does not speak HTTP/2, which OTLP/gRPC needs; is it an OTLP/HTTP \
                             port (4318)? then configure tracing.otlp.http with http://{}/v1/traces, \
                             or point tracing.otlp.grpc at the gRPC port (4317); if a proxy is in \
                             front of the collector, check that it has a healthy backend",
                            self.endpoint.authority(),
                            self.endpoint.authority()
                        )));
                    }
                    return Attempt::Retry {
                        after: None,
                        reason,
                    };
                }
                self.forget_connection().await;
                return Attempt::Fail(ExportError::Refused(reason));
            }
        };
        if heard.load(Ordering::Relaxed) {
            self.silent_closes.store(0, Ordering::Relaxed);
        }
        classify(status, &message, details.as_ref(), body.as_deref())
    }

    async fn export_inner(&self, request: ExportRequest) -> ExportReport {
        let deadline = request.deadline;
        let spans = request.spans as u64;
        let (mut framed, original) = match self.compression {
            // The worker reserved the prefix in front of the message.
            Compression::None if request.prefix == 5 => (request.buffer, None),
            // Compressed (or no prefix reserved): frame into another buffer.
            _ => {
                let mut out = self.gzip_pool.take();
                out.extend_from_slice(&[0; 5]);
                if let Err(e) = compress_into(self.compression, &mut out, request.message()) {
                    return ExportReport::failure(ExportError::Refused(e), 0, 0);
                }
                // The request's own buffer goes back to the worker's pool.
                (out, Some(request.buffer))
            }
        };
        if let Err(e) = finish_frame(&mut framed, self.compression != Compression::None) {
            return ExportReport::failure(ExportError::Refused(e.to_string()), 0, 0);
        }
        let framed = framed.freeze();
        let sent = Sent::default();
        let outcome = retry::run(&self.retry, deadline, |_, left| {
            let framed = framed.clone();
            let sent = &sent;
            async move { self.attempt(framed, left.min(self.timeout), sent).await }
        })
        .await;
        finish_export(
            outcome,
            spans,
            &sent,
            framed,
            original,
            &self.gzip_pool,
            &self.partial,
        )
    }
}

/// The OpenTelemetry Collector's default gRPC message limit
/// (`max_recv_msg_size_mib: 4`), less the 5-byte message prefix.
/// How a call refused by a graceful GOAWAY is told apart.
const GRACEFUL_GOAWAY: &str = "refused by a graceful GOAWAY";

/// One HTTP/2 connection: the handle to start calls on, whether the peer
/// ever sent a byte, when it was made, and how many calls wait on it.
#[derive(Clone)]
struct Conn {
    send: SendRequest<Bytes>,
    heard: Arc<AtomicBool>,
    born: Instant,
    in_flight: Arc<AtomicUsize>,
}

/// Counts a call waiting on a connection while it lives.
struct InFlightGuard(Arc<AtomicUsize>);

impl InFlightGuard {
    fn new(n: Arc<AtomicUsize>) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(n)
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Every `every`, while calls wait on the connection, sends an HTTP/2 PING;
/// a PING unanswered within `timeout` closes the connection (its calls fail
/// and are retried, on another fleet member when there is one). Idle
/// connections are not pinged: the OpenTelemetry Collector's default
/// keep-alive enforcement (gRPC's) answers pings without calls with GOAWAY.
async fn keep_alive(
    mut pp: h2::PingPong,
    every: Duration,
    timeout: Duration,
    in_flight: Arc<AtomicUsize>,
    connection: tokio::task::AbortHandle,
    peer: String,
) {
    loop {
        tokio::time::sleep(every).await;
        if connection.is_finished() {
            return;
        }
        if in_flight.load(Ordering::Relaxed) == 0 {
            continue;
        }
        match tokio::time::timeout(timeout, pp.ping(h2::Ping::opaque())).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return,
            Err(_) => {
                log::warn!(
                    "tracewire: {peer} did not answer an HTTP/2 PING within {timeout:?}; \
                     closing the connection (its exports are retried)"
                );
                connection.abort();
                return;
            }
        }
    }
}

pub(crate) const DEFAULT_MAX_MESSAGE: usize = 4 * 1024 * 1024 - 5;

impl Exporter for GrpcExporter {
    fn component_type(&self) -> &'static str {
        GRPC_COMPONENT
    }

    fn max_request_bytes(&self) -> Option<usize> {
        Some(DEFAULT_MAX_MESSAGE)
    }

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
                matches!(classify(c, "", None, None), Attempt::Retry { .. }),
                "{c}"
            );
        }
        for c in [2u32, 3, 5, 6, 7, 8, 9, 12, 13, 16] {
            assert!(
                matches!(classify(c, "", None, None), Attempt::Fail(_)),
                "{c}"
            );
        }
        assert_eq!(
            classify(0, "", None, None),
            Attempt::Accepted(Accepted::default())
        );
    }
}
