//! The tower layers with real peers: a hyper server wrapped in
//! `TraceLayer` forwards through a hyper client wrapped in
//! `ClientTraceLayer` to a real upstream (another hyper server), called by
//! a real HTTP client with a `traceparent`, exporting over OTLP/HTTP to a
//! real collector. Checks the SERVER span's parent, name, attributes and
//! status, the CLIENT span's parent and status, the `traceparent` the
//! upstream saw, errors (5xx, transport), and that an unsampled request
//! exports nothing but still propagates its context.
#![cfg(feature = "tower")]

use crate::common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::collectors::*;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tower::{Layer, ServiceExt};
use tracewire::model::{AnyValue, SpanData, SpanKind, StatusCode as OtelStatus};
use tracewire::proto::span_from_proto;
use tracewire::tower::{ClientAddr, ClientTraceLayer, TraceLayer};
use tracewire::Pipeline;

type Body = Full<Bytes>;

/// The upstream: answers 503 on `/fail`, 200 with `x-upstream: up`
/// otherwise, and keeps every `traceparent` it saw.
/// An upstream that records the headers of each request it gets.
async fn upstream() -> (SocketAddr, Arc<Mutex<Vec<http::HeaderMap>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let s = s.clone();
                    async move {
                        s.lock().unwrap().push(req.headers().clone());
                        let mut resp = Response::new(Body::new(Bytes::from_static(b"hi")));
                        if req.uri().path() == "/fail" {
                            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                        }
                        resp.headers_mut()
                            .insert("x-upstream", "up".parse().unwrap());
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

/// One HTTP/1.1 request on a new connection.
async fn send(addr: SocketAddr, req: Request<Body>) -> Result<Response<Body>, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// The proxy under test: `TraceLayer` around a handler that forwards
/// through `ClientTraceLayer` to `upstream`.
async fn proxy(
    pipeline: &Pipeline,
    config: &tracewire::config::Config,
    upstream: SocketAddr,
) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_layer = TraceLayer::new(pipeline.tracer("tower-test"))
        .config(config)
        .route(|uri, _| {
            uri.path()
                .starts_with("/items/")
                .then_some("/items/{id}".into())
        });
    let client = ClientTraceLayer::new(pipeline.tracer("tower-test"))
        .config(config)
        .layer(tower::service_fn(move |req: Request<Body>| {
            send(upstream, req)
        }));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                return;
            };
            let client = client.clone();
            let handler = tower::service_fn(move |req: Request<Incoming>| {
                let client = client.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
                    let mut up = Request::builder()
                        .method(parts.method)
                        .uri(parts.uri.path_and_query().map_or("/", |p| p.as_str()))
                        .header("host", upstream.to_string())
                        .body(Full::new(body))
                        .unwrap();
                    // The SERVER span's context: the CLIENT span's parent.
                    *up.extensions_mut() = parts.extensions;
                    Ok::<_, String>(match client.oneshot(up).await {
                        Ok(r) => r,
                        Err(_) => {
                            let mut r = Response::new(Body::default());
                            *r.status_mut() = StatusCode::BAD_GATEWAY;
                            r
                        }
                    })
                }
            });
            let svc = server_layer.layer(handler);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(ClientAddr(peer));
                    svc.clone().oneshot(req)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    addr
}

fn exported(collector: &HttpCollector) -> Vec<SpanData> {
    let received = collector.state.received.lock().unwrap();
    received
        .iter()
        .flat_map(|r| r.request.resource_spans.iter())
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .map(|s| span_from_proto(s).unwrap())
        .collect()
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

fn s(v: &str) -> AnyValue {
    AnyValue::String(v.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_on_the_layers_traces_server_and_client_spans() {
    let collector = HttpCollector::start(vec![], None).await;
    let flags = [
        format!("--tracing.otlp.http.endpoint={}", collector.url(false)),
        "--tracing.capturedRequestHeaders=X-Request-Id".to_owned(),
        "--tracing.capturedResponseHeaders=X-Upstream".to_owned(),
        "--tracing.safeQueryParams=page".to_owned(),
    ];
    let config = tracewire::config::load(None, &flags, |_| None).unwrap();
    let pipeline = Pipeline::from_config(&config).unwrap();
    let (up_addr, up_seen) = upstream().await;
    let addr = proxy(&pipeline, &config, up_addr).await;

    // A sampled request with a remote parent.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let resp = send(
        addr,
        Request::get("/items/42?q=secret&page=2")
            .header("host", addr.to_string())
            .header("traceparent", format!("00-{trace}-{caller}-01"))
            .header("x-request-id", "req-1")
            .header("x-request-id", "req-1b")
            .header("user-agent", "tower-test/1")
            .body(Body::default())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    // The upstream answers 503: both spans are errors.
    let trace_fail = "11111111111111111111111111111111";
    let resp = send(
        addr,
        Request::post("/fail")
            .header("host", addr.to_string())
            .header("traceparent", format!("00-{trace_fail}-{caller}-01"))
            .body(Body::default())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 503);
    // Not sampled by the caller: nothing exported, the context still goes
    // upstream.
    let trace_unsampled = "22222222222222222222222222222222";
    let resp = send(
        addr,
        Request::get("/items/1")
            .header("host", addr.to_string())
            .header("traceparent", format!("00-{trace_unsampled}-{caller}-00"))
            .body(Body::default())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);

    tokio::task::block_in_place(|| pipeline.force_flush(Duration::from_secs(10))).unwrap();
    let spans = exported(&collector);
    assert_eq!(spans.len(), 4, "two spans per sampled request: {spans:#?}");
    let of_trace = |t: &str, kind: SpanKind| {
        spans
            .iter()
            .find(|s| s.trace_id.to_string() == t && s.kind == kind)
            .unwrap_or_else(|| panic!("no {kind:?} span in trace {t}: {spans:#?}"))
    };

    let server = of_trace(trace, SpanKind::Server);
    assert_eq!(server.name, "GET /items/{id}");
    assert_eq!(server.parent_span_id.unwrap().to_string(), caller);
    for (k, v) in [
        ("http.request.method", s("GET")),
        ("url.scheme", s("http")),
        ("url.path", s("/items/42")),
        ("url.query", s("q=REDACTED&page=2")),
        ("http.route", s("/items/{id}")),
        ("server.address", s("127.0.0.1")),
        ("server.port", AnyValue::Int(i64::from(addr.port()))),
        ("client.address", s("127.0.0.1")),
        ("user_agent.original", s("tower-test/1")),
        ("network.protocol.version", s("1.1")),
        (
            "http.request.header.x-request-id",
            AnyValue::Array(vec![s("req-1"), s("req-1b")]),
        ),
        (
            "http.response.header.x-upstream",
            AnyValue::Array(vec![s("up")]),
        ),
        ("http.response.status_code", AnyValue::Int(200)),
    ] {
        assert_eq!(attr(server, k), Some(&v), "{k} in {server:#?}");
    }
    assert!(attr(server, "client.port").is_some());
    assert!(server
        .status
        .as_ref()
        .is_none_or(|s| s.code == OtelStatus::Unset));

    let client = of_trace(trace, SpanKind::Client);
    assert_eq!(client.name, "GET");
    assert_eq!(
        client.parent_span_id,
        Some(server.span_id),
        "CLIENT under SERVER"
    );
    for (k, v) in [
        ("http.request.method", s("GET")),
        ("server.address", s("127.0.0.1")),
        ("server.port", AnyValue::Int(i64::from(up_addr.port()))),
        (
            "url.full",
            s(&format!("http://{up_addr}/items/42?q=REDACTED&page=2")),
        ),
        ("http.response.status_code", AnyValue::Int(200)),
        (
            "http.response.header.x-upstream",
            AnyValue::Array(vec![s("up")]),
        ),
    ] {
        assert_eq!(attr(client, k), Some(&v), "{k} in {client:#?}");
    }
    assert!(client.start_time_unix_nano >= server.start_time_unix_nano);
    assert!(client.end_time_unix_nano <= server.end_time_unix_nano);

    // The upstream saw the CLIENT span's context, in order of requests.
    let seen: Vec<String> = up_seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|h| h.get("traceparent"))
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0], format!("00-{trace}-{}-01", client.span_id));

    let server_fail = of_trace(trace_fail, SpanKind::Server);
    let client_fail = of_trace(trace_fail, SpanKind::Client);
    assert_eq!(server_fail.name, "POST", "no route: the method alone");
    for span in [server_fail, client_fail] {
        assert_eq!(
            attr(span, "http.response.status_code"),
            Some(&AnyValue::Int(503))
        );
        assert_eq!(attr(span, "error.type"), Some(&s("503")));
        assert_eq!(
            span.status.as_ref().map(|s| s.code),
            Some(OtelStatus::Error),
            "{span:#?}"
        );
    }
    assert_eq!(client_fail.parent_span_id, Some(server_fail.span_id));

    assert!(spans
        .iter()
        .all(|s| s.trace_id.to_string() != trace_unsampled));
    assert!(
        seen[2].starts_with(&format!("00-{trace_unsampled}-")) && seen[2].ends_with("-00"),
        "the unsampled context propagates: {}",
        seen[2]
    );
    assert_ne!(
        seen[2],
        format!("00-{trace_unsampled}-{caller}-00"),
        "a new span id"
    );

    let stats = pipeline
        .shutdown_async(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((stats.exported, stats.sampled_out), (4, 2), "{stats:?}");
}

/// `OTEL_PROPAGATORS=b3multi,baggage`: the SERVER span continues the
/// incoming B3 trace, the upstream gets the CLIENT span's context in B3
/// headers (no stale parent id, no traceparent: tracecontext is not listed)
/// and the incoming baggage byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b3_and_baggage_through_a_proxy_on_the_layers() {
    let collector = HttpCollector::start(vec![], None).await;
    let flags = [format!(
        "--tracing.otlp.http.endpoint={}",
        collector.url(false)
    )];
    let env = |k: &str| (k == "OTEL_PROPAGATORS").then(|| "b3multi,baggage".to_owned());
    let config = tracewire::config::load(None, &flags, env).unwrap();
    let pipeline = Pipeline::from_config(&config).unwrap();
    let (up_addr, up_seen) = upstream().await;
    let addr = proxy(&pipeline, &config, up_addr).await;
    let trace = "80f198ee56343ba864fe8b2a57d3eff7";
    let baggage = "userId=alice,serverNode=DF%2028;prio=1";
    let resp = send(
        addr,
        Request::get("/b3")
            .header("host", addr.to_string())
            .header("x-b3-traceid", trace)
            .header("x-b3-spanid", "e457b5a2e4d86bd1")
            .header("x-b3-parentspanid", "05e3ac9a4f6e3b90")
            .header("x-b3-sampled", "1")
            .header("baggage", baggage)
            .body(Body::default())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    tokio::task::block_in_place(|| pipeline.force_flush(Duration::from_secs(10))).unwrap();
    let spans = exported(&collector);
    let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
    let client = spans.iter().find(|s| s.kind == SpanKind::Client).unwrap();
    assert_eq!(server.trace_id.to_string(), trace);
    assert_eq!(
        server.parent_span_id.map(|p| p.to_string()).as_deref(),
        Some("e457b5a2e4d86bd1")
    );
    let seen = up_seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    let h = &seen[0];
    assert_eq!(h["x-b3-traceid"], trace);
    assert_eq!(h["x-b3-spanid"], client.span_id.to_string().as_str());
    assert_eq!(h["x-b3-sampled"], "1");
    assert!(!h.contains_key("x-b3-parentspanid"), "{h:?}");
    assert!(!h.contains_key("traceparent"), "{h:?}");
    assert_eq!(h["baggage"], baggage);
    pipeline
        .shutdown_async(Duration::from_secs(5))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_is_down_is_a_transport_error_on_both_spans() {
    let collector = HttpCollector::start(vec![], None).await;
    let flags = [format!(
        "--tracing.otlp.http.endpoint={}",
        collector.url(false)
    )];
    let config = tracewire::config::load(None, &flags, |_| None).unwrap();
    let pipeline = Pipeline::from_config(&config).unwrap();
    // A port nothing listens on.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let addr = proxy(&pipeline, &config, down).await;
    let resp = send(
        addr,
        Request::get("/x")
            .header("host", addr.to_string())
            .body(Body::default())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 502);
    tokio::task::block_in_place(|| pipeline.force_flush(Duration::from_secs(10))).unwrap();
    let spans = exported(&collector);
    assert_eq!(spans.len(), 2, "{spans:#?}");
    let server = spans.iter().find(|s| s.kind == SpanKind::Server).unwrap();
    let client = spans.iter().find(|s| s.kind == SpanKind::Client).unwrap();
    assert!(server.parent_span_id.is_none(), "no traceparent: a root");
    assert_eq!(client.parent_span_id, Some(server.span_id));
    assert_eq!(client.trace_id, server.trace_id);
    assert_eq!(attr(client, "error.type"), Some(&s("transport_error")));
    let status = client.status.as_ref().unwrap();
    assert_eq!(status.code, OtelStatus::Error);
    assert!(status.message.contains("connect"), "{status:?}");
    assert_eq!(attr(client, "http.response.status_code"), None);
    assert_eq!(
        attr(server, "http.response.status_code"),
        Some(&AnyValue::Int(502))
    );
    assert_eq!(
        server.status.as_ref().map(|s| s.code),
        Some(OtelStatus::Error)
    );
    pipeline
        .shutdown_async(Duration::from_secs(5))
        .await
        .unwrap();
}

/// An inner service that fails (hyper then drops the connection): the
/// SERVER span still ends, with an error status naming the failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_service_is_an_error_span() {
    let collector = HttpCollector::start(vec![], None).await;
    let flags = [format!(
        "--tracing.otlp.http.endpoint={}",
        collector.url(false)
    )];
    let config = tracewire::config::load(None, &flags, |_| None).unwrap();
    let pipeline = Pipeline::from_config(&config).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let svc = TraceLayer::new(pipeline.tracer("tower-test"))
        .config(&config)
        .layer(tower::service_fn(|_req: Request<Incoming>| async {
            Err::<Response<Body>, String>("the handler gave up".into())
        }));
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let svc = hyper::service::service_fn(move |req| svc.clone().oneshot(req));
        let _ = hyper::server::conn::http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), svc)
            .await;
    });
    let trace = "33333333333333333333333333333333";
    let result = send(
        addr,
        Request::get("/boom")
            .header("host", addr.to_string())
            .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
            .body(Body::default())
            .unwrap(),
    )
    .await;
    assert!(result.is_err(), "hyper closes the connection: {result:?}");
    tokio::task::block_in_place(|| pipeline.force_flush(Duration::from_secs(10))).unwrap();
    let spans = exported(&collector);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let server = &spans[0];
    assert_eq!(server.trace_id.to_string(), trace);
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(attr(server, "error.type"), Some(&s("service_error")));
    assert_eq!(attr(server, "http.response.status_code"), None);
    let status = server.status.as_ref().unwrap();
    assert_eq!(status.code, OtelStatus::Error);
    assert_eq!(status.message, "the handler gave up");
    pipeline
        .shutdown_async(Duration::from_secs(5))
        .await
        .unwrap();
}
