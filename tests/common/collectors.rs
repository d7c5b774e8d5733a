//! Real collectors for the tests, on 127.0.0.1 port 0, started and stopped
//! by each test:
//!
//! - [`HttpCollector`]: an OTLP/HTTP collector on hyper (HTTP/1.1, optional
//!   TLS and gzip), decoding with the build.rs prost types, answering from a
//!   script of replies.
//! - [`GrpcCollector`]: the `opentelemetry-proto` crate's tonic
//!   `TraceServiceServer` (optional TLS and gzip), answering from a script.
//! - [`H2Collector`]: a raw HTTP/2 gRPC peer (h2 server) for the faults tonic
//!   cannot be told to commit: GOAWAY, stream resets, a 4 GiB length prefix.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tracewire::proto::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};

/// Spans in a decoded request.
pub fn span_count(req: &ExportTraceServiceRequest) -> usize {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .map(|ss| ss.spans.len())
        .sum()
}

/// Span ids in a decoded request, to check that every span arrived once.
pub fn span_ids(req: &ExportTraceServiceRequest) -> Vec<Vec<u8>> {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter().map(|s| s.span_id.clone()))
        .collect()
}

/// The trace id of each span in a decoded request.
pub fn span_traces(req: &ExportTraceServiceRequest) -> Vec<Vec<u8>> {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter().map(|s| s.trace_id.clone()))
        .collect()
}

/// Span names in a decoded request.
pub fn span_names(req: &ExportTraceServiceRequest) -> Vec<String> {
    req.resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter().map(|s| s.name.clone()))
        .collect()
}

/// Encodes a `google.rpc.Status` carrying a `RetryInfo` detail.
pub fn rpc_status_with_retry_info(code: i32, message: &str, delay: Duration) -> Vec<u8> {
    let mut duration = Vec::new();
    prost::encoding::int64::encode(1, &(delay.as_secs() as i64), &mut duration);
    prost::encoding::int32::encode(2, &(delay.subsec_nanos() as i32), &mut duration);
    let mut retry = Vec::new();
    prost::encoding::bytes::encode(1, &duration, &mut retry);
    let mut any = Vec::new();
    prost::encoding::string::encode(
        1,
        &"type.googleapis.com/google.rpc.RetryInfo".to_string(),
        &mut any,
    );
    prost::encoding::bytes::encode(2, &retry, &mut any);
    let mut status = Vec::new();
    prost::encoding::int32::encode(1, &code, &mut status);
    prost::encoding::string::encode(2, &message.to_string(), &mut status);
    prost::encoding::bytes::encode(3, &any, &mut status);
    status
}

/// Encodes a `google.rpc.Status` without details.
pub fn rpc_status(code: i32, message: &str) -> Vec<u8> {
    let mut status = Vec::new();
    prost::encoding::int32::encode(1, &code, &mut status);
    prost::encoding::string::encode(2, &message.to_string(), &mut status);
    status
}

// ---------------------------------------------------------------------------
// HTTP/1.1
// ---------------------------------------------------------------------------

/// What the HTTP collector answers to one request.
#[derive(Clone, Debug)]
pub enum HttpReply {
    /// 200 with an empty `ExportTraceServiceResponse`.
    Ok,
    /// 200 with a partial success.
    Partial {
        rejected: i64,
        message: &'static str,
    },
    /// Another status, with optional `Retry-After` and body.
    Status {
        code: u16,
        retry_after: Option<String>,
        body: Vec<u8>,
    },
    /// Read the request, then never answer.
    Hang,
    /// Answer 200 after a delay.
    Slow(Duration),
    /// Read the request, then close the connection without answering.
    Close,
    /// Answer `code` with a body that never ends.
    Endless { code: u16 },
}

/// One request the HTTP collector received.
#[derive(Clone, Debug)]
pub struct HttpReceived {
    pub headers: http::HeaderMap,
    pub request: ExportTraceServiceRequest,
    pub reply: HttpReply,
    pub wire_len: usize,
}

#[derive(Default)]
pub struct HttpState {
    pub received: Mutex<Vec<HttpReceived>>,
    pub script: Mutex<VecDeque<HttpReply>>,
    pub connections: AtomicUsize,
    /// The largest request body accepted (0: no limit); larger bodies get
    /// 413, as the Collector's OTLP/HTTP receiver answers past its limit.
    pub max_body: AtomicUsize,
    /// Requests refused with 413.
    pub too_large: AtomicUsize,
}

impl HttpState {
    /// Spans in requests the collector accepted (2xx), minus rejected ones.
    pub fn accepted_spans(&self) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| match r.reply {
                HttpReply::Ok | HttpReply::Slow(_) => span_count(&r.request),
                HttpReply::Partial { rejected, .. } => span_count(&r.request) - rejected as usize,
                _ => 0,
            })
            .sum()
    }

    /// Requests received.
    pub fn requests(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Names of accepted spans.
    pub fn accepted_names(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                matches!(
                    r.reply,
                    HttpReply::Ok | HttpReply::Slow(_) | HttpReply::Partial { .. }
                )
            })
            .flat_map(|r| span_names(&r.request))
            .collect()
    }
}

pub struct HttpCollector {
    pub addr: SocketAddr,
    pub state: Arc<HttpState>,
    stop: Option<oneshot::Sender<()>>,
}

impl HttpCollector {
    /// Starts a collector answering `script` in order, then `Ok`.
    pub async fn start(script: Vec<HttpReply>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, script, tls)
    }

    /// Starts on an already bound listener.
    pub fn start_on(
        listener: TcpListener,
        script: Vec<HttpReply>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(HttpState {
            script: Mutex::new(script.into()),
            ..HttpState::default()
        });
        let (stop, mut stopped) = oneshot::channel();
        let st = state.clone();
        // Stopping closes the open connections too, as a collector that
        // exits does.
        let (closing, closed) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let acceptor = tls.map(TlsAcceptor::from);
            loop {
                let (tcp, _) = tokio::select! {
                    _ = &mut stopped => {
                        let _ = closing.send(true);
                        return;
                    }
                    r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                };
                st.connections.fetch_add(1, Ordering::SeqCst);
                let st = st.clone();
                let acceptor = acceptor.clone();
                let mut closed = closed.clone();
                tokio::spawn(async move {
                    let serve = async {
                        match acceptor {
                            None => serve_http(TokioIo::new(tcp), st).await,
                            Some(a) => {
                                if let Ok(tls) = a.accept(tcp).await {
                                    serve_http(TokioIo::new(tls), st).await;
                                }
                            }
                        }
                    };
                    tokio::select! {
                        () = serve => {}
                        _ = closed.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        HttpCollector {
            addr,
            state,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT/v1/traces` (or https).
    pub fn url(&self, tls: bool) -> String {
        format!(
            "{}://127.0.0.1:{}/v1/traces",
            if tls { "https" } else { "http" },
            self.addr.port()
        )
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Drop for HttpCollector {
    fn drop(&mut self) {
        self.stop();
    }
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn serve_http<IO>(io: IO, state: Arc<HttpState>)
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let state = state.clone();
        async move { handle_http(req, state).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, svc)
        .await;
}

async fn handle_http(
    req: Request<Incoming>,
    state: Arc<HttpState>,
) -> Result<Response<BoxBody>, std::io::Error> {
    let headers = req.headers().clone();
    let max = match state.max_body.load(Ordering::SeqCst) {
        0 => usize::MAX,
        n => n,
    };
    let body = match http_body_util::Limited::new(req.into_body(), max)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            state.too_large.fetch_add(1, Ordering::SeqCst);
            return Ok(Response::builder()
                .status(413)
                .body(Full::new(Bytes::from_static(b"request body too large")).boxed())
                .unwrap());
        }
        Err(e) => return Err(std::io::Error::other(e)),
    };
    let wire_len = body.len();
    let raw = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
        use std::io::Read as _;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out)?;
        out
    } else {
        body.to_vec()
    };
    let request = ExportTraceServiceRequest::decode(&raw[..]).map_err(std::io::Error::other)?;
    let reply = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(HttpReply::Ok);
    state.received.lock().unwrap().push(HttpReceived {
        headers,
        request,
        reply: reply.clone(),
        wire_len,
    });
    let proto = |resp: ExportTraceServiceResponse| -> Response<BoxBody> {
        Response::builder()
            .header("content-type", "application/x-protobuf")
            .body(Full::new(Bytes::from(resp.encode_to_vec())).boxed())
            .unwrap()
    };
    match reply {
        HttpReply::Ok => Ok(proto(ExportTraceServiceResponse::default())),
        HttpReply::Partial { rejected, message } => Ok(proto(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message.into(),
            }),
        })),
        HttpReply::Status {
            code,
            retry_after,
            body,
        } => {
            let mut r = Response::builder()
                .status(code)
                .header("content-type", "application/x-protobuf");
            if let Some(ra) = retry_after {
                r = r.header("retry-after", ra);
            }
            Ok(r.body(Full::new(Bytes::from(body)).boxed()).unwrap())
        }
        HttpReply::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        HttpReply::Slow(d) => {
            tokio::time::sleep(d).await;
            Ok(proto(ExportTraceServiceResponse::default()))
        }
        HttpReply::Close => Err(std::io::Error::other("closing without an answer")),
        HttpReply::Endless { code } => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream = futures_stream(chunk);
            Ok(Response::builder()
                .status(code)
                .body(BodyExt::boxed(StreamBody::new(stream)))
                .unwrap())
        }
    }
}

/// An endless stream of the same chunk.
fn futures_stream(
    chunk: Bytes,
) -> impl tokio_stream::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + Sync {
    tokio_stream::iter(std::iter::repeat_with(move || {
        Ok(Frame::data(chunk.clone()))
    }))
}

// ---------------------------------------------------------------------------
// gRPC (tonic)
// ---------------------------------------------------------------------------

use opentelemetry_proto::tonic::collector::trace::v1 as tonic_trace;
use tonic_trace::trace_service_server::{TraceService, TraceServiceServer};

/// What the gRPC collector answers to one call.
#[derive(Clone, Debug)]
pub enum GrpcReply {
    Ok,
    Partial {
        rejected: i64,
        message: &'static str,
    },
    /// A status, with optional `google.rpc.Status` details bytes.
    Status {
        code: tonic::Code,
        message: &'static str,
        details: Option<Vec<u8>>,
    },
    Hang,
}

#[derive(Clone, Debug)]
pub struct GrpcReceived {
    pub metadata: http::HeaderMap,
    pub spans: usize,
    pub ids: Vec<Vec<u8>>,
    pub traces: Vec<Vec<u8>>,
    pub names: Vec<String>,
    pub reply: GrpcReply,
}

#[derive(Default)]
pub struct GrpcState {
    pub received: Mutex<Vec<GrpcReceived>>,
    pub script: Mutex<VecDeque<GrpcReply>>,
    pub connections: AtomicUsize,
}

impl GrpcState {
    pub fn accepted_spans(&self) -> usize {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| match r.reply {
                GrpcReply::Ok => r.spans,
                GrpcReply::Partial { rejected, .. } => r.spans - rejected as usize,
                _ => 0,
            })
            .sum()
    }

    pub fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn accepted_names(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| matches!(r.reply, GrpcReply::Ok | GrpcReply::Partial { .. }))
            .flat_map(|r| r.names.clone())
            .collect()
    }
}

struct Svc(Arc<GrpcState>);

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        request: tonic::Request<tonic_trace::ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<tonic_trace::ExportTraceServiceResponse>, tonic::Status> {
        let metadata = request.metadata().clone().into_headers();
        let req = request.into_inner();
        // Decode again with tracewire's own build.rs types: both agree.
        let ours = ExportTraceServiceRequest::decode(&req.encode_to_vec()[..]).unwrap();
        let reply = self
            .0
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(GrpcReply::Ok);
        self.0.received.lock().unwrap().push(GrpcReceived {
            metadata,
            spans: span_count(&ours),
            ids: span_ids(&ours),
            traces: span_traces(&ours),
            names: span_names(&ours),
            reply: reply.clone(),
        });
        match reply {
            GrpcReply::Ok => Ok(tonic::Response::new(Default::default())),
            GrpcReply::Partial { rejected, message } => Ok(tonic::Response::new(
                tonic_trace::ExportTraceServiceResponse {
                    partial_success: Some(tonic_trace::ExportTracePartialSuccess {
                        rejected_spans: rejected,
                        error_message: message.into(),
                    }),
                },
            )),
            GrpcReply::Status {
                code,
                message,
                details,
            } => Err(match details {
                Some(d) => tonic::Status::with_details(code, message, Bytes::from(d)),
                None => tonic::Status::new(code, message),
            }),
            GrpcReply::Hang => {
                std::future::pending::<()>().await;
                unreachable!()
            }
        }
    }
}

/// A TLS stream tonic can serve (tonic needs `Connected`).
pub struct TlsIo(tokio_rustls::server::TlsStream<TcpStream>);

impl tonic::transport::server::Connected for TlsIo {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for TlsIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

pub struct GrpcCollector {
    pub addr: SocketAddr,
    pub state: Arc<GrpcState>,
    stop: Option<oneshot::Sender<()>>,
}

impl GrpcCollector {
    pub async fn start(script: Vec<GrpcReply>, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(listener, script, tls)
    }

    pub fn start_on(
        listener: TcpListener,
        script: Vec<GrpcReply>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        Self::start_limited(listener, script, tls, 64 << 20)
    }

    /// Starts with tonic's `max_decoding_message_size` set to `max` (the
    /// Collector's default `max_recv_msg_size_mib` is 4 MiB): a larger
    /// request gets RESOURCE_EXHAUSTED.
    pub fn start_limited(
        listener: TcpListener,
        script: Vec<GrpcReply>,
        tls: Option<Arc<rustls::ServerConfig>>,
        max: usize,
    ) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(GrpcState {
            script: Mutex::new(script.into()),
            ..GrpcState::default()
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let service = TraceServiceServer::new(Svc(state.clone()))
            .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
            .accept_compressed(tonic::codec::CompressionEncoding::Zstd)
            .max_decoding_message_size(max);
        let st = state.clone();
        match tls {
            None => {
                let incoming = tokio_stream::StreamExt::map(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    move |s| {
                        st.connections.fetch_add(1, Ordering::SeqCst);
                        s
                    },
                );
                tokio::spawn(async move {
                    let _ = tonic::transport::Server::builder()
                        .add_service(service)
                        .serve_with_incoming_shutdown(incoming, async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            }
            Some(cfg) => {
                let acceptor = TlsAcceptor::from(cfg);
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<TlsIo, std::io::Error>>(16);
                tokio::spawn(async move {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        st.connections.fetch_add(1, Ordering::SeqCst);
                        let acceptor = acceptor.clone();
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            if let Ok(tls) = acceptor.accept(tcp).await {
                                let _ = tx.send(Ok(TlsIo(tls))).await;
                            }
                        });
                    }
                });
                let incoming = tokio_stream::wrappers::ReceiverStream::new(rx);
                tokio::spawn(async move {
                    let _ = tonic::transport::Server::builder()
                        .add_service(service)
                        .serve_with_incoming_shutdown(incoming, async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            }
        }
        GrpcCollector {
            addr,
            state,
            stop: Some(stop),
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Serves tonic's `TraceService` on a unix socket until `stopped`.
#[cfg(unix)]
pub async fn serve_unix(
    listener: tokio::net::UnixListener,
    state: Arc<GrpcState>,
    stopped: oneshot::Receiver<()>,
) {
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let _ = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(Svc(state)))
        .serve_with_incoming_shutdown(incoming, async {
            let _ = stopped.await;
        })
        .await;
}

impl Drop for GrpcCollector {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// Raw HTTP/2
// ---------------------------------------------------------------------------

/// What the raw HTTP/2 peer does with one call.
#[derive(Clone, Copy, Debug)]
pub enum H2Reply {
    /// Answer OK, properly framed.
    Ok,
    /// Answer OK, then send GOAWAY on the connection.
    OkThenGoAway,
    /// Reset the stream with this reason.
    Reset(h2::Reason),
    /// Answer with a message length prefix of 4 GiB - 1 and nothing more.
    HugePrefix,
    /// A trailers-only response with this gRPC status.
    TrailersOnly(u32),
}

#[derive(Default)]
pub struct H2State {
    pub script: Mutex<VecDeque<H2Reply>>,
    pub calls: Mutex<Vec<(usize, H2Reply)>>,
    pub connections: AtomicUsize,
}

impl H2State {
    pub fn accepted_spans(&self) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, r)| matches!(r, H2Reply::Ok | H2Reply::OkThenGoAway))
            .map(|(n, _)| n)
            .sum()
    }
}

pub struct H2Collector {
    pub addr: SocketAddr,
    pub state: Arc<H2State>,
    task: tokio::task::JoinHandle<()>,
}

impl H2Collector {
    pub async fn start(script: Vec<H2Reply>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(H2State {
            script: Mutex::new(script.into()),
            ..H2State::default()
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                st.connections.fetch_add(1, Ordering::SeqCst);
                let st = st.clone();
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(tcp).await else {
                        return;
                    };
                    // Each call on its own task, so that the connection keeps
                    // being driven (read, flow control, PINGs) while a call
                    // reads its body: a serial loop can stall a call's body
                    // behind the accept loop.
                    let (goaway_tx, mut goaway_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
                    loop {
                        let next = tokio::select! {
                            n = conn.accept() => n,
                            Some(()) = goaway_rx.recv() => {
                                conn.graceful_shutdown();
                                continue;
                            }
                        };
                        let Some(Ok((req, mut respond))) = next else {
                            break;
                        };
                        let st = st.clone();
                        let goaway = goaway_tx.clone();
                        tokio::spawn(async move {
                            let mut body = req.into_body();
                            let mut buf = Vec::new();
                            while let Some(Ok(chunk)) = body.data().await {
                                let _ = body.flow_control().release_capacity(chunk.len());
                                buf.extend_from_slice(&chunk);
                            }
                            let spans = ExportTraceServiceRequest::decode(&buf[5..])
                                .map(|r| span_count(&r))
                                .unwrap_or(0);
                            let reply =
                                st.script.lock().unwrap().pop_front().unwrap_or(H2Reply::Ok);
                            st.calls.lock().unwrap().push((spans, reply));
                            let ok_headers = || {
                                http::Response::builder()
                                    .status(200)
                                    .header("content-type", "application/grpc")
                                    .body(())
                                    .unwrap()
                            };
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", "0".parse().unwrap());
                            match reply {
                                H2Reply::Ok | H2Reply::OkThenGoAway => {
                                    let mut s = respond.send_response(ok_headers(), false).unwrap();
                                    let _ =
                                        s.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false);
                                    let _ = s.send_trailers(trailers);
                                    if matches!(reply, H2Reply::OkThenGoAway) {
                                        let _ = goaway.send(());
                                    }
                                }
                                H2Reply::Reset(reason) => respond.send_reset(reason),
                                H2Reply::HugePrefix => {
                                    let mut s = respond.send_response(ok_headers(), false).unwrap();
                                    let _ = s.send_data(
                                        Bytes::from_static(&[0, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]),
                                        false,
                                    );
                                    // ...and nothing more: the client must not wait for 4 GiB.
                                    // Keep the stream open while the connection keeps being polled.
                                    tokio::spawn(async move {
                                        tokio::time::sleep(Duration::from_secs(60)).await;
                                        drop(s);
                                    });
                                }
                                H2Reply::TrailersOnly(code) => {
                                    let r = http::Response::builder()
                                        .status(200)
                                        .header("content-type", "application/grpc")
                                        .header("grpc-status", code.to_string())
                                        .header("grpc-message", "trailers%20only")
                                        .body(())
                                        .unwrap();
                                    let _ = respond.send_response(r, true);
                                }
                            }
                        });
                    }
                });
            }
        });
        H2Collector { addr, state, task }
    }

    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.addr.port())
    }
}

impl Drop for H2Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A listener that accepts connections and never says a word: a TLS
/// handshake with it never completes.
pub async fn black_hole() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    (addr, task)
}

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// A CA, a server certificate for `localhost` / 127.0.0.1 signed by it, and
/// the means to sign client certificates, all generated at test time.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    pub fn new() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "tracewire test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);

        let server_key = KeyPair::generate().unwrap();
        let mut server =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        server
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let server_cert = server.signed_by(&server_key, &issuer).unwrap();
        Pki {
            dir: tempfile::tempdir().unwrap(),
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            issuer,
        }
    }

    /// Writes `contents` to a file in the PKI's temp dir.
    pub fn file(&self, name: &str, contents: &str) -> std::path::PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }

    /// The CA certificate's path.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.file("ca.pem", &self.ca_pem)
    }

    /// A client certificate for the key in `key_pkcs8_pem`, signed by the CA.
    pub fn client_cert(&self, key_pkcs8_pem: &str) -> String {
        let key = rcgen::KeyPair::from_pem(key_pkcs8_pem).unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["tracewire-client".to_string()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tracewire-client");
        params.signed_by(&key, &self.issuer).unwrap().pem()
    }

    /// Server TLS config; with `client_ca`, client certificates signed by
    /// this CA are required. `alpn`: protocols to offer.
    pub fn server_config(
        &self,
        require_client_cert: bool,
        alpn: &[&[u8]],
    ) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = vec![CertificateDer::from_pem_slice(self.server_cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).unwrap();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap())
                .unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut cfg = builder.with_single_cert(certs, key).unwrap();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(cfg)
    }
}
