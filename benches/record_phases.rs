//! Instruction counts of recording, phase by phase, for callgrind: the
//! proxy-shaped span of `benches/record.rs` recorded `SPANS` times with
//! each phase (start, each setter, status, end) in a function of its own,
//! never inlined, so that callgrind's inclusive cost of each is that
//! phase's; beside it, the floor (the same bytes into one hot buffer).
//!
//! Instruction counts do not move with a noisy host: this is how the
//! record path's cost is split, and compared before and after a change.
//! Times come from `benches/record.rs`, never from here.
//!
//! Run:
//! ```text
//! cargo bench --bench record_phases --no-run
//! valgrind --tool=callgrind --collect-atstart=no '--toggle-collect=*measured*' \
//!     --callgrind-out-file=/tmp/cg.out \
//!     target/release/deps/record_phases-* [tracewire|unsampled|floor]
//!     (or, inlined as in `benches/record.rs`, whole spans only:
//!     inlined|probability-inlined|unsampled-inlined)
//! callgrind_annotate --inclusive=yes /tmp/cg.out | grep phase_
//! ```
//! Each side records `2 * SPANS` spans; only the second half (`measured`,
//! after the clock's calibration, the pools' and the first chunk's
//! warm-up) is counted: divide by `SPANS` (10,000) for instructions per
//! span. `cargo bench` with no arguments runs a short
//! smoke pass of each side.

use std::hint::black_box;

use tracewire::model::{SpanKind, Status};
use tracewire::sampling::Sampler;
use tracewire::{Pipeline, Span, Tracer};

#[path = "support/proxy_span.rs"]
mod proxy_span;
use proxy_span::{discard_pipeline as pipeline, values, Floor};

/// Half the spans recorded per side.
const SPANS: u64 = 10_000;

#[inline(never)]
fn phase_start(t: &Tracer, name: &str) -> Span {
    t.start(name, SpanKind::Server)
}

#[inline(never)]
fn phase_set_str(s: &mut Span, key: &str, value: &str) {
    s.set_str(key, value)
}

#[inline(never)]
fn phase_set_i64(s: &mut Span, key: &str, value: i64) {
    s.set_i64(key, value)
}

#[inline(never)]
fn phase_status(s: &mut Span) {
    s.set_status(Status::OK)
}

#[inline(never)]
fn phase_end(s: Span) {
    s.end()
}

#[inline(never)]
fn phase_floor(f: &mut Floor, i: u64) -> usize {
    f.span(i)
}

/// The span of `proxy_span::tracewire_span`, phase by phase.
#[inline(never)]
fn span(t: &Tracer, i: u64) {
    let v = values();
    let mut s = phase_start(t, v.name);
    phase_set_str(&mut s, "http.request.method", v.method);
    phase_set_str(&mut s, "url.path", v.path);
    phase_set_str(&mut s, "url.scheme", v.scheme);
    phase_set_str(&mut s, "server.address", v.host);
    phase_set_i64(&mut s, "server.port", 443);
    phase_set_str(&mut s, "client.address", v.client);
    phase_set_str(&mut s, "user_agent.original", v.agent);
    phase_set_i64(&mut s, "http.response.status_code", 200 + (i & 1) as i64);
    phase_status(&mut s);
    phase_end(s);
}

/// Records `SPANS` spans from `from`, flushing every 1,000 so none is
/// dropped (the flushes are outside `span`, so outside every phase).
fn spans(p: &Pipeline, t: &Tracer, from: u64) {
    for i in from..from + SPANS {
        span(t, i);
        if i % 1000 == 999 {
            let _ = p.force_flush(std::time::Duration::from_secs(10));
        }
    }
}

/// [`proxy_span::tracewire_span`] as `benches/record.rs` calls it (every
/// phase inlined): the whole span's count, without the phases' calls.
fn spans_inlined(p: &Pipeline, t: &Tracer, from: u64) {
    for i in from..from + SPANS {
        proxy_span::tracewire_span(t, i);
        if i % 1000 == 999 {
            let _ = p.force_flush(std::time::Duration::from_secs(10));
        }
    }
}

#[inline(never)]
fn measured_inlined(p: &Pipeline, t: &Tracer) {
    spans_inlined(p, t, SPANS)
}

/// The counted half: what `--toggle-collect=*measured*` collects.
#[inline(never)]
fn measured(p: &Pipeline, t: &Tracer) {
    spans(p, t, SPANS)
}

#[inline(never)]
fn measured_floor(f: &mut Floor) {
    for i in SPANS..2 * SPANS {
        black_box(phase_floor(f, i));
    }
}

/// Records `2 * SPANS` spans: a warm-up half (clock calibration, pools,
/// first chunk), then the counted half.
fn record(p: &Pipeline, t: &Tracer) {
    spans(p, t, 0);
    measured(p, t);
    let s = p.stats();
    eprintln!(
        "recorded {}, dropped {}, sampled out {}",
        s.recorded, s.dropped, s.sampled_out
    );
}

fn main() {
    let side = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "all".into());
    if side == "floor" || side == "all" {
        let mut f = Floor::default();
        for i in 0..SPANS {
            black_box(phase_floor(&mut f, i));
        }
        measured_floor(&mut f);
        eprintln!("floor: {} spans", 2 * SPANS);
    }
    if side == "tracewire" || side == "all" {
        let p = pipeline(None);
        let t = p.tracer("phases");
        record(&p, &t);
    }
    if side == "inlined" || side == "all" {
        let p = pipeline(None);
        let t = p.tracer("phases");
        spans_inlined(&p, &t, 0);
        measured_inlined(&p, &t);
    }
    if side == "probability-inlined" || side == "all" {
        // Roots that carry `ot=th:0` (the probability sampler at 100%).
        let p = pipeline(Some(Sampler::parent_based(Sampler::probability(1.0))));
        let t = p.tracer("phases");
        spans_inlined(&p, &t, 0);
        measured_inlined(&p, &t);
    }
    if side == "unsampled-inlined" || side == "all" {
        let p = pipeline(Some(Sampler::AlwaysOff));
        let t = p.tracer("phases");
        spans_inlined(&p, &t, 0);
        measured_inlined(&p, &t);
    }
    if side == "unsampled" || side == "all" {
        let p = pipeline(Some(Sampler::AlwaysOff));
        let t = p.tracer("phases");
        record(&p, &t);
    }
}
