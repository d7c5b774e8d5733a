//! The cost of recording one proxy-shaped span (name, SERVER kind, 8
//! attributes, status) on the proxy's thread, tracewire against the floor
//! (the same bytes written into one hot buffer) and the OpenTelemetry Rust
//! SDK (tracer + batch span processor), side by side.
//!
//! Both pipelines export to a sink that discards batches, so what is
//! measured is what the proxy's thread pays.
//!
//! - `floor`: the span's bytes, the same ids and clock reads, written by
//!   the simplest correct writer into one hot buffer, never queued.
//! - `tracewire`, `opentelemetry_sdk` (the headline): recording while the
//!   export worker keeps up. Spans are recorded in timed windows of 256;
//!   between windows (untimed) the recording thread spins while tracewire's
//!   queue is more than half full (the SDK: for a fixed 400 µs, its worker
//!   being slower), so under 1% of spans are dropped. The bench prints how many
//!   were.
//! - `tracewire_saturated`, `opentelemetry_sdk_saturated`: recording back to
//!   back, as fast as possible: the queues fill and spans are dropped, so
//!   the drop path is part of what is timed.
//! - `tracewire_2_threads`: two threads recording at once, paced as the
//!   headline; the time is per span per thread.
//! - `tracewire_unsampled`: a span the sampler drops (context only).
//! - `tracewire_proxy_request`: all the tracing work examples/proxy.rs does
//!   on a request's path (extract, SERVER and CLIENT spans, inject), and
//!   `opentelemetry_sdk_proxy_request`, the same with the SDK.
//!
//! After the criterion functions, the bench prints the one-thread
//! comparison measured once more, interleaved: paced windows of the floor,
//! tracewire and the SDK recorded alternately (`ROUNDS`, default 21), so a
//! slow phase of a shared host slows all alike; it prints each side's
//! median time per span and the medians of the per-round ratios.
//!
//! Run: `cargo bench --bench record`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracewire::sampling::Sampler;
use tracewire::Pipeline;

#[path = "support/pacing.rs"]
mod pacing;
#[path = "support/proxy_span.rs"]
mod proxy_span;
use pacing::{drained, paced, per_thread, spin};
use proxy_span::{
    incoming_headers, otel_proxy_request, otel_span, tracewire_proxy_request, tracewire_span,
    Discard, Floor, OtelDiscard,
};

fn bench_record(c: &mut Criterion) {
    let pipeline = Pipeline::builder()
        .exporter(Discard)
        .preallocate(true)
        .start()
        .unwrap();
    let tracer = pipeline.tracer("bench");
    // Flat out, spans that find the queue full are dropped (as the SDK's
    // are): shedding off, or the figure would be that of shed spans, which
    // are never encoded.
    let saturated = Pipeline::builder()
        .exporter(Discard)
        .preallocate(true)
        .batch({
            let mut c = tracewire::BatchConfig::default();
            c.shedding = false;
            c
        })
        .start()
        .unwrap();
    let saturated_tracer = saturated.tracer("bench");
    // The same pipeline with shedding off (before it existed), and one
    // whose roots carry `ot=th:0` (the probability sampler at 100%).
    let unshed = Pipeline::builder()
        .exporter(Discard)
        .preallocate(true)
        .batch({
            let mut c = tracewire::BatchConfig::default();
            c.shedding = false;
            c
        })
        .start()
        .unwrap();
    let unshed_tracer = unshed.tracer("bench");
    let probability = Pipeline::builder()
        .exporter(Discard)
        .preallocate(true)
        .sampler(Sampler::parent_based(Sampler::probability(1.0)))
        .start()
        .unwrap();
    let probability_tracer = probability.tracer("bench");
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

    let mut floor = Floor::default();
    // Drops in the paced functions, function by function.
    let mut last = pipeline.stats();
    let mut drops = |name: &str| {
        let s = pipeline.stats();
        let (r, d) = (s.recorded - last.recorded, s.dropped - last.dropped);
        eprintln!(
            "{name}: {r} spans recorded, {d} dropped ({:.3}%), {} shed",
            100.0 * d as f64 / r.max(1) as f64,
            s.shed - last.shed
        );
        last = s;
    };
    let sdk_pause = Duration::from_micros(400);
    let mut group = c.benchmark_group("record");
    group.bench_function("floor", |b| {
        b.iter_custom(|iters| {
            paced(
                iters,
                |i| {
                    std::hint::black_box(floor.span(i));
                },
                || {},
            )
        })
    });
    group.bench_function("tracewire", |b| {
        b.iter_custom(|iters| paced(iters, |i| tracewire_span(&tracer, i), || drained(&pipeline)))
    });
    drops("record/tracewire");
    group.bench_function("tracewire_shedding_off", |b| {
        b.iter_custom(|iters| {
            paced(
                iters,
                |i| tracewire_span(&unshed_tracer, i),
                || drained(&unshed),
            )
        })
    });
    group.bench_function("tracewire_probability", |b| {
        b.iter_custom(|iters| {
            paced(
                iters,
                |i| tracewire_span(&probability_tracer, i),
                || drained(&probability),
            )
        })
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| paced(iters, |i| otel_span(&otel, i), || spin(sdk_pause)))
    });
    group.bench_function("tracewire_saturated", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            tracewire_span(&saturated_tracer, i)
        })
    });
    group.bench_function("opentelemetry_sdk_saturated", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            otel_span(&otel, i)
        })
    });
    group.bench_function("tracewire_2_threads", |b| {
        b.iter_custom(|iters| {
            per_thread(
                2,
                iters,
                |i| tracewire_span(&tracer, i),
                || drained(&pipeline),
            )
        })
    });
    drops("record/tracewire_2_threads");
    // Both threads keep roots that carry the same `ot=th:0`: what a
    // proxy's request threads do with a probability sampler (or while
    // shedding). A trace state shared through one reference count would
    // be written by both threads twice per span.
    group.bench_function("tracewire_probability_2_threads", |b| {
        b.iter_custom(|iters| {
            per_thread(
                2,
                iters,
                |i| tracewire_span(&probability_tracer, i),
                || drained(&probability),
            )
        })
    });
    // Everything examples/proxy.rs does with tracing per request.
    let incoming = incoming_headers();
    group.bench_function("tracewire_proxy_request", |b| {
        let mut upstream = http::HeaderMap::new();
        b.iter_custom(|iters| {
            paced(
                iters,
                |_| tracewire_proxy_request(&tracer, &incoming, &mut upstream),
                || drained(&pipeline),
            )
        })
    });
    drops("record/tracewire_proxy_request");
    let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    group.bench_function("opentelemetry_sdk_proxy_request", |b| {
        let mut upstream = http::HeaderMap::new();
        b.iter_custom(|iters| {
            paced(
                iters,
                |_| otel_proxy_request(&otel, &propagator, &incoming, &mut upstream),
                || spin(sdk_pause * 2),
            )
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

    let before = pipeline.stats();
    interleaved(&pipeline, &tracer, &provider, &otel, &mut floor);
    let s = pipeline.stats();
    eprintln!(
        "tracewire pipeline (paced functions): recorded {}, exported {}, dropped {} ({:.3}%); \
         interleaved rounds alone: recorded {}, dropped {}",
        s.recorded,
        s.exported,
        s.dropped,
        100.0 * s.dropped as f64 / s.recorded.max(1) as f64,
        s.recorded - before.recorded,
        s.dropped - before.dropped,
    );
    let s = saturated.stats();
    eprintln!(
        "tracewire pipeline (saturated): recorded {}, exported {}, dropped {} ({:.1}%, queue full)",
        s.recorded,
        s.exported,
        s.dropped,
        100.0 * s.dropped as f64 / s.recorded.max(1) as f64
    );
    let _ = provider.shutdown();
}

/// Alternating paced windows of the floor, tracewire and the SDK; see the
/// module docs.
fn interleaved(
    pipeline: &Pipeline,
    tracer: &tracewire::Tracer,
    provider: &SdkTracerProvider,
    otel: &opentelemetry_sdk::trace::SdkTracer,
    floor: &mut Floor,
) {
    const SPANS: u64 = 100_000;
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(21)
        .max(1);
    let per_span = |d: Duration| d.as_nanos() as f64 / SPANS as f64;
    let (mut fl, mut tw, mut sdk) = (Vec::new(), Vec::new(), Vec::new());
    let (mut vs_floor, mut vs_sdk) = (Vec::new(), Vec::new());
    // Each side starts with both export workers idle (flushed, untimed),
    // so neither pays for the other's background export.
    let settle = || {
        let _ = pipeline.force_flush(Duration::from_secs(10));
        let _ = provider.force_flush();
    };
    for _ in 0..rounds {
        settle();
        let f = per_span(paced(
            SPANS,
            |i| {
                std::hint::black_box(floor.span(i));
            },
            || {},
        ));
        settle();
        let t = per_span(paced(
            SPANS,
            |i| tracewire_span(tracer, i),
            || drained(pipeline),
        ));
        settle();
        let o = per_span(paced(
            SPANS,
            |i| otel_span(otel, i),
            || spin(Duration::from_micros(400)),
        ));
        fl.push(f);
        tw.push(t);
        sdk.push(o);
        vs_floor.push(t / f);
        vs_sdk.push(o / t);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "record interleaved ({rounds} rounds of {SPANS} spans each, paced): floor median {:.1} ns, \
         tracewire median {:.1} ns, opentelemetry_sdk median {:.1} ns; \
         tracewire/floor median {:.2}x, opentelemetry_sdk/tracewire median {:.2}x",
        median(&mut fl),
        median(&mut tw),
        median(&mut sdk),
        median(&mut vs_floor),
        median(&mut vs_sdk),
    );
}

criterion_group!(benches, bench_record);
criterion_main!(benches);
