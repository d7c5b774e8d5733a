//! The proxy-shaped span every benchmark records, with tracewire and with
//! the OpenTelemetry SDK: name, SERVER kind, 8 HTTP attributes, status.
#![allow(dead_code)]

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{
    Span as _, SpanKind as OtelKind, Status as OtelStatus, TraceContextExt as _, Tracer as _,
};
use opentelemetry::KeyValue;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracer;
use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
use tracewire::model::{SpanKind, Status};
use tracewire::Tracer;

/// Records one proxy-shaped span with tracewire.
#[inline]
pub fn tracewire_span(tracer: &Tracer, i: u64) {
    let mut s = tracer.start("GET /api/v1/users/{id}", SpanKind::Server);
    s.set_str("http.request.method", "GET");
    s.set_str("url.path", "/api/v1/users/42");
    s.set_str("url.scheme", "https");
    s.set_str("server.address", "api.example.com");
    s.set_i64("server.port", 443);
    s.set_str("client.address", "10.0.3.7");
    s.set_str(
        "user_agent.original",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    );
    s.set_i64("http.response.status_code", 200 + (i & 1) as i64);
    s.set_status(Status::OK);
    s.end();
}

/// Records the same span with the OpenTelemetry SDK.
#[inline]
pub fn otel_span(tracer: &SdkTracer, i: u64) {
    let mut s = tracer
        .span_builder("GET /api/v1/users/{id}")
        .with_kind(OtelKind::Server)
        .start(tracer);
    s.set_attribute(KeyValue::new("http.request.method", "GET"));
    s.set_attribute(KeyValue::new("url.path", "/api/v1/users/42"));
    s.set_attribute(KeyValue::new("url.scheme", "https"));
    s.set_attribute(KeyValue::new("server.address", "api.example.com"));
    s.set_attribute(KeyValue::new("server.port", 443i64));
    s.set_attribute(KeyValue::new("client.address", "10.0.3.7"));
    s.set_attribute(KeyValue::new(
        "user_agent.original",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    ));
    s.set_attribute(KeyValue::new(
        "http.response.status_code",
        200 + (i & 1) as i64,
    ));
    s.set_status(OtelStatus::Ok);
    s.end();
}

/// A tracewire exporter that accepts every batch and keeps nothing.
pub struct Discard;

impl Exporter for Discard {
    fn export(&self, r: ExportRequest) -> BoxFuture<'_, ExportReport> {
        Box::pin(async move { ExportReport::success(r.message().len() as u64, Some(r.buffer)) })
    }
}

/// An OpenTelemetry SDK exporter that accepts every batch and keeps nothing.
#[derive(Debug)]
pub struct OtelDiscard;

impl opentelemetry_sdk::trace::SpanExporter for OtelDiscard {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}

/// The incoming request's headers every proxy-request benchmark uses: a
/// `traceparent` and a header the proxy captures.
pub fn incoming_headers() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert(
        "traceparent",
        http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    h.insert("x-request-id", http::HeaderValue::from_static("req-42"));
    h
}

/// All the tracing work `examples/proxy.rs` does on a request's path, with
/// tracewire: extract the caller's context, a SERVER span with its
/// attributes and a captured header, a CLIENT span for the upstream call,
/// inject its `traceparent` into the upstream request, end both.
#[inline]
pub fn tracewire_proxy_request(
    tracer: &Tracer,
    incoming: &http::HeaderMap,
    upstream: &mut http::HeaderMap,
) {
    let parent = tracewire::propagation::extract_from_headers(incoming);
    let mut server = tracer.start_with_parent("GET", SpanKind::Server, parent.as_ref());
    server.set_str("http.request.method", "GET");
    server.set_str("url.path", "/api/v1/users/42");
    server.set_str("url.query", "page=2&q=REDACTED");
    server.set_str("url.scheme", "http");
    server.set_str("network.protocol.version", "1.1");
    server.set_str("client.address", "127.0.0.1");
    if let Some(v) = incoming.get("x-request-id").and_then(|v| v.to_str().ok()) {
        server.set_str("http.request.header.x-request-id", v);
    }
    let mut client = tracer.start_with_parent("GET", SpanKind::Client, Some(server.context()));
    client.set_str("http.request.method", "GET");
    client.set_str("server.address", "127.0.0.1");
    client.set_i64("server.port", 9000);
    client.set_str(
        "url.full",
        "http://127.0.0.1:9000/api/v1/users/42?page=2&q=REDACTED",
    );
    tracewire::propagation::inject_into_headers(client.context(), upstream);
    client.set_i64("http.response.status_code", 200);
    client.end();
    server.set_i64("http.response.status_code", 200);
    server.end();
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}

/// The same work as [`tracewire_proxy_request`], with the OpenTelemetry
/// SDK and its W3C propagator.
#[inline]
pub fn otel_proxy_request(
    tracer: &SdkTracer,
    propagator: &TraceContextPropagator,
    incoming: &http::HeaderMap,
    upstream: &mut http::HeaderMap,
) {
    let parent = propagator.extract(&HeaderExtractor(incoming));
    let mut server = tracer
        .span_builder("GET")
        .with_kind(OtelKind::Server)
        .start_with_context(tracer, &parent);
    server.set_attribute(KeyValue::new("http.request.method", "GET"));
    server.set_attribute(KeyValue::new("url.path", "/api/v1/users/42"));
    server.set_attribute(KeyValue::new("url.query", "page=2&q=REDACTED"));
    server.set_attribute(KeyValue::new("url.scheme", "http"));
    server.set_attribute(KeyValue::new("network.protocol.version", "1.1"));
    server.set_attribute(KeyValue::new("client.address", "127.0.0.1"));
    if let Some(v) = incoming.get("x-request-id").and_then(|v| v.to_str().ok()) {
        server.set_attribute(KeyValue::new(
            "http.request.header.x-request-id",
            v.to_owned(),
        ));
    }
    let server_cx = parent.with_span(server);
    let client = tracer
        .span_builder("GET")
        .with_kind(OtelKind::Client)
        .start_with_context(tracer, &server_cx);
    let client_cx = server_cx.with_span(client);
    let client = client_cx.span();
    client.set_attribute(KeyValue::new("http.request.method", "GET"));
    client.set_attribute(KeyValue::new("server.address", "127.0.0.1"));
    client.set_attribute(KeyValue::new("server.port", 9000i64));
    client.set_attribute(KeyValue::new(
        "url.full",
        "http://127.0.0.1:9000/api/v1/users/42?page=2&q=REDACTED",
    ));
    propagator.inject_context(&client_cx, &mut HeaderInjector(upstream));
    client.set_attribute(KeyValue::new("http.response.status_code", 200i64));
    client.end();
    let server = server_cx.span();
    server.set_attribute(KeyValue::new("http.response.status_code", 200i64));
    server.end();
}
