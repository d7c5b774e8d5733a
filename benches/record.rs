//! The cost of recording one proxy-shaped span (name, SERVER kind, 8
//! attributes, status) on the proxy's thread, tracewire against the
//! OpenTelemetry Rust SDK (tracer + batch span processor), side by side.
//!
//! Both pipelines export to a sink that discards batches, so what is
//! measured is what the proxy's thread pays; both drop spans when their
//! queue is full, as they would in production.
//!
//! - `tracewire`, `opentelemetry_sdk`: one thread recording.
//! - `tracewire_2_threads`, `opentelemetry_sdk_2_threads`: two threads
//!   recording at once; the time is the wall time per span per thread.
//! - `tracewire_unsampled`: a span the sampler drops (context only).
//! - `tracewire_proxy_request`: all the tracing work examples/proxy.rs does
//!   on a request's path (extract, SERVER and CLIENT spans, inject).
//!
//! Run: `cargo bench --bench record`

use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracewire::sampling::Sampler;
use tracewire::Pipeline;

#[path = "support/proxy_span.rs"]
mod proxy_span;
use proxy_span::{otel_span, tracewire_span, Discard, OtelDiscard};

/// Wall time per span per thread, with `threads` threads recording `iters`
/// spans each, started together.
fn per_thread<F: Fn(u64) + Sync>(threads: usize, iters: u64, f: F) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                for i in 0..iters {
                    f(i);
                }
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

fn bench_record(c: &mut Criterion) {
    let pipeline = Pipeline::builder()
        .exporter(Discard)
        .preallocate(true)
        .start()
        .unwrap();
    let tracer = pipeline.tracer("bench");
    let unsampled = Pipeline::builder()
        .exporter(Discard)
        .sampler(Sampler::AlwaysOff)
        .start()
        .unwrap();
    let unsampled_tracer = unsampled.tracer("bench");

    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(OtelDiscard)
        .build();
    let otel = provider.tracer("bench");

    let mut group = c.benchmark_group("record");
    group.bench_function("tracewire", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            tracewire_span(&tracer, i)
        })
    });
    group.bench_function("opentelemetry_sdk", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            otel_span(&otel, i)
        })
    });
    group.bench_function("tracewire_2_threads", |b| {
        b.iter_custom(|iters| per_thread(2, iters, |i| tracewire_span(&tracer, i)))
    });
    group.bench_function("opentelemetry_sdk_2_threads", |b| {
        b.iter_custom(|iters| per_thread(2, iters, |i| otel_span(&otel, i)))
    });
    // Everything examples/proxy.rs does with tracing per request: extract
    // the caller's context, a SERVER span with its attributes and a
    // captured header, a CLIENT span for the upstream call, inject its
    // traceparent into the upstream request, end both.
    let mut incoming = http::HeaderMap::new();
    incoming.insert(
        "traceparent",
        http::HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    );
    incoming.insert("x-request-id", http::HeaderValue::from_static("req-42"));
    group.bench_function("tracewire_proxy_request", |b| {
        let mut upstream = http::HeaderMap::new();
        b.iter(|| {
            let parent = tracewire::propagation::extract_from_headers(&incoming);
            let mut server =
                tracer.start_with_parent("GET", tracewire::SpanKind::Server, parent.as_ref());
            server.set_str("http.request.method", "GET");
            server.set_str("url.path", "/api/v1/users/42");
            server.set_str("url.query", "page=2&q=REDACTED");
            server.set_str("url.scheme", "http");
            server.set_str("network.protocol.version", "1.1");
            server.set_str("client.address", "127.0.0.1");
            if let Some(v) = incoming.get("x-request-id").and_then(|v| v.to_str().ok()) {
                server.set_str("http.request.header.x-request-id", v);
            }
            let mut client = tracer.start_with_parent(
                "GET",
                tracewire::SpanKind::Client,
                Some(server.context()),
            );
            client.set_str("http.request.method", "GET");
            client.set_str("server.address", "127.0.0.1");
            client.set_i64("server.port", 9000);
            client.set_str(
                "url.full",
                "http://127.0.0.1:9000/api/v1/users/42?page=2&q=REDACTED",
            );
            tracewire::propagation::inject_into_headers(client.context(), &mut upstream);
            client.set_i64("http.response.status_code", 200);
            client.end();
            server.set_i64("http.response.status_code", 200);
            server.end();
        })
    });
    group.bench_function("tracewire_unsampled", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            tracewire_span(&unsampled_tracer, i)
        })
    });
    group.finish();

    let s = pipeline.stats();
    eprintln!(
        "tracewire pipeline: recorded {}, exported {}, dropped {} (queue full)",
        s.recorded, s.exported, s.dropped
    );
    let _ = provider.shutdown();
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
