//! A small HTTP reverse proxy on hyper that embeds tracewire the way Traefik
//! does:
//!
//! - extracts `traceparent` / `tracestate` from the incoming request;
//! - opens the entrypoint SERVER span and a CLIENT span for the upstream
//!   call, and injects the CLIENT span's `traceparent` upstream;
//! - records `capturedRequestHeaders` / `capturedResponseHeaders` and the
//!   URL with only `safeQueryParams` shown (every other query value is
//!   `REDACTED`);
//! - answers its internal `/ping` itself, traced only when `addInternals`
//!   is on.
//!
//! Configuration is Traefik's `tracing` section, as flags or a file:
//!
//! ```sh
//! cargo run --release --example proxy -- \
//!     --listen 127.0.0.1:8080 --upstream http://127.0.0.1:9000 \
//!     --tracing.otlp.grpc.endpoint=127.0.0.1:4317 --tracing.otlp.grpc.insecure=true \
//!     --tracing.capturedRequestHeaders=X-Request-Id --tracing.safeQueryParams=page
//! ```
//!
//! `--no-tracing` runs the same proxy without tracewire, to measure what
//! tracing adds (see BENCHMARKS.md).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracewire::config::Config;
use tracewire::model::{SpanKind, Status};
use tracewire::propagation::{extract_from_headers, inject_into_headers};
use tracewire::{Pipeline, Span, Tracer};

type Body = Full<Bytes>;

struct Proxy {
    upstream: Uri,
    upstream_host: String,
    upstream_port: u16,
    /// `None` with --no-tracing.
    tracing: Option<Tracing>,
    clients: std::sync::Mutex<Vec<hyper::client::conn::http1::SendRequest<Body>>>,
}

struct Tracing {
    tracer: Tracer,
    config: Config,
    /// `http.request.header.<name>` keys, precomputed per captured header.
    request_keys: Vec<(http::HeaderName, String)>,
    response_keys: Vec<(http::HeaderName, String)>,
}

/// The URL's path and query with every query value that is not a safe
/// parameter replaced by `REDACTED`, as Traefik does.
fn redacted_target(uri: &Uri, safe: &[String]) -> String {
    let path = uri.path();
    let Some(query) = uri.query() else {
        return path.to_owned();
    };
    let mut out = String::with_capacity(path.len() + query.len() + 1);
    out.push_str(path);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, v)) => {
                out.push_str(k);
                out.push('=');
                out.push_str(if safe.iter().any(|s| s == k) {
                    v
                } else {
                    "REDACTED"
                });
            }
            None => out.push_str(pair),
        }
    }
    out
}

fn header_keys(names: &[String], prefix: &str) -> Vec<(http::HeaderName, String)> {
    names
        .iter()
        .filter_map(|n| {
            let name = http::HeaderName::from_bytes(n.as_bytes()).ok()?;
            let key = format!("{prefix}{}", name.as_str());
            Some((name, key))
        })
        .collect()
}

impl Proxy {
    async fn upstream_sender(
        &self,
    ) -> Result<hyper::client::conn::http1::SendRequest<Body>, String> {
        let idle = self.clients.lock().ok().and_then(|mut c| c.pop());
        if let Some(mut s) = idle {
            if s.ready().await.is_ok() {
                return Ok(s);
            }
        }
        let tcp = tokio::net::TcpStream::connect((self.upstream_host.as_str(), self.upstream_port))
            .await
            .map_err(|e| format!("connecting upstream: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| format!("upstream handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    async fn forward(
        &self,
        req: Request<Incoming>,
        client_span: Option<&Span>,
    ) -> Result<Response<Body>, String> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the request body: {e}"))?
            .to_bytes();
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut up = Request::builder()
            .method(parts.method.clone())
            .uri(path)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        *up.headers_mut() = parts.headers;
        if let Ok(host) =
            HeaderValue::from_str(&format!("{}:{}", self.upstream_host, self.upstream_port))
        {
            up.headers_mut().insert(http::header::HOST, host);
        }
        if let Some(span) = client_span {
            inject_into_headers(span.context(), up.headers_mut());
        }
        let mut sender = self.upstream_sender().await?;
        let resp = sender
            .send_request(up)
            .await
            .map_err(|e| format!("upstream request: {e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("upstream body: {e}"))?
            .to_bytes();
        if let Ok(mut c) = self.clients.lock() {
            if c.len() < 64 {
                c.push(sender);
            }
        }
        Ok(Response::from_parts(parts, Full::new(body)))
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<Body>, Infallible> {
        let internal = req.uri().path() == "/ping";
        let traced = match &self.tracing {
            Some(t) if !internal || t.config.add_internals => Some(t),
            _ => None,
        };
        let Some(t) = traced else {
            return Ok(if internal {
                ping()
            } else {
                self.forward(req, None).await.unwrap_or_else(bad_gateway)
            });
        };

        // Entry point: the SERVER span, child of the caller's context.
        let parent = extract_from_headers(req.headers());
        let method = req.method().clone();
        let mut server =
            t.tracer
                .start_with_parent(method.as_str(), SpanKind::Server, parent.as_ref());
        server.set_str("http.request.method", method.as_str());
        server.set_str("url.path", req.uri().path());
        if req.uri().query().is_some() {
            server.set_str(
                "url.query",
                &redacted_target(req.uri(), &t.config.safe_query_params),
            );
        }
        server.set_str("url.scheme", "http");
        server.set_str("network.protocol.version", "1.1");
        server.set_str("client.address", &peer.ip().to_string());
        if let Some(ua) = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            server.set_str("user_agent.original", ua);
        }
        for (name, key) in &t.request_keys {
            if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
                server.set_str(key, v);
            }
        }

        let response = if internal {
            ping()
        } else {
            // The upstream call: a CLIENT span, injected upstream.
            let mut client = t.tracer.start_with_parent(
                method.as_str(),
                SpanKind::Client,
                Some(server.context()),
            );
            client.set_str("http.request.method", method.as_str());
            client.set_str("server.address", &self.upstream_host);
            client.set_i64("server.port", i64::from(self.upstream_port));
            let full = format!(
                "{}://{}:{}{}",
                self.upstream.scheme_str().unwrap_or("http"),
                self.upstream_host,
                self.upstream_port,
                redacted_target(req.uri(), &t.config.safe_query_params)
            );
            client.set_str("url.full", &full);
            let resp = match self.forward(req, Some(&client)).await {
                Ok(r) => r,
                Err(e) => {
                    client.set_status(Status::error(e.clone()));
                    bad_gateway(e)
                }
            };
            client.set_i64(
                "http.response.status_code",
                i64::from(resp.status().as_u16()),
            );
            if resp.status().is_server_error() {
                client.set_status(Status::error("upstream answered with a server error"));
            }
            client.end();
            resp
        };
        server.set_i64(
            "http.response.status_code",
            i64::from(response.status().as_u16()),
        );
        for (name, key) in &t.response_keys {
            if let Some(v) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
                server.set_str(key, v);
            }
        }
        if response.status().is_server_error() {
            server.set_status(Status::error("server error"));
        }
        server.end();
        Ok(response)
    }
}

fn ping() -> Response<Body> {
    Response::new(Full::new(Bytes::from_static(b"OK")))
}

fn bad_gateway(e: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(format!("bad gateway: {e}\n"))));
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}

struct Args {
    listen: SocketAddr,
    upstream: Uri,
    config: Option<PathBuf>,
    no_tracing: bool,
    tracing_flags: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut listen: SocketAddr = "127.0.0.1:8080".parse().map_err(|e| format!("{e}"))?;
    let mut upstream = None;
    let mut config = None;
    let mut no_tracing = false;
    let mut tracing_flags = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--listen" => listen = value("--listen")?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--upstream" => upstream = Some(value("--upstream")?.parse::<Uri>().map_err(|e| format!("--upstream: {e}"))?),
            "--config" => config = Some(PathBuf::from(value("--config")?)),
            "--no-tracing" => no_tracing = true,
            t if t.starts_with("--tracing") => tracing_flags.push(t.to_owned()),
            "--help" | "-h" => {
                return Err("usage: proxy --upstream http://HOST:PORT [--listen ADDR] [--config FILE] [--no-tracing] [--tracing...]".into())
            }
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Args {
        listen,
        upstream: upstream.ok_or("--upstream http://HOST:PORT is required")?,
        config,
        no_tracing,
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
    let (pipeline, tracing) = if args.no_tracing {
        (None, None)
    } else {
        let config =
            match tracewire::config::load(args.config.as_deref(), &args.tracing_flags, |k| {
                std::env::var(k).ok()
            }) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    std::process::exit(1);
                }
            };
        if !config.enabled {
            eprintln!("no `tracing` section and no --tracing flag: proxying without tracing");
        }
        let pipeline = match config
            .enabled
            .then(|| Pipeline::from_config(&config))
            .transpose()
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let tracing = pipeline.as_ref().map(|p| Tracing {
            tracer: p.tracer("tracewire-example-proxy"),
            request_keys: header_keys(&config.captured_request_headers, "http.request.header."),
            response_keys: header_keys(&config.captured_response_headers, "http.response.header."),
            config: config.clone(),
        });
        (pipeline, tracing)
    };
    let upstream_host = args.upstream.host().unwrap_or("127.0.0.1").to_owned();
    let upstream_port = args.upstream.port_u16().unwrap_or(80);
    let proxy = Arc::new(Proxy {
        upstream: args.upstream,
        upstream_host,
        upstream_port,
        tracing,
        clients: std::sync::Mutex::new(Vec::new()),
    });
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
                    let proxy = proxy.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| proxy.clone().handle(req, peer));
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc).await;
                    });
                }
            }
        }
    });
    if let Some(p) = pipeline {
        let _ = p.shutdown(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_query_params_are_shown() {
        let uri: Uri = "/search?q=secret&page=2&flag".parse().unwrap();
        assert_eq!(
            redacted_target(&uri, &["page".into()]),
            "/search?q=REDACTED&page=2&flag"
        );
    }
}
