//! Everything between an encoded batch and the collector: OTLP/HTTP over
//! HTTP/1.1 ([`http`], on hyper) and OTLP/gRPC over HTTP/2 ([`grpc`], on h2
//! with tracewire's own gRPC framing), TLS ([`tls`], rustls), retries
//! ([`crate::retry`]) and response decoding ([`response`], sans-IO).
//!
//! A transport must never hold a batch longer than one export: every
//! request it is given resolves, by its deadline, to an
//! [`ExportReport`](crate::export::ExportReport).

pub mod grpc;
pub mod http;
pub mod response;
pub mod tls;

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{ExporterConfig, Protocol};
use crate::export::Exporter;

/// Why a transport could not be built or a connection made.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The endpoint is not usable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// TLS could not be set up from the options.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Why an endpoint string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL / `host:port`.
    #[error("endpoint {value:?} is not valid: {reason}; expected {expected}")]
    Invalid {
        /// The value.
        value: String,
        /// What is wrong.
        reason: String,
        /// The expected form.
        expected: &'static str,
    },
}

/// A collector address: scheme (TLS or not), host, port and, for HTTP, the
/// request path.
///
/// ```
/// use tracewire::transport::Endpoint;
/// let e = Endpoint::parse_http("https://collector.example:4318/v1/traces").unwrap();
/// assert!(e.is_tls());
/// assert_eq!((e.host(), e.port(), e.path()), ("collector.example", 4318, "/v1/traces"));
/// let g = Endpoint::parse_grpc("localhost:4317", true).unwrap();
/// assert!(!g.is_tls());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    tls: bool,
    host: String,
    port: u16,
    path: String,
}

const HTTP_FORM: &str = "<scheme>://<host>[:<port>]<path>, such as http://localhost:4318/v1/traces";
const GRPC_FORM: &str = "<host>:<port> (such as localhost:4317) or http(s)://<host>:<port>";

impl Endpoint {
    /// Parses an OTLP/HTTP endpoint URL (`http://` or `https://`).
    pub fn parse_http(value: &str) -> Result<Endpoint, EndpointError> {
        let bad = |reason: &str| EndpointError::Invalid {
            value: value.to_owned(),
            reason: reason.to_owned(),
            expected: HTTP_FORM,
        };
        let uri: ::http::Uri = value.trim().parse().map_err(|e| bad(&format!("{e}")))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            Some(other) => {
                return Err(bad(&format!(
                    "unsupported scheme {other:?} (use http or https)"
                )))
            }
            None => return Err(bad("it has no scheme")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("it has no host"))?;
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let path = if path.is_empty() { "/" } else { path };
        Ok(Endpoint {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: path.to_owned(),
        })
    }

    /// Parses an OTLP/gRPC endpoint: `host:port` (TLS unless `insecure`, as
    /// Traefik), or a URL whose scheme decides (`http` plain, `https` TLS).
    pub fn parse_grpc(value: &str, insecure: bool) -> Result<Endpoint, EndpointError> {
        let trimmed = value.trim();
        let bad = |reason: &str| EndpointError::Invalid {
            value: value.to_owned(),
            reason: reason.to_owned(),
            expected: GRPC_FORM,
        };
        if trimmed.contains("://") {
            let mut e = Self::parse_http(trimmed).map_err(|e| match e {
                EndpointError::Invalid { reason, .. } => bad(&reason),
            })?;
            e.path = String::new();
            return Ok(e);
        }
        let authority: ::http::uri::Authority =
            trimmed.parse().map_err(|e| bad(&format!("{e}")))?;
        let port = authority.port_u16().ok_or_else(|| bad("it has no port"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        Ok(Endpoint {
            tls: !insecure,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: String::new(),
        })
    }

    /// `http://localhost:4318/v1/traces`, OTLP/HTTP's standard endpoint.
    pub fn default_http() -> Endpoint {
        Endpoint {
            tls: false,
            host: "localhost".into(),
            port: 4318,
            path: "/v1/traces".into(),
        }
    }

    /// Whether connections use TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The HTTP request path (empty for gRPC).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `host:port` as an HTTP authority (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The endpoint with TLS on or off (gRPC's `insecure`).
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority(), self.path)
    }
}

/// A TCP connection, with or without TLS (`T` is the TLS stream type).
pub(crate) enum MaybeTls<T> {
    Plain(TcpStream),
    Tls(Box<T>),
}

/// A client connection.
pub(crate) type Stream = MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>;
/// A server connection (the embedded receiver).
#[cfg_attr(not(feature = "receiver"), allow(dead_code))]
pub(crate) type ServerStream = MaybeTls<tokio_rustls::server::TlsStream<TcpStream>>;

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTls::Plain(s) => s.is_write_vectored(),
            MaybeTls::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug)]
pub(crate) struct ConnectError {
    pub(crate) message: String,
    /// Retrying cannot help (the certificate was refused): fail at once.
    pub(crate) permanent: bool,
}

impl ConnectError {
    fn retryable(message: String) -> Self {
        ConnectError {
            message,
            permanent: false,
        }
    }
}

/// Whether a TLS handshake error is a verdict on certificates (ours or the
/// collector's), which retrying will not change.
fn is_certificate_error(e: &io::Error) -> bool {
    use rustls::AlertDescription as A;
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(_)) => true,
        Some(rustls::Error::AlertReceived(a)) => matches!(
            a,
            A::BadCertificate
                | A::UnknownCA
                | A::CertificateUnknown
                | A::CertificateRequired
                | A::AccessDenied
        ),
        _ => false,
    }
}

/// Connects to `endpoint` (TCP, then TLS when `tls` is given), within
/// `timeout`. Refused certificates are permanent failures; everything else
/// is a retryable connection-level failure.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    tls: Option<&tls::Connector>,
    timeout: Duration,
) -> Result<Stream, ConnectError> {
    let attempt = async {
        let tcp = TcpStream::connect((endpoint.host(), endpoint.port()))
            .await
            .map_err(|e| {
                ConnectError::retryable(format!("connecting to {}: {e}", endpoint.authority()))
            })?;
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Ok(MaybeTls::Plain(tcp)),
            Some(c) => c.connect(endpoint.host(), tcp).await.map(|s| MaybeTls::Tls(Box::new(s))).map_err(|e| {
                let permanent = is_certificate_error(&e);
                let hint = if permanent {
                    "; check tls.ca (or tls.cert and tls.key when the collector requires a client certificate)"
                } else {
                    ""
                };
                ConnectError {
                    message: format!("TLS handshake with {}: {e}{hint}", endpoint.authority()),
                    permanent,
                }
            }),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::retryable(format!(
            "connecting to {} timed out after {timeout:?}",
            endpoint.authority()
        ))),
    }
}

/// gzip-compresses `input` into `out` (appending), at gzip's fastest level:
/// on the export path compression speed matters more than the last percent
/// of size.
///
/// ```
/// let mut out = bytes::BytesMut::new();
/// tracewire::transport::gzip_into(&mut out, b"spans");
/// assert_eq!(&out[..2], &[0x1f, 0x8b]);
/// ```
pub fn gzip_into(out: &mut BytesMut, input: &[u8]) {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::fast());
    // Writing into memory cannot fail.
    let _ = enc.write_all(input);
    let _ = enc.finish();
}

/// Logs each distinct partial-success message once (up to 64 distinct
/// messages), and at most one such line per second.
#[derive(Default)]
pub(crate) struct PartialSuccessLog {
    seen: Mutex<Vec<u64>>,
    last: AtomicU64,
}

impl PartialSuccessLog {
    pub(crate) fn report(&self, rejected: i64, message: &str) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        message.hash(&mut h);
        let key = h.finish();
        {
            let mut seen = match self.seen.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if seen.contains(&key) || seen.len() >= 64 {
                return;
            }
            seen.push(key);
        }
        let now = crate::clock::now_unix_nanos() / 1_000_000_000;
        if self.last.swap(now, Ordering::Relaxed) == now {
            return;
        }
        log::warn!("tracewire: collector rejected {rejected} span(s): {message}");
    }
}

/// What both transports do once an export's retries are over: the buffer
/// goes back where it came from (the worker's pool when it was the request's
/// own, `scratch` when it was a compression buffer), and the outcome
/// becomes the report.
pub(crate) fn finish_export(
    outcome: crate::retry::Retried<(u64, String)>,
    spans: u64,
    bytes_sent: u64,
    body: bytes::Bytes,
    body_is_request_buffer: bool,
    scratch: &crate::pool::Pool<BytesMut>,
    partial: &PartialSuccessLog,
) -> crate::export::ExportReport {
    use crate::export::ExportReport;
    // Take the buffer back when nobody else holds it.
    let buffer = match (body_is_request_buffer, body.try_into_mut().ok()) {
        (true, b) => b,
        (false, Some(b)) => {
            scratch.give(b);
            None
        }
        (false, None) => None,
    };
    match outcome.result {
        Ok((rejected, message)) => {
            if rejected > 0 {
                partial.report(rejected as i64, &message);
            }
            ExportReport {
                result: Ok(()),
                rejected: rejected.min(spans),
                attempts: outcome.attempts,
                bytes_sent,
                buffer,
            }
        }
        Err(e) => {
            let mut report = ExportReport::failure(e, outcome.attempts.max(1), bytes_sent);
            report.buffer = buffer;
            report
        }
    }
}

/// Builds the exporter a configuration describes.
///
/// ```
/// use tracewire::config::{ExporterConfig, Protocol};
/// use tracewire::transport::{build, Endpoint};
/// let cfg = ExporterConfig::new(Protocol::Grpc, Endpoint::parse_grpc("localhost:4317", true).unwrap());
/// assert!(build(&cfg).is_ok());
/// ```
pub fn build(config: &ExporterConfig) -> Result<Arc<dyn Exporter>, TransportError> {
    Ok(match config.protocol {
        Protocol::Http => Arc::new(http::HttpExporter::new(config)?),
        Protocol::Grpc => Arc::new(grpc::GrpcExporter::new(config)?),
    })
}

/// `tracewire/<version>`, sent as the user agent.
pub(crate) const USER_AGENT: &str = concat!("tracewire/", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoints() {
        let e = Endpoint::parse_http("http://localhost:4318/v1/traces").unwrap();
        assert_eq!(
            (e.is_tls(), e.host(), e.port(), e.path()),
            (false, "localhost", 4318, "/v1/traces")
        );
        let e = Endpoint::parse_http("https://[::1]/x").unwrap();
        assert_eq!(
            (e.is_tls(), e.host(), e.port(), e.authority()),
            (true, "::1", 443, "[::1]:443".into())
        );
        assert_eq!(e.to_string(), "https://[::1]:443/x");
        for bad in ["localhost:4318", "ftp://x/y", "http://", "not a url", ""] {
            let err = Endpoint::parse_http(bad).unwrap_err().to_string();
            assert!(err.contains("expected <scheme>://"), "{bad}: {err}");
        }
    }

    #[test]
    fn grpc_endpoints() {
        let e = Endpoint::parse_grpc("collector:4317", false).unwrap();
        assert!(e.is_tls());
        let e = Endpoint::parse_grpc("http://collector:4317", false).unwrap();
        assert!(!e.is_tls());
        assert!(Endpoint::parse_grpc("collector", false)
            .unwrap_err()
            .to_string()
            .contains("no port"));
    }

    #[test]
    fn gzip_roundtrips() {
        use std::io::Read as _;
        let mut out = BytesMut::new();
        gzip_into(&mut out, b"hello hello hello");
        let mut d = flate2::read::GzDecoder::new(&out[..]);
        let mut s = String::new();
        d.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello hello hello");
    }
}
