//! An embedded OTLP receiver: OTLP/HTTP (binary protobuf, optional gzip)
//! and OTLP/gRPC (optional gzip), decoded with the build.rs prost types,
//! over plaintext or TLS. It backs `tracewire receive` and `tracewire demo`,
//! and lets tests and local debugging see exactly what an exporter sends.
//!
//! Hostile input gets an answer, never a crash: requests larger than
//! [`Limits::max_request_bytes`], gzip bodies that inflate past
//! [`Limits::max_decompressed_bytes`] and malformed protobuf are answered
//! with HTTP 400 (a `google.rpc.Status` body) or gRPC `INVALID_ARGUMENT`,
//! and logged.
//!
//! The decode path is sans-IO ([`decode_http_body`], [`decode_grpc_body`])
//! and fuzzed on its own (`fuzz/` target `receive`).

use std::convert::Infallible;
use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::proto::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use crate::transport::grpc::EXPORT_PATH;
use crate::transport::response::{grpc_message, write_grpc_prefix};

/// Size limits on what the receiver accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body on the wire (default 16 MiB).
    pub max_request_bytes: usize,
    /// Largest body after gzip decompression (default 64 MiB).
    pub max_decompressed_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// The body is larger than the limit.
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// gzip inflated past the limit (a gzip bomb, or just too much).
    #[error("decompressed body larger than {0} bytes")]
    DecompressedTooLarge(usize),
    /// The body is not valid gzip.
    #[error("invalid gzip body: {0}")]
    Gzip(String),
    /// An encoding the receiver does not support.
    #[error("unsupported content encoding {0:?} (supported: gzip, identity)")]
    Encoding(String),
    /// The body is not an `ExportTraceServiceRequest`.
    #[error("malformed ExportTraceServiceRequest: {0}")]
    Protobuf(String),
    /// The gRPC framing is wrong.
    #[error("malformed gRPC message: {0}")]
    Framing(String),
}

fn gunzip(body: &[u8], limits: &Limits) -> Result<Vec<u8>, ReceiveError> {
    let mut out = Vec::new();
    let mut d = flate2::read::GzDecoder::new(body).take(limits.max_decompressed_bytes as u64 + 1);
    d.read_to_end(&mut out)
        .map_err(|e| ReceiveError::Gzip(e.to_string()))?;
    if out.len() > limits.max_decompressed_bytes {
        return Err(ReceiveError::DecompressedTooLarge(
            limits.max_decompressed_bytes,
        ));
    }
    Ok(out)
}

fn decode(bytes: &[u8]) -> Result<ExportTraceServiceRequest, ReceiveError> {
    ExportTraceServiceRequest::decode(bytes).map_err(|e| ReceiveError::Protobuf(e.to_string()))
}

/// Decodes an OTLP/HTTP request body given its `Content-Encoding`.
///
/// ```
/// use tracewire::receive::{decode_http_body, Limits};
/// assert!(decode_http_body(b"", None, &Limits::default()).unwrap().resource_spans.is_empty());
/// assert!(decode_http_body(b"\xff\xff", None, &Limits::default()).is_err());
/// ```
pub fn decode_http_body(
    body: &[u8],
    content_encoding: Option<&[u8]>,
    limits: &Limits,
) -> Result<ExportTraceServiceRequest, ReceiveError> {
    if body.len() > limits.max_request_bytes {
        return Err(ReceiveError::TooLarge(limits.max_request_bytes));
    }
    match content_encoding.map(|e| e.trim_ascii()) {
        None | Some(b"identity") | Some(b"") => decode(body),
        Some(e) if e.eq_ignore_ascii_case(b"gzip") => decode(&gunzip(body, limits)?),
        Some(other) => Err(ReceiveError::Encoding(
            String::from_utf8_lossy(other).into_owned(),
        )),
    }
}

/// Decodes a gRPC request body (one length-prefixed message) given its
/// `grpc-encoding`.
pub fn decode_grpc_body(
    body: &[u8],
    grpc_encoding: Option<&[u8]>,
    limits: &Limits,
) -> Result<ExportTraceServiceRequest, ReceiveError> {
    let prefix = body
        .get(..5)
        .ok_or_else(|| ReceiveError::Framing("shorter than the 5-byte prefix".into()))?;
    let compressed = prefix[0] & 1 == 1;
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if len > limits.max_request_bytes {
        return Err(ReceiveError::TooLarge(limits.max_request_bytes));
    }
    let msg = body.get(5..5 + len).ok_or_else(|| {
        ReceiveError::Framing(format!(
            "prefix announces {len} bytes, {} follow",
            body.len() - 5
        ))
    })?;
    if body.len() != 5 + len {
        return Err(ReceiveError::Framing(
            "more than one message in a unary call".into(),
        ));
    }
    if !compressed {
        return decode(msg);
    }
    match grpc_encoding.map(|e| e.trim_ascii()) {
        Some(e) if e.eq_ignore_ascii_case(b"gzip") => decode(&gunzip(msg, limits)?),
        Some(other) => Err(ReceiveError::Encoding(
            String::from_utf8_lossy(other).into_owned(),
        )),
        None => Err(ReceiveError::Framing(
            "compressed message without grpc-encoding".into(),
        )),
    }
}

/// Which protocol a request came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// OTLP/HTTP.
    Http,
    /// OTLP/gRPC.
    Grpc,
}

/// One accepted export request.
#[derive(Debug)]
pub struct Received {
    /// The protocol.
    pub via: Via,
    /// The decoded request.
    pub request: ExportTraceServiceRequest,
    /// Bytes on the wire (the body as sent, compressed or not).
    pub wire_bytes: usize,
}

/// What the receiver has seen.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    /// Requests accepted.
    pub requests: AtomicU64,
    /// Spans in accepted requests.
    pub spans: AtomicU64,
    /// Body bytes of accepted requests, as sent.
    pub bytes: AtomicU64,
    /// Requests refused (malformed, oversized, wrong path).
    pub refused: AtomicU64,
}

/// Where to listen and with what.
#[derive(Clone, Debug, Default)]
pub struct ReceiverConfig {
    /// OTLP/HTTP address (`None`: no HTTP listener).
    pub http: Option<SocketAddr>,
    /// OTLP/gRPC address (`None`: no gRPC listener).
    pub grpc: Option<SocketAddr>,
    /// Serve TLS with this certificate chain and key (PEM).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Size limits.
    pub limits: Limits,
}

type Sink = Arc<dyn Fn(Received) + Send + Sync>;

/// A running receiver. Stops when dropped or on [`Receiver::shutdown`].
pub struct Receiver {
    http: Option<SocketAddr>,
    grpc: Option<SocketAddr>,
    stats: Arc<ReceiverStats>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("http", &self.http)
            .field("grpc", &self.grpc)
            .finish()
    }
}

fn server_tls(cert: &Path, key: &Path) -> std::io::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{what}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(&format!("--tls-cert {}", cert.display()), &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&format!("--tls-cert {}", cert.display()), &e))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| bad(&format!("--tls-key {}", key.display()), &e))?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad("TLS", &e))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| bad("--tls-cert / --tls-key", &e))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

impl Receiver {
    /// Binds the listeners and starts serving on the current tokio runtime.
    /// `sink` is called once per accepted request.
    pub async fn start(
        config: ReceiverConfig,
        sink: impl Fn(Received) + Send + Sync + 'static,
    ) -> std::io::Result<Receiver> {
        let sink: Sink = Arc::new(sink);
        let stats = Arc::new(ReceiverStats::default());
        let tls = match &config.tls {
            Some((c, k)) => Some(tokio_rustls::TlsAcceptor::from(server_tls(c, k)?)),
            None => None,
        };
        let (stop, stopped) = watch::channel(false);
        let mut http_addr = None;
        let mut grpc_addr = None;
        if let Some(addr) = config.http {
            let l = TcpListener::bind(addr).await?;
            http_addr = Some(l.local_addr()?);
            tokio::spawn(accept_loop(
                l,
                Via::Http,
                tls.clone(),
                config.limits,
                sink.clone(),
                stats.clone(),
                stopped.clone(),
            ));
        }
        if let Some(addr) = config.grpc {
            let l = TcpListener::bind(addr).await?;
            grpc_addr = Some(l.local_addr()?);
            tokio::spawn(accept_loop(
                l,
                Via::Grpc,
                tls,
                config.limits,
                sink,
                stats.clone(),
                stopped,
            ));
        }
        Ok(Receiver {
            http: http_addr,
            grpc: grpc_addr,
            stats,
            stop,
        })
    }

    /// The bound OTLP/HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// The bound OTLP/gRPC address.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc
    }

    /// What the receiver has seen so far.
    pub fn stats(&self) -> &ReceiverStats {
        &self.stats
    }

    /// Stops accepting connections.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

async fn accept_loop(
    listener: TcpListener,
    via: Via,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    sink: Sink,
    stats: Arc<ReceiverStats>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stopped.changed() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    log::warn!("receive: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let (sink, stats, tls) = (sink.clone(), stats.clone(), tls.clone());
        tokio::spawn(async move {
            let io = match tls {
                None => crate::transport::ServerStream::Plain(tcp),
                Some(acceptor) => match tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    acceptor.accept(tcp),
                )
                .await
                {
                    Ok(Ok(s)) => crate::transport::ServerStream::Tls(Box::new(s)),
                    Ok(Err(e)) => {
                        log::warn!("receive: TLS handshake with {peer} failed: {e}");
                        return;
                    }
                    Err(_) => {
                        log::warn!("receive: TLS handshake with {peer} timed out");
                        return;
                    }
                },
            };
            match via {
                Via::Http => serve_http(io, limits, sink, stats, peer).await,
                Via::Grpc => serve_grpc(io, limits, sink, stats, peer).await,
            }
        });
    }
}

fn rpc_status_body(code: i32, message: &str) -> Bytes {
    let mut out = Vec::new();
    prost::encoding::int32::encode(1, &code, &mut out);
    prost::encoding::string::encode(2, &message.to_owned(), &mut out);
    Bytes::from(out)
}

async fn serve_http(
    io: crate::transport::ServerStream,
    limits: Limits,
    sink: Sink,
    stats: Arc<ReceiverStats>,
    peer: SocketAddr,
) {
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let (sink, stats) = (sink.clone(), stats.clone());
        async move {
            let respond = |status: u16, body: Bytes| {
                hyper::Response::builder()
                    .status(status)
                    .header("content-type", "application/x-protobuf")
                    .body(Full::new(body))
                    .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
            };
            let refuse = |status: u16, msg: String| {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                log::warn!("receive: refused an OTLP/HTTP request from {peer}: {msg}");
                respond(status, rpc_status_body(3, &msg))
            };
            if req.method() != http::Method::POST || req.uri().path() != "/v1/traces" {
                let msg = format!(
                    "{} {} is not an OTLP endpoint; POST /v1/traces",
                    req.method(),
                    req.uri().path()
                );
                stats.refused.fetch_add(1, Ordering::Relaxed);
                return Ok::<_, Infallible>(respond(404, rpc_status_body(5, &msg)));
            }
            let content_type = req
                .headers()
                .get("content-type")
                .map(|v| v.as_bytes().to_vec());
            if content_type
                .as_deref()
                .is_some_and(|c| c.starts_with(b"application/json"))
            {
                return Ok(refuse(
                    415,
                    "application/json is not supported; send application/x-protobuf".into(),
                ));
            }
            let encoding = req
                .headers()
                .get("content-encoding")
                .map(|v| v.as_bytes().to_vec());
            let body = match Limited::new(req.into_body(), limits.max_request_bytes)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    let msg = if e
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some()
                    {
                        ReceiveError::TooLarge(limits.max_request_bytes).to_string()
                    } else {
                        format!("reading the body: {e}")
                    };
                    return Ok(refuse(400, msg));
                }
            };
            match decode_http_body(&body, encoding.as_deref(), &limits) {
                Ok(request) => {
                    accept(&stats, &sink, Via::Http, request, body.len());
                    Ok(respond(
                        200,
                        Bytes::from(ExportTraceServiceResponse::default().encode_to_vec()),
                    ))
                }
                Err(e) => Ok(refuse(400, e.to_string())),
            }
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
        .await;
}

fn accept(
    stats: &ReceiverStats,
    sink: &Sink,
    via: Via,
    request: ExportTraceServiceRequest,
    wire_bytes: usize,
) {
    let spans: usize = request
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len())
        .sum();
    stats.requests.fetch_add(1, Ordering::Relaxed);
    stats.spans.fetch_add(spans as u64, Ordering::Relaxed);
    stats.bytes.fetch_add(wire_bytes as u64, Ordering::Relaxed);
    sink(Received {
        via,
        request,
        wire_bytes,
    });
}

async fn serve_grpc(
    io: crate::transport::ServerStream,
    limits: Limits,
    sink: Sink,
    stats: Arc<ReceiverStats>,
    peer: SocketAddr,
) {
    let Ok(mut conn) = h2::server::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 21)
        .max_header_list_size(64 << 10)
        .handshake::<_, Bytes>(io)
        .await
    else {
        return;
    };
    while let Some(Ok((req, mut respond))) = conn.accept().await {
        let (sink, stats) = (sink.clone(), stats.clone());
        tokio::spawn(async move {
            let trailers_only = |code: u32, msg: &str| {
                http::Response::builder()
                    .status(200)
                    .header("content-type", "application/grpc")
                    .header("grpc-status", code.to_string())
                    .header(
                        "grpc-message",
                        percent_encoding::utf8_percent_encode(
                            msg,
                            percent_encoding::NON_ALPHANUMERIC,
                        )
                        .to_string(),
                    )
                    .body(())
            };
            if req.uri().path() != EXPORT_PATH {
                stats.refused.fetch_add(1, Ordering::Relaxed);
                if let Ok(r) = trailers_only(12, &format!("unknown method {}", req.uri().path())) {
                    let _ = respond.send_response(r, true);
                }
                return;
            }
            let encoding = req
                .headers()
                .get("grpc-encoding")
                .map(|v| v.as_bytes().to_vec());
            let mut body = req.into_body();
            let mut buf = BytesMut::new();
            let mut refused = None;
            while let Some(chunk) = body.data().await {
                let Ok(chunk) = chunk else {
                    return;
                };
                let _ = body.flow_control().release_capacity(chunk.len());
                buf.extend_from_slice(&chunk);
                // Refuse an oversized message as soon as its prefix says so.
                if let Err(e) = grpc_message(&buf, limits.max_request_bytes) {
                    if !matches!(e, crate::transport::response::DecodeError::Compressed) {
                        refused =
                            Some(ReceiveError::TooLarge(limits.max_request_bytes).to_string());
                        break;
                    }
                }
                if buf.len() > limits.max_request_bytes + 5 {
                    refused = Some(ReceiveError::TooLarge(limits.max_request_bytes).to_string());
                    break;
                }
            }
            let result = match refused {
                Some(msg) => Err(msg),
                None => {
                    decode_grpc_body(&buf, encoding.as_deref(), &limits).map_err(|e| e.to_string())
                }
            };
            match result {
                Ok(request) => {
                    accept(&stats, &sink, Via::Grpc, request, buf.len());
                    let head = http::Response::builder()
                        .status(200)
                        .header("content-type", "application/grpc")
                        .body(());
                    let Ok(head) = head else { return };
                    if let Ok(mut stream) = respond.send_response(head, false) {
                        let msg = ExportTraceServiceResponse::default().encode_to_vec();
                        let mut prefix = [0u8; 5];
                        if write_grpc_prefix(&mut prefix, false, msg.len()) {
                            let mut framed = BytesMut::with_capacity(5 + msg.len());
                            framed.extend_from_slice(&prefix);
                            framed.extend_from_slice(&msg);
                            let _ = stream.send_data(framed.freeze(), false);
                        }
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                        let _ = stream.send_trailers(trailers);
                    }
                }
                Err(msg) => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    log::warn!("receive: refused an OTLP/gRPC call from {peer}: {msg}");
                    if let Ok(r) = trailers_only(3, &msg) {
                        let _ = respond.send_response(r, true);
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        crate::transport::gzip_into(&mut out, data);
        out.to_vec()
    }

    #[test]
    fn gzip_bombs_are_refused() {
        let limits = Limits {
            max_request_bytes: 1 << 20,
            max_decompressed_bytes: 1 << 16,
        };
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 8 * 1024, "a small body that inflates a lot");
        assert_eq!(
            decode_http_body(&bomb, Some(b"gzip"), &limits),
            Err(ReceiveError::DecompressedTooLarge(1 << 16))
        );
    }

    #[test]
    fn grpc_framing_is_checked() {
        let l = Limits::default();
        assert!(matches!(
            decode_grpc_body(&[0, 0], None, &l),
            Err(ReceiveError::Framing(_))
        ));
        assert!(matches!(
            decode_grpc_body(&[0, 0, 0, 0, 9, 1], None, &l),
            Err(ReceiveError::Framing(_))
        ));
        assert_eq!(
            decode_grpc_body(&[0, 0xff, 0xff, 0xff, 0xff], None, &l),
            Err(ReceiveError::TooLarge(l.max_request_bytes))
        );
        assert!(decode_grpc_body(&[0, 0, 0, 0, 0], None, &l)
            .unwrap()
            .resource_spans
            .is_empty());
        let msg = gzip(b"");
        let mut framed = vec![1, 0, 0, 0, msg.len() as u8];
        framed.extend(&msg);
        assert!(decode_grpc_body(&framed, Some(b"gzip"), &l).is_ok());
        assert!(matches!(
            decode_grpc_body(&framed, None, &l),
            Err(ReceiveError::Framing(_))
        ));
        assert!(matches!(
            decode_grpc_body(&framed, Some(b"zstd"), &l),
            Err(ReceiveError::Encoding(_))
        ));
    }

    #[test]
    fn malformed_protobuf_is_an_error() {
        assert!(matches!(
            decode_http_body(&[0x0a, 0x05, 1], None, &Limits::default()),
            Err(ReceiveError::Protobuf(_))
        ));
        assert!(matches!(
            decode_http_body(b"x", Some(b"br"), &Limits::default()),
            Err(ReceiveError::Encoding(_))
        ));
    }
}
