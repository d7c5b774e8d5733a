//! A small HTTP reverse proxy on hyper that embeds tracewire the way Traefik
//! does, in a few lines on top of the `tower` feature's layers:
//!
//! - [`TraceLayer`] extracts `traceparent` / `tracestate` from the incoming
//!   request and opens the entrypoint SERVER span (HTTP semantic
//!   conventions, `capturedRequestHeaders` / `capturedResponseHeaders`, the
//!   query with only `safeQueryParams` shown, every other value
//!   `REDACTED`);
//! - [`ClientTraceLayer`] opens a CLIENT span for the upstream call and
//!   injects its `traceparent` upstream;
//! - the proxy answers its internal `/ping` itself, traced only when
//!   `addInternals` is on, and serves the pipeline's statistics in the
//!   Prometheus text format on `/metrics` (untraced; not forwarded).
//!
//! Configuration is Traefik's `tracing` section, as flags or a file:
//!
//! ```sh
//! cargo run --release --features tower --example proxy -- \
//!     --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000 \
//!     --tracing.otlp.grpc.endpoint=127.0.0.1:4317 --tracing.otlp.grpc.insecure=true \
//!     --tracing.capturedRequestHeaders=X-Request-Id --tracing.safeQueryParams=page
//! ```
//!
//! `--no-tracing` runs the same proxy without tracewire, to measure what
//! tracing adds, and `--sdk` traces it with the OpenTelemetry Rust SDK and
//! opentelemetry-otlp's gRPC exporter instead (same spans, same
//! `--tracing.*` endpoint, `sampleRate`, captured headers and safe query
//! parameters), to compare with what a user would pick instead
//! (`benches/proxy_latency.sh`, BENCHMARKS.md).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tower::util::BoxCloneSyncService;
use tower::{service_fn, Layer, ServiceExt};
use tracewire::tower::{ClientAddr, ClientTraceLayer, TraceLayer};
use tracewire::Pipeline;

#[path = "support/sdk_proxy.rs"]
mod sdk_proxy;
use sdk_proxy::SdkTracing;

type Body = Full<Bytes>;
/// The upstream client: a request in, the upstream's response or why not.
type Client = BoxCloneSyncService<Request<Body>, Response<Body>, String>;
/// The proxy's request handling, traced or not.
type App = BoxCloneSyncService<Request<Incoming>, Response<Body>, Infallible>;

/// Connections to the upstream, reused.
struct Upstream {
    host: String,
    port: u16,
    idle: Mutex<Vec<SendRequest<Body>>>,
}

impl Upstream {
    async fn sender(&self) -> Result<SendRequest<Body>, String> {
        let idle = self.idle.lock().ok().and_then(|mut c| c.pop());
        if let Some(mut s) = idle {
            if s.ready().await.is_ok() {
                return Ok(s);
            }
        }
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting upstream: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("upstream handshake: {e}"))?;
        tokio::spawn(conn);
        Ok(sender)
    }

    async fn send(self: Arc<Self>, req: Request<Body>) -> Result<Response<Body>, String> {
        let mut sender = self.sender().await?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("upstream request: {e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("upstream body: {e}"))?
            .to_bytes();
        if let Ok(mut c) = self.idle.lock() {
            if c.len() < 64 {
                c.push(sender);
            }
        }
        Ok(Response::from_parts(parts, Full::new(body)))
    }
}

/// Answers `/ping`, forwards everything else through `client`.
async fn handle(
    client: Client,
    host: HeaderValue,
    sdk: Option<Arc<SdkTracing>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    if req.uri().path() == "/ping" {
        return Ok(Response::new(Full::new(Bytes::from_static(b"OK"))));
    }
    // `--sdk`: the SERVER span, recorded by the OpenTelemetry SDK.
    let server = sdk.as_ref().map(|t| {
        let peer = req.extensions().get::<ClientAddr>().map(|a| a.0);
        t.server(&req, peer)
    });
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return Ok(bad_gateway(format!("reading the request body: {e}"))),
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut up = match Request::builder()
        .method(parts.method.clone())
        .uri(path)
        .body(Full::new(body))
    {
        Ok(r) => r,
        Err(e) => return Ok(bad_gateway(e.to_string())),
    };
    *up.headers_mut() = parts.headers;
    up.headers_mut().insert(http::header::HOST, host);
    // The SERVER span's context, the CLIENT span's parent.
    *up.extensions_mut() = parts.extensions;
    let (Some(sdk), Some(server)) = (sdk, server) else {
        return Ok(client.oneshot(up).await.unwrap_or_else(bad_gateway));
    };
    let upstream = up
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let call = sdk.client(&server, &mut up, &upstream);
    let result = client.oneshot(up).await;
    SdkTracing::end(
        &call,
        result.as_ref().ok().map(|r| r.status().as_u16()),
        400,
    );
    let response = result.unwrap_or_else(bad_gateway);
    SdkTracing::end(&server, Some(response.status().as_u16()), 500);
    Ok(response)
}

fn bad_gateway(e: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(format!("bad gateway: {e}\n"))));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

/// The proxy: the client and the app, traced by tracewire when `pipeline`
/// is given, by the OpenTelemetry SDK when `sdk` is.
fn build(
    upstream: Arc<Upstream>,
    pipeline: Option<(&Pipeline, &tracewire::config::Config)>,
    sdk: Option<Arc<SdkTracing>>,
) -> (App, App) {
    let host = HeaderValue::from_str(&format!("{}:{}", upstream.host, upstream.port))
        .unwrap_or_else(|_| HeaderValue::from_static("localhost"));
    let send = service_fn(move |req| upstream.clone().send(req));
    let client = match pipeline {
        Some((p, config)) => Client::new(
            ClientTraceLayer::new(p.tracer("tracewire-example-proxy"))
                .config(config)
                .layer(send),
        ),
        None => Client::new(send),
    };
    let app = service_fn(move |req| handle(client.clone(), host.clone(), sdk.clone(), req));
    match pipeline {
        Some((p, config)) => (
            App::new(
                TraceLayer::new(p.tracer("tracewire-example-proxy"))
                    .config(config)
                    .layer(app.clone()),
            ),
            App::new(app),
        ),
        None => (App::new(app.clone()), App::new(app)),
    }
}

struct Args {
    listen: SocketAddr,
    upstream: Uri,
    config: Option<PathBuf>,
    no_tracing: bool,
    sdk: bool,
    tracing_flags: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen: SocketAddr = "127.0.0.1:8080".parse().map_err(|e| format!("{e}"))?;
    let mut upstream = None;
    let mut config = None;
    let mut no_tracing = false;
    let mut sdk = false;
    let mut tracing_flags = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--listen" => listen = value("--listen")?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--upstream" => upstream = Some(value("--upstream")?.parse::<Uri>().map_err(|e| format!("--upstream: {e}"))?),
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--no-tracing" => no_tracing = true,
            "--sdk" => sdk = true,
            t if t.starts_with("--tracing") => tracing_flags.push(t.to_owned()),
            "--help" | "-h" => {
                return Err("usage: proxy --upstream http://HOST:PORT [--listen ADDR] [--config FILE] [--no-tracing | --sdk] [--tracing...]".into())
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Args {
        listen,
        upstream: upstream.ok_or("--upstream http://HOST:PORT is required")?,
        config,
        no_tracing,
        sdk,
        tracing_flags,
    })
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let mut config = None;
    if !args.no_tracing {
        match tracewire::config::load(args.config.as_deref(), &args.tracing_flags, |k| {
            std::env::var(k).ok()
        }) {
            Ok(c) if c.enabled => config = Some(c),
            Ok(_) => {
                eprintln!("no `tracing` section and no --tracing flag: proxying without tracing")
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
    }
    let pipeline = match config
        .as_ref()
        .filter(|_| !args.sdk)
        .map(Pipeline::from_config)
        .transpose()
    {
        Ok(p) => p.map(Arc::new),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let upstream = Arc::new(Upstream {
        host: args.upstream.host().unwrap_or("127.0.0.1").to_owned(),
        port: args.upstream.port_u16().unwrap_or(80),
        idle: Mutex::new(Vec::new()),
    });
    let add_internals = config.as_ref().is_some_and(|c| c.add_internals);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let sdk = match (args.sdk, config.as_ref()) {
        (true, Some(c)) => {
            let _runtime = rt.enter();
            match SdkTracing::new(c, sample_rate(&args.tracing_flags)) {
                Ok(t) => Some(Arc::new(t)),
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            }
        }
        _ => None,
    };
    let (traced, untraced) = build(
        upstream,
        pipeline.as_deref().zip(config.as_ref()),
        sdk.clone(),
    );
    let metrics = pipeline.clone();
    rt.block_on(async move {
        let listener = match TcpListener::bind(args.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("cannot listen on {}: {e}", args.listen);
                std::process::exit(1);
            }
        };
        if let Ok(a) = listener.local_addr() {
            eprintln!("proxy listening on http://{a}");
        }
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                accepted = listener.accept() => {
                    let Ok((tcp, peer)) = accepted else { continue };
                    let _ = tcp.set_nodelay(true);
                    let (traced, untraced, metrics) = (traced.clone(), untraced.clone(), metrics.clone());
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                            req.extensions_mut().insert(ClientAddr(peer));
                            let path = req.uri().path();
                            let metrics = metrics.as_ref().filter(|_| path == "/metrics").map(|p| {
                                let mut text = String::new();
                                p.render_metrics(&mut text);
                                text
                            });
                            let app = if path == "/ping" && !add_internals { untraced.clone() } else { traced.clone() };
                            async move {
                                match metrics {
                                    Some(text) => Ok(Response::new(Full::new(Bytes::from(text)))),
                                    None => app.oneshot(req).await,
                                }
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
                    });
                }
            }
        }
    });
    if let Some(p) = pipeline {
        let _ = p.shutdown(Duration::from_secs(5));
    }
    if let Some(t) = sdk {
        let _ = t.provider.shutdown();
    }
}

/// `--tracing.sampleRate` for the SDK (tracewire reads it from the
/// configuration); 1 when not given.
fn sample_rate(flags: &[String]) -> f64 {
    flags
        .iter()
        .rev()
        .find_map(|f| f.strip_prefix("--tracing.sampleRate="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0)
}
