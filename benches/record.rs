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
//!   on a request's path (extract, SERVER and CLIENT spans, inject), and
//!   `opentelemetry_sdk_proxy_request`, the same with the SDK.
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
use proxy_span::{
    incoming_headers, otel_proxy_request, otel_span, tracewire_proxy_request, tracewire_span,
    Discard, OtelDiscard,
};

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
    // Everything examples/proxy.rs does with tracing per request.
    let incoming = incoming_headers();
    group.bench_function("tracewire_proxy_request", |b| {
        let mut upstream = http::HeaderMap::new();
        b.iter(|| tracewire_proxy_request(&tracer, &incoming, &mut upstream))
    });
    let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    group.bench_function("opentelemetry_sdk_proxy_request", |b| {
        let mut upstream = http::HeaderMap::new();
        b.iter(|| otel_proxy_request(&otel, &propagator, &incoming, &mut upstream))
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
