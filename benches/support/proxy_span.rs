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
use tracewire::model::{SpanContext, SpanKind, Status};
use tracewire::sampling::Sampler;
use tracewire::{Pipeline, Span, Tracer};

/// The request values every span records. They pass through
/// `black_box`, so their lengths are unknown to the compiler, as a proxy's
/// request values are; keys are constants, as in instrumentation code.
pub struct Values {
    pub name: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub scheme: &'static str,
    pub host: &'static str,
    pub client: &'static str,
    pub agent: &'static str,
}

#[inline(always)]
pub fn values() -> Values {
    use std::hint::black_box;
    Values {
        name: black_box("GET /api/v1/users/{id}"),
        method: black_box("GET"),
        path: black_box("/api/v1/users/42"),
        scheme: black_box("https"),
        host: black_box("api.example.com"),
        client: black_box("10.0.3.7"),
        agent: black_box("Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"),
    }
}

/// Records one proxy-shaped span with tracewire.
#[inline]
pub fn tracewire_span(tracer: &Tracer, i: u64) {
    let v = values();
    let s = tracer.start(v.name, SpanKind::Server);
    fill_and_end(s, &v, i);
}

/// Records the same span as a child of `parent`.
#[inline]
pub fn tracewire_child_span(tracer: &Tracer, parent: &SpanContext, i: u64) {
    let v = values();
    let s = tracer.start_with_parent(v.name, SpanKind::Server, Some(parent));
    fill_and_end(s, &v, i);
}

/// The span's attributes and status, then its end.
#[inline(always)]
fn fill_and_end(mut s: Span, v: &Values, i: u64) {
    s.set_str("http.request.method", v.method);
    s.set_str("url.path", v.path);
    s.set_str("url.scheme", v.scheme);
    s.set_str("server.address", v.host);
    s.set_i64("server.port", 443);
    s.set_str("client.address", v.client);
    s.set_str("user_agent.original", v.agent);
    s.set_i64("http.response.status_code", 200 + (i & 1) as i64);
    s.set_status(Status::OK);
    s.end();
}

/// Records the same span with the OpenTelemetry SDK.
#[inline]
pub fn otel_span(tracer: &SdkTracer, i: u64) {
    let v = values();
    let mut s = tracer
        .span_builder(v.name)
        .with_kind(OtelKind::Server)
        .start(tracer);
    s.set_attribute(KeyValue::new("http.request.method", v.method));
    s.set_attribute(KeyValue::new("url.path", v.path));
    s.set_attribute(KeyValue::new("url.scheme", v.scheme));
    s.set_attribute(KeyValue::new("server.address", v.host));
    s.set_attribute(KeyValue::new("server.port", 443i64));
    s.set_attribute(KeyValue::new("client.address", v.client));
    s.set_attribute(KeyValue::new("user_agent.original", v.agent));
    s.set_attribute(KeyValue::new(
        "http.response.status_code",
        200 + (i & 1) as i64,
    ));
    s.set_status(OtelStatus::Ok);
    s.end();
}

/// The floor: the same span's bytes (ids from the same generator, the same
/// clock reads, name, kind, 8 attributes, status, flags) written into one
/// hot buffer by the simplest correct writer, and never queued. What
/// recording costs at the least on this machine.
pub struct Floor {
    buf: Vec<u8>,
    rng: u64,
}

impl Default for Floor {
    fn default() -> Self {
        Floor {
            buf: vec![0; 1024],
            rng: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// The floor's writer: appends at `n` in `b`, every write bounds-checked.
/// `benches/duty_floor.rs` writes its model's spans with it too.
pub struct W<'a> {
    pub b: &'a mut [u8],
    pub n: usize,
}

/// The bytes [`W::span_start`] writes for a span named `name`.
#[inline(always)]
pub fn span_start_len(name: &str) -> usize {
    2 + 16 + 2 + 8 + 2 + name.len() + 3 + 8 + 9
}

/// The bytes [`W::str_kv`] writes.
#[inline(always)]
pub fn str_kv_len(k: &str, v: &str) -> usize {
    2 + 2 + k.len() + 2 + 2 + v.len()
}

/// The bytes [`W::varint_kv`] writes.
#[inline(always)]
pub fn varint_kv_len(k: &str, x: &[u8]) -> usize {
    2 + 2 + k.len() + 2 + 1 + x.len()
}

/// The status (OK) and flags fields that close the floor's span.
pub const CLOSING: [u8; 10] = [0x7a, 2, 0x18, 1, 0x85, 0x01, 0x00, 0x01, 0, 0];

/// `v` as a protobuf varint: its bytes, and how many of them.
#[inline(always)]
pub fn varint(v: u64) -> ([u8; 10], usize) {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    let mut x = v;
    while x >= 0x80 {
        tmp[n] = (x as u8) | 0x80;
        x >>= 7;
        n += 1;
    }
    tmp[n] = x as u8;
    (tmp, n + 1)
}

impl W<'_> {
    #[inline(always)]
    pub fn bytes(&mut self, x: &[u8]) {
        self.b[self.n..self.n + x.len()].copy_from_slice(x);
        self.n += x.len();
    }
    /// The span's ids, name, kind, start time and a zero end time; returns
    /// where the end time goes.
    #[inline(always)]
    pub fn span_start(&mut self, (a, b, c): (u64, u64, u64), name: &str, t0: u64) -> usize {
        self.bytes(&[0x0a, 16]);
        self.bytes(&a.to_be_bytes());
        self.bytes(&b.to_be_bytes());
        self.bytes(&[0x12, 8]);
        self.bytes(&c.to_be_bytes());
        self.bytes(&[0x2a, name.len() as u8]);
        self.bytes(name.as_bytes());
        self.bytes(&[0x30, 2, 0x39]);
        self.bytes(&t0.to_le_bytes());
        let end_at = self.n + 1;
        self.bytes(&[0x41, 0, 0, 0, 0, 0, 0, 0, 0]);
        end_at
    }
    #[inline(always)]
    pub fn str_kv(&mut self, k: &str, v: &str) {
        let body = 2 + k.len() + 2 + 2 + v.len();
        self.bytes(&[0x4a, body as u8, 0x0a, k.len() as u8]);
        self.bytes(k.as_bytes());
        self.bytes(&[0x12, (2 + v.len()) as u8, 0x0a, v.len() as u8]);
        self.bytes(v.as_bytes());
    }
    #[inline(always)]
    pub fn i64_kv(&mut self, k: &str, v: i64) {
        let (tmp, n) = varint(v as u64);
        self.varint_kv(k, &tmp[..n]);
    }
    /// An integer attribute, its value given as varint bytes.
    #[inline(always)]
    pub fn varint_kv(&mut self, k: &str, x: &[u8]) {
        let body = 2 + k.len() + 2 + 1 + x.len();
        self.bytes(&[0x4a, body as u8, 0x0a, k.len() as u8]);
        self.bytes(k.as_bytes());
        self.bytes(&[0x12, (1 + x.len()) as u8, 0x18]);
        self.bytes(x);
    }
}

/// The floor's id generator (wyrand), the same as tracewire's.
#[inline(always)]
pub fn wyrand(s: &mut u64) -> u64 {
    *s = s.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(*s) * u128::from(*s ^ 0xe703_7ed1_a0b4_28db);
    ((t >> 64) as u64) ^ (t as u64)
}

impl Floor {
    /// Writes one span; returns its length.
    #[inline]
    pub fn span(&mut self, i: u64) -> usize {
        let v = values();
        let now = tracewire::internal::clock::now_unix_nanos;
        let t0 = now();
        let (a, b, c) = (
            wyrand(&mut self.rng),
            wyrand(&mut self.rng),
            wyrand(&mut self.rng),
        );
        let mut w = W {
            b: &mut self.buf,
            n: 0,
        };
        let end_at = w.span_start((a, b, c), v.name, t0);
        w.str_kv("http.request.method", v.method);
        w.str_kv("url.path", v.path);
        w.str_kv("url.scheme", v.scheme);
        w.str_kv("server.address", v.host);
        w.i64_kv("server.port", 443);
        w.str_kv("client.address", v.client);
        w.str_kv("user_agent.original", v.agent);
        w.i64_kv("http.response.status_code", 200 + (i & 1) as i64);
        w.bytes(&CLOSING[..4]); // status OK
        w.bytes(&CLOSING[4..]); // flags
        let n = w.n;
        let t1 = now();
        self.buf[end_at..end_at + 8].copy_from_slice(&t1.to_le_bytes());
        std::hint::black_box(&self.buf);
        n
    }
}

/// A pipeline exporting to [`Discard`], its chunks preallocated, with the
/// default sampler or `sampler`.
pub fn discard_pipeline(sampler: Option<Sampler>) -> Pipeline {
    let b = Pipeline::builder().exporter(Discard).preallocate(true);
    let b = match sampler {
        Some(s) => b.sampler(s),
        None => b,
    };
    match b.start() {
        Ok(p) => p,
        Err(e) => panic!("pipeline: {e}"),
    }
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
