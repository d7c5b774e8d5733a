//! What a span's trace state costs when every recording thread carries the
//! same one (the `ot=th:...` of every root a probability sampler keeps, or
//! that is kept while shedding): the proxy-shaped span of
//! `benches/record.rs`, in two comparisons.
//!
//! - `shared` against `constant`: the span as the child of a local sampled
//!   parent whose trace state is `ot=th:0`, held once as a request's state
//!   is (`shared`, an `Arc`, whose reference count every child's clone and
//!   drop writes: what every kept root of such a pipeline carried before
//!   its state was interned, one count written by all threads), once in
//!   the interned form such a pipeline's roots carry now (`constant`,
//!   cloned and dropped as a plain copy). Same ids, sampler and bytes.
//! - `plain` against `probability`: roots of a pipeline with the default
//!   sampler (no trace state) and of one with the probability sampler at
//!   100% (every root carries `ot=th:0`): what a root pays for the
//!   decision and for carrying and writing its state.
//!
//! Rounds alternate every side, each on one thread and then on two
//! threads at once, in paced windows as `benches/record.rs` records (each
//! span called through a `dyn Fn`, the same on every side); the
//! bench prints each side's median time per span per thread and the
//! median of the per-round ratios.
//!
//! Run: `cargo bench --bench trace_state` (`ROUNDS`, default 15).

use std::time::Duration;

use tracewire::model::{SpanContext, SpanKind};
use tracewire::propagation::parse_tracestate;
use tracewire::sampling::Sampler;
use tracewire::Pipeline;

#[path = "support/pacing.rs"]
mod pacing;
#[path = "support/proxy_span.rs"]
mod proxy_span;
use pacing::{drained, paced, per_thread};
use proxy_span::{
    discard_pipeline as pipeline, tracewire_child_span as child_span, tracewire_span,
};

/// Spans per thread per round and side.
const SPANS: u64 = 100_000;

/// Nanoseconds per span per thread of `span` on `threads` threads, paced
/// by `pipeline`'s worker.
fn time(pipeline: &Pipeline, threads: usize, span: &(dyn Fn(u64) + Sync)) -> f64 {
    let _ = pipeline.force_flush(Duration::from_secs(10));
    let pace = || drained(pipeline);
    let d = if threads == 1 {
        paced(SPANS, span, pace)
    } else {
        per_thread(threads, SPANS, span, pace)
    };
    d.as_nanos() as f64 / SPANS as f64
}

/// Each side's times and the per-round ratios of the first to the second,
/// for one thread and two.
#[derive(Default)]
struct Pair {
    first: [Vec<f64>; 2],
    second: [Vec<f64>; 2],
    ratio: [Vec<f64>; 2],
}

impl Pair {
    /// One round: both sides on one thread, then on two, the side that
    /// goes first alternating from round to round.
    fn round(
        &mut self,
        r: usize,
        first: (&Pipeline, &(dyn Fn(u64) + Sync)),
        second: (&Pipeline, &(dyn Fn(u64) + Sync)),
    ) {
        for (k, threads) in [1, 2].into_iter().enumerate() {
            let (a, b) = if r % 2 == 0 {
                let a = time(first.0, threads, first.1);
                (a, time(second.0, threads, second.1))
            } else {
                let b = time(second.0, threads, second.1);
                (time(first.0, threads, first.1), b)
            };
            self.first[k].push(a);
            self.second[k].push(b);
            self.ratio[k].push(a / b);
        }
    }

    fn print(&mut self, names: (&str, &str)) {
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        for (k, threads) in ["1 thread", "2 threads"].into_iter().enumerate() {
            println!(
                "  {threads}: {} median {:.1} ns, {} median {:.1} ns, {}/{} median {:.2}x",
                names.0,
                median(&mut self.first[k]),
                names.1,
                median(&mut self.second[k]),
                names.0,
                names.1,
                median(&mut self.ratio[k]),
            );
        }
    }
}

fn main() {
    let rounds = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(15)
        .max(1);
    let probability = pipeline(Some(Sampler::parent_based(Sampler::probability(1.0))));
    let probability_tracer = probability.tracer("bench");
    let plain = pipeline(None);
    let plain_tracer = plain.tracer("bench");

    // A root of the probability pipeline: its `ot=th:0` is the pipeline's
    // constant.
    let root = probability_tracer.start("root", SpanKind::Server);
    let constant = root.context().clone();
    root.end();
    // The same context, its state held as a request's (an `Arc`).
    let state = match parse_tracestate([constant.trace_state().as_str().as_bytes()]) {
        Ok(s) => s,
        Err(e) => panic!("tracestate: {e}"),
    };
    let shared = SpanContext::new(
        constant.trace_id(),
        constant.span_id(),
        constant.trace_flags(),
        false,
        state,
    );
    assert_eq!(shared, constant, "the two parents differ only in form");
    assert_eq!(constant.trace_state().as_str(), "ot=th:0");

    let under_shared = |i| child_span(&probability_tracer, &shared, i);
    let under_constant = |i| child_span(&probability_tracer, &constant, i);
    let probability_root = |i| tracewire_span(&probability_tracer, i);
    let plain_root = |i| tracewire_span(&plain_tracer, i);
    // Warm-up: pools, chunks, the clock's calibration.
    for span in [&under_shared as &(dyn Fn(u64) + Sync), &under_constant] {
        time(&probability, 1, span);
    }
    time(&plain, 1, &plain_root);

    let (mut states, mut roots) = (Pair::default(), Pair::default());
    for r in 0..rounds {
        states.round(
            r,
            (&probability, &under_shared),
            (&probability, &under_constant),
        );
        roots.round(r, (&probability, &probability_root), (&plain, &plain_root));
    }
    println!("trace state interleaved ({rounds} rounds of {SPANS} spans per thread, paced):");
    println!(" children of a parent with `ot=th:0`, its state shared (Arc) or constant:");
    states.print(("shared", "constant"));
    println!(" roots, the probability sampler's (`ot=th:0`) or the default's (none):");
    roots.print(("probability", "plain"));
    for (name, p) in [("probability", &probability), ("plain", &plain)] {
        let s = p.stats();
        println!(
            "{name} pipeline: recorded {}, dropped {}, shed {}",
            s.recorded, s.dropped, s.shed
        );
    }
}
