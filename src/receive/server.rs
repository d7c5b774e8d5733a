//! The receiver's servers: an OTLP/HTTP listener (HTTP/1.1, hyper) and an
//! OTLP/gRPC listener (HTTP/2, h2, with the codec's gRPC framing), plain or
//! TLS, each request decoded by [`super::decode`] and handed to the sink.
//!
//! This module must never import the client transport: what it shares with
//! the exporter (gRPC framing, TLS) lives below both.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::decode::{decode_grpc_body, decode_http_body, Limits, ReceiveError};
use crate::codec::grpc::{encode_grpc_message, finish_frame, read_message, EXPORT_PATH};
use crate::codec::response::DecodeError;
use crate::proto::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use crate::tls::{server_config, Alpn, MaybeTls, ServerStream};

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

impl Receiver {
    /// Binds the listeners and starts serving on the current tokio runtime.
    /// `sink` is called once per accepted request.
    pub async fn start(
        config: ReceiverConfig,
        sink: impl Fn(Received) + Send + Sync + 'static,
    ) -> std::io::Result<Receiver> {
        let sink: Sink = Arc::new(sink);
        let stats = Arc::new(ReceiverStats::default());
        // Each listener offers in ALPN only the protocol it serves.
        let acceptor = |alpn: Alpn| -> std::io::Result<Option<tokio_rustls::TlsAcceptor>> {
            match &config.tls {
                Some((c, k)) => server_config(c, k, alpn)
                    .map(|cfg| Some(tokio_rustls::TlsAcceptor::from(cfg)))
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e)),
                None => Ok(None),
            }
        };
        let http_tls = acceptor(Alpn::Http11)?;
        let grpc_tls = acceptor(Alpn::H2)?;
        let (stop, stopped) = watch::channel(false);
        let mut http_addr = None;
        let mut grpc_addr = None;
        if let Some(addr) = config.http {
            let l = TcpListener::bind(addr).await?;
            http_addr = Some(l.local_addr()?);
            tokio::spawn(accept_loop(
                l,
                Via::Http,
                http_tls,
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
                grpc_tls,
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
                None => MaybeTls::Plain(tcp),
                Some(acceptor) => match tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    acceptor.accept(tcp),
                )
                .await
                {
                    Ok(Ok(s)) => MaybeTls::Tls(Box::new(s)),
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
    io: ServerStream,
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
    io: ServerStream,
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
                    .header("grpc-message", encode_grpc_message(msg))
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
                if let Err(e) = read_message(&buf, limits.max_request_bytes) {
                    if !matches!(e, DecodeError::Compressed) {
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
                        let response = ExportTraceServiceResponse::default();
                        let mut framed = BytesMut::zeroed(5);
                        if response.encode(&mut framed).is_ok()
                            && finish_frame(&mut framed, false).is_ok()
                        {
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
