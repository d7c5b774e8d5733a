//! OTLP/HTTP: binary protobuf `POST`s over HTTP/1.1 (hyper), with
//! keep-alive connection reuse, optional gzip, optional TLS.
//!
//! The sans-IO part, [`classify`], turns a response (status, `Retry-After`,
//! bounded body) into the attempt's [`Attempt`] following the OTLP
//! specification: 2xx succeeds (reading `partial_success`); 429, 502, 503
//! and 504 are retried, honouring `Retry-After` (seconds or an HTTP date);
//! any other status (413 among them) fails for good, surfacing the
//! collector's `google.rpc.Status` message or its plain-text body (the
//! Collector's memory limiter answers 429 with a text body: retried). A
//! response body over [`MAX_RESPONSE_BODY`] (4 MiB, OTLP's limit) is a
//! non-retryable error, whatever its status. Connection failures are
//! retried.
//!
//! This module must never hold a batch longer than one export, and never
//! reads more than [`MAX_RESPONSE_BODY`] bytes of a response.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use super::conn::{connect, ConnectError, Heard};
use super::options::{
    compress_into, Compression, ExporterConfig, TransportError, HTTP_COMPONENT, USER_AGENT,
};
use super::outcome::{finish_export, PartialSuccessLog, Sent};
use crate::codec::response::{
    decode_export_response, decode_rpc_status, parse_retry_after, PartialSuccess,
};
use crate::endpoint::{Endpoint, EndpointError};
use crate::export::{BoxFuture, ExportError, ExportReport, ExportRequest, Exporter};
use crate::pool::Pool;
use crate::priority::Bounded;
use crate::retry::{self, Accepted, Attempt, RetryConfig};
use crate::sync::lock;
use crate::tls::{Alpn, Connector};

/// The most response-body bytes read: OTLP's limit (4 MiB). A collector's
/// answers are a few bytes; a larger body is a non-retryable error.
pub(crate) const MAX_RESPONSE_BODY: usize = 4 * 1024 * 1024;

/// Classifies a response, sans-IO. `body` is at most 4 MiB (OTLP's
/// limit); `truncated` when the collector sent more, which fails the
/// export for good (OTLP: a response over 4 MiB is a non-retryable error).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::StatusCode;
/// use tracewire::internal::otlp_http::classify;
/// use tracewire::internal::retry::Attempt;
/// let o = classify(StatusCode::SERVICE_UNAVAILABLE, Some(b"2"), b"", false, SystemTime::now());
/// assert!(matches!(o, Attempt::Retry { after: Some(d), .. } if d == Duration::from_secs(2)));
/// let o = classify(StatusCode::BAD_REQUEST, None, b"", false, SystemTime::now());
/// assert!(matches!(o, Attempt::Fail(_)));
/// // An HTTP date works too; a body over 4 MiB is never retried.
/// let o = classify(StatusCode::TOO_MANY_REQUESTS, Some(b"Wed, 21 Oct 2099 07:28:00 GMT"), b"", false, SystemTime::now());
/// assert!(matches!(o, Attempt::Retry { after: Some(_), .. }));
/// let o = classify(StatusCode::SERVICE_UNAVAILABLE, None, b"", true, SystemTime::now());
/// assert!(matches!(o, Attempt::Fail(_)));
/// ```
pub fn classify(
    status: StatusCode,
    retry_after: Option<&[u8]>,
    body: &[u8],
    truncated: bool,
    now: SystemTime,
) -> Attempt {
    if truncated {
        return Attempt::Fail(ExportError::Refused(format!(
            "HTTP {status} with a response body over {} MiB, which OTLP treats as a \
             non-retryable error (a collector's answers are a few bytes: is the endpoint an \
             OTLP/HTTP receiver, or a proxy's error page?)",
            MAX_RESPONSE_BODY >> 20
        )));
    }
    if status.is_success() {
        return match decode_export_response(body) {
            Ok(PartialSuccess {
                rejected_spans,
                error_message,
            }) => Attempt::Accepted(Accepted {
                rejected: u64::try_from(rejected_spans).unwrap_or(0),
                message: error_message,
            }),
            // Accepted, but the body is not an ExportTraceServiceResponse
            // (some backends answer with JSON or nothing useful).
            Err(_) => Attempt::Accepted(Accepted::default()),
        };
    }
    let detail = error_detail(body);
    let reason = if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    match status.as_u16() {
        429 | 502 | 503 | 504 => Attempt::Retry {
            after: retry_after.and_then(|v| parse_retry_after(v, now)),
            reason,
        },
        _ => Attempt::Fail(ExportError::Refused(reason)),
    }
}

/// The collector's explanation: a `google.rpc.Status` message, else the
/// body as text (cut to 512 bytes), else nothing.
fn error_detail(body: &[u8]) -> String {
    if let Ok(st) = decode_rpc_status(body) {
        if !st.message.is_empty() {
            return st.message;
        }
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let text = text.trim();
    if text.is_empty()
        || text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        String::new()
    } else if body.len() > 512 {
        format!("{text}...")
    } else {
        text.to_owned()
    }
}

/// An HTTP/1.1 connection's request handle, when it was made, and whether
/// its peer ever sent a byte.
type Sender = (http1::SendRequest<Full<Bytes>>, Instant, Arc<AtomicBool>);

/// Connections in a row the peer closed without a byte of answer before
/// the exporter gives up on it as not speaking HTTP/1.1.
const SILENT_CLOSES: u32 = 3;

/// The OTLP/HTTP exporter.
pub(crate) struct HttpExporter {
    endpoint: Endpoint,
    /// The request target, in origin-form (path and query).
    uri: http::Uri,
    host: HeaderValue,
    headers: Vec<(HeaderName, HeaderValue)>,
    tls: Option<Connector>,
    compression: Compression,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryConfig,
    idle: Mutex<Vec<Sender>>,
    max_connection_age: Duration,
    gzip_pool: Pool<BytesMut>,
    partial: PartialSuccessLog,
    /// Connections in a row the peer closed without answering a byte.
    silent_closes: AtomicU32,
}

impl std::fmt::Debug for HttpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpExporter")
            .field("endpoint", &self.endpoint.to_string())
            .finish_non_exhaustive()
    }
}

impl HttpExporter {
    /// An exporter for `config` (its protocol is not checked).
    pub(crate) fn new(config: &ExporterConfig) -> Result<Self, TransportError> {
        let endpoint = config.endpoint.clone();
        let tls = if endpoint.is_tls() {
            Some(Connector::new(&config.tls, Alpn::Http11)?)
        } else {
            None
        };
        // The request target in origin-form (RFC 9112 3.2.1): the path and
        // query only; the authority goes in `Host`. (The absolute-form is for
        // forward proxies, and strict origin servers answer it with 404.)
        let uri = endpoint
            .path()
            .parse::<http::Uri>()
            .map_err(|e| EndpointError::Invalid {
                value: endpoint.to_string(),
                reason: e.to_string(),
                expected: "an http(s) URL with a valid path",
            })?;
        let host =
            HeaderValue::from_str(&endpoint.authority()).map_err(|e| EndpointError::Invalid {
                value: endpoint.to_string(),
                reason: e.to_string(),
                expected: "a valid host",
            })?;
        Ok(HttpExporter {
            endpoint,
            uri,
            host,
            headers: config.headers.clone(),
            tls,
            compression: config.compression,
            timeout: config.timeout,
            connect_timeout: config.connect_timeout,
            retry: config.retry,
            idle: Mutex::new(Vec::new()),
            max_connection_age: config.max_connection_age,
            gzip_pool: Pool::new(4, 16 << 20, BytesMut::new),
            silent_closes: AtomicU32::new(0),
            partial: PartialSuccessLog::default(),
        })
    }

    /// Whether a connection made at `born` is past `max_connection_age`
    /// (then it takes no new request and closes once idle).
    fn aged(&self, born: Instant) -> bool {
        !self.max_connection_age.is_zero() && born.elapsed() >= self.max_connection_age
    }

    fn take_idle(&self) -> Option<Sender> {
        let mut idle = lock(&self.idle);
        while let Some(s) = idle.pop() {
            if !s.0.is_closed() && !self.aged(s.1) {
                return Some(s);
            }
        }
        None
    }

    fn put_idle(&self, sender: Sender) {
        if self.aged(sender.1) {
            return;
        }
        let mut idle = lock(&self.idle);
        if idle.len() < 16 {
            idle.push(sender);
        }
    }

    /// The permanent error for a peer whose answer is not HTTP/1.1.
    fn not_http(&self, why: &str) -> String {
        format!(
            "{} did not answer in HTTP/1.1 ({why}); is it an OTLP/gRPC port (4317, HTTP/2)? \
             then configure tracing.otlp.grpc, or point tracing.otlp.http at the OTLP/HTTP \
             port (4318); if the collector uses TLS on this port, use https://",
            self.endpoint.authority()
        )
    }

    /// Counts a connection the peer closed or reset before answering;
    /// `true` once [`SILENT_CLOSES`] came in a row without a byte (a peer
    /// that answered once, or a reply since, starts the count again). tonic
    /// answers HTTP/1.1 with an HTTP/2 GOAWAY and closes with the request
    /// unread, so the close often reaches this side as a reset that
    /// discards the GOAWAY: without this count, that looks like a
    /// restarting collector and is retried until the export's deadline.
    fn closed_silently_again(&self, heard: &AtomicBool) -> bool {
        if heard.load(Ordering::Relaxed) {
            self.silent_closes.store(0, Ordering::Relaxed);
            return false;
        }
        self.silent_closes.fetch_add(1, Ordering::Relaxed) + 1 >= SILENT_CLOSES
    }

    /// A connection to send on: an idle one (`false`), else a new one
    /// (`true`).
    async fn sender(&self, left: Duration) -> Result<(Sender, bool), ConnectError> {
        if let Some(mut s) = self.take_idle() {
            if s.0.ready().await.is_ok() {
                return Ok((s, false));
            }
        }
        let stream = connect(
            &self.endpoint,
            self.tls.as_ref(),
            self.connect_timeout.min(left),
        )
        .await?;
        let (stream, heard) = Heard::new(stream);
        let (sender, conn) = http1::Builder::new()
            .handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| ConnectError {
                message: format!("HTTP handshake with {}: {e}", self.endpoint.authority()),
                permanent: false,
            })?;
        tokio::spawn(Bounded::new(async move {
            let _ = conn.await;
        }));
        Ok(((sender, Instant::now(), heard), true))
    }

    fn request(&self, body: Bytes) -> Result<Request<Full<Bytes>>, String> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.uri.clone())
            .header(http::header::HOST, self.host.clone())
            .header(http::header::CONTENT_TYPE, "application/x-protobuf")
            .header(http::header::CONTENT_LENGTH, body.len())
            .header(http::header::USER_AGENT, USER_AGENT);
        if self.compression != Compression::None {
            req = req.header(http::header::CONTENT_ENCODING, self.compression.as_str());
        }
        let mut req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
        for (name, value) in &self.headers {
            req.headers_mut().insert(name.clone(), value.clone());
        }
        Ok(req)
    }

    /// One request: send, read a bounded body, classify.
    async fn attempt(&self, body: Bytes, left: Duration, sent: &Sent) -> Attempt {
        let started = Instant::now();
        let (mut sender, fresh) = match self.sender(left).await {
            Ok(s) => s,
            Err(e) if e.permanent => return Attempt::Fail(ExportError::Unavailable(e.message)),
            Err(e) => {
                return Attempt::Retry {
                    after: None,
                    reason: e.message,
                }
            }
        };
        let body_len = body.len() as u64;
        let req = match self.request(body) {
            Ok(r) => r,
            Err(e) => return Attempt::Fail(ExportError::Unavailable(e)),
        };
        let left = left.saturating_sub(started.elapsed());
        sent.request(body_len);
        let heard = sender.2.clone();
        let exchange = async {
            let resp = sender.0.send_request(req).await.map_err(|e| {
                if e.is_parse() {
                    // Not an HTTP/1.1 answer: retrying will not change it.
                    (false, self.not_http(&e.to_string()))
                } else if e.is_canceled() && fresh && heard.load(Ordering::Relaxed) {
                    // The peer spoke first on a new connection, which no
                    // HTTP/1.1 server does (an HTTP/2 server's SETTINGS
                    // does): hyper closes such a connection and cancels
                    // the request it was about to send.
                    (
                        false,
                        self.not_http("it sent bytes before the request, as HTTP/2 servers do"),
                    )
                } else {
                    (true, format!("sending the request: {e}"))
                }
            })?;
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(http::header::RETRY_AFTER)
                .map(|v| v.as_bytes().to_vec());
            let (body, truncated) = match Limited::new(resp.into_body(), MAX_RESPONSE_BODY)
                .collect()
                .await
            {
                Ok(b) => (b.to_bytes(), false),
                Err(e)
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    (Bytes::new(), true)
                }
                Err(e) => return Err((true, format!("reading the response: {e}"))),
            };
            Ok::<_, (bool, String)>((status, retry_after, body, truncated))
        };
        let (status, retry_after, body, truncated) =
            match tokio::time::timeout(left, exchange).await {
                Err(_) => {
                    return Attempt::Retry {
                        after: None,
                        reason: format!("no complete response within {left:?}"),
                    }
                }
                Ok(Err((true, reason))) => {
                    if self.closed_silently_again(&sender.2) {
                        return Attempt::Fail(ExportError::Unavailable(format!(
                            "{} closed the connection {SILENT_CLOSES} times in a row without an \
                             HTTP/1.1 answer ({reason}); is it an OTLP/gRPC port (4317, HTTP/2)? \
                             then configure tracing.otlp.grpc, or point tracing.otlp.http at the \
                             OTLP/HTTP port (4318); if a proxy is in front of the collector, \
                             check that it has a healthy backend",
                            self.endpoint.authority()
                        )));
                    }
                    return Attempt::Retry {
                        after: None,
                        reason,
                    };
                }
                Ok(Err((false, reason))) => return Attempt::Fail(ExportError::Refused(reason)),
                Ok(Ok(r)) => r,
            };
        self.silent_closes.store(0, Ordering::Relaxed);
        // A fully read response leaves the connection reusable.
        if !truncated {
            self.put_idle(sender);
        }
        classify(
            status,
            retry_after.as_deref(),
            &body,
            truncated,
            SystemTime::now(),
        )
    }

    async fn export_inner(&self, request: ExportRequest) -> ExportReport {
        let deadline = request.deadline;
        let spans = request.spans as u64;
        let (body, original) = match self.compression {
            Compression::None => {
                let mut buffer = request.buffer;
                let prefix = request.prefix.min(buffer.len());
                let _ = buffer.split_to(prefix);
                (buffer.freeze(), None)
            }
            compression => {
                let mut out = self.gzip_pool.take();
                if let Err(e) = compress_into(compression, &mut out, request.message()) {
                    return ExportReport::failure(ExportError::Refused(e), 0, 0);
                }
                // The request's own buffer goes back to the worker's pool.
                (out.freeze(), Some(request.buffer))
            }
        };
        let sent = Sent::default();
        let outcome = retry::run(&self.retry, deadline, |_, left| {
            let body = body.clone();
            let sent = &sent;
            async move { self.attempt(body, left.min(self.timeout), sent).await }
        })
        .await;
        finish_export(
            outcome,
            spans,
            &sent,
            body,
            original,
            &self.gzip_pool,
            &self.partial,
        )
    }
}

/// The OpenTelemetry Collector's default OTLP/HTTP body limit
/// (`max_request_body_size`: 20 MiB), measured before compression.
pub(crate) const DEFAULT_MAX_BODY: usize = 20 * 1024 * 1024;

impl Exporter for HttpExporter {
    fn component_type(&self) -> &'static str {
        HTTP_COMPONENT
    }

    fn max_request_bytes(&self) -> Option<usize> {
        Some(DEFAULT_MAX_BODY)
    }

    fn export(&self, request: ExportRequest) -> BoxFuture<'_, ExportReport> {
        Box::pin(self.export_inner(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_statuses_per_the_otlp_spec() {
        let now = SystemTime::now();
        for code in [429u16, 502, 503, 504] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(classify(s, None, b"", false, now), Attempt::Retry { .. }),
                "{code}"
            );
        }
        for code in [400u16, 401, 403, 404, 413, 500, 501] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(
                matches!(classify(s, None, b"", false, now), Attempt::Fail(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn error_bodies_surface_the_collector_message() {
        // google.rpc.Status { code: 3, message: "bad span" }
        let body = [
            0x08, 0x03, 0x12, 0x08, b'b', b'a', b'd', b' ', b's', b'p', b'a', b'n',
        ];
        match classify(
            StatusCode::BAD_REQUEST,
            None,
            &body,
            false,
            SystemTime::now(),
        ) {
            Attempt::Fail(ExportError::Refused(reason)) => {
                assert_eq!(reason, "HTTP 400 Bad Request: bad span")
            }
            other => panic!("{other:?}"),
        }
        match classify(
            StatusCode::NOT_FOUND,
            None,
            b"no route",
            false,
            SystemTime::now(),
        ) {
            Attempt::Fail(ExportError::Refused(reason)) => {
                assert_eq!(reason, "HTTP 404 Not Found: no route")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn partial_success_is_read() {
        let body = [0x0a, 0x02, 0x08, 0x05];
        assert_eq!(
            classify(StatusCode::OK, None, &body, false, SystemTime::now()),
            Attempt::Accepted(Accepted {
                rejected: 5,
                message: String::new()
            })
        );
    }
}
