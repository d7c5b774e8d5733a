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
//!
//! Run: `cargo bench --bench record`

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{
    Span as _, SpanKind as OtelKind, Status as OtelStatus, Tracer as _, TracerProvider as _,
};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
use tracewire::sampling::Sampler;
use tracewire::span::{SpanKind, Status};
use tracewire::{Pipeline, Tracer};

struct Discard;

impl Exporter for Discard {
    fn export(&self, r: ExportRequest) -> BoxFuture<'_, ExportReport> {
        Box::pin(async move { ExportReport::success(r.message().len() as u64, Some(r.buffer)) })
    }
}

#[derive(Debug)]
struct OtelDiscard;

impl SpanExporter for OtelDiscard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

#[inline]
fn tracewire_span(tracer: &Tracer, i: u64) {
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

#[inline]
fn otel_span(tracer: &opentelemetry_sdk::trace::SdkTracer, i: u64) {
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
