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
//! After the criterion functions, the bench prints the one-thread
//! comparison measured once more, interleaved: windows of 100,000 spans
//! recorded alternately with tracewire and with the SDK (`ROUNDS`, default
//! 21), each started with both export workers idle, so a slow phase of a
//! shared host slows both alike; it prints each side's median time per
//! span and the median of the per-window ratios.
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

    interleaved(&pipeline, &tracer, &provider, &otel);

    let s = pipeline.stats();
    eprintln!(
        "tracewire pipeline: recorded {}, exported {}, dropped {} (queue full)",
        s.recorded, s.exported, s.dropped
    );
    let _ = provider.shutdown();
}

/// Alternating windows of tracewire and SDK spans; see the module docs.
fn interleaved(
    pipeline: &Pipeline,
    tracer: &tracewire::Tracer,
    provider: &SdkTracerProvider,
    otel: &opentelemetry_sdk::trace::SdkTracer,
) {
    const WINDOW: u64 = 100_000;
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(21)
        .max(1);
    let per_span = |f: &dyn Fn(u64)| {
        let started = Instant::now();
        for i in 0..WINDOW {
            f(i);
        }
        started.elapsed().as_nanos() as f64 / WINDOW as f64
    };
    let (mut tw, mut sdk, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    // Each window starts with both export workers idle (flushed, untimed),
    // so neither side's window pays for the other's background export.
    let settle = || {
        let _ = pipeline.force_flush(Duration::from_secs(10));
        let _ = provider.force_flush();
    };
    for _ in 0..rounds {
        settle();
        let t = per_span(&|i| tracewire_span(tracer, i));
        settle();
        let o = per_span(&|i| otel_span(otel, i));
        tw.push(t);
        sdk.push(o);
        ratios.push(o / t);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (lo, hi) = (
        ratios.iter().copied().fold(f64::INFINITY, f64::min),
        ratios.iter().copied().fold(0.0, f64::max),
    );
    println!(
        "record interleaved ({rounds} rounds of {WINDOW} spans each): tracewire median {:.1} ns, \
         opentelemetry_sdk median {:.1} ns, ratio median {:.2}x (min {lo:.2}x, max {hi:.2}x)",
        median(&mut tw),
        median(&mut sdk),
        median(&mut ratios),
    );
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
