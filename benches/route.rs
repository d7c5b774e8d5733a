//! What routing by trace id adds per span on the export worker (issue 15's
//! target: under 10 ns): reading the trace id from a framed span and
//! picking a member among three by rendezvous hashing, against the same
//! loop reading the same bytes of each span without routing (the worker
//! reads them anyway: it copies the span next). 512 framed, proxy-sized (360-byte) spans
//! with random trace ids per iteration.
//!
//! `one_collector` is the same loop through the worker's seam
//! (`fleet::Router`) for an exporter that is not a fleet; `three_members`
//! through the seam, `three_members_route_alone` the hashing without it.
//!
//! Run: `cargo bench --bench route`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tracewire::internal::fleet::{framed_span_trace_id, Route, Router, Standing};

/// What routing adds per span on the export worker: reading the trace id
/// from the framed span and picking a member among three, against the
/// worker's loop without it (512 framed, proxy-sized spans per iteration).
fn bench_route(c: &mut Criterion) {
    let mut framed: Vec<Vec<u8>> = Vec::new();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..512 {
        let mut span = vec![0x12, 0xe6, 0x02, 0x0a, 0x10];
        for _ in 0..16 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            span.push(x as u8);
        }
        span.resize(360, 0x20);
        framed.push(span);
    }
    let members = ["10.0.0.1:4317", "10.0.0.2:4317", "10.0.0.3:4317"];
    let mut route = Route::default();
    for (i, m) in members.iter().enumerate() {
        route.push(i, Route::seed(m));
    }
    // The seam the worker routes through (`fleet::Router`), for a fleet of
    // three and for an exporter that is not a fleet.
    let mut fleet = Router::default();
    fleet.fill(members.iter().map(|m| (Route::seed(m), Standing::Up)));
    let single = Router::default();
    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(512));
    g.bench_function("none", |b| {
        b.iter(|| {
            let mut per = [0usize; 3];
            // The same bytes read (the trace id's), no routing.
            for f in black_box(&framed) {
                per[usize::from(f[20] & 1)] += f.len() + usize::from(f[5]);
            }
            per
        })
    });
    g.bench_function("one_collector", |b| {
        b.iter(|| {
            let mut per = [0usize; 3];
            for f in black_box(&framed) {
                let m = black_box(&single).member_of_framed(&f[..single.head_len()]);
                per[m] += f.len() + usize::from(f[5]);
            }
            per
        })
    });
    g.bench_function("three_members", |b| {
        b.iter(|| {
            let mut per = [0usize; 3];
            for f in black_box(&framed) {
                let m = fleet.member_of_framed(&f[..fleet.head_len()]);
                per[m] += f.len();
            }
            per
        })
    });
    g.bench_function("three_members_route_alone", |b| {
        b.iter(|| {
            let mut per = [0usize; 3];
            for f in black_box(&framed) {
                let m = route.pick(&framed_span_trace_id(f).unwrap_or_default());
                per[m] += f.len();
            }
            per
        })
    });
    g.finish();
}

criterion_group!(benches, bench_route);
criterion_main!(benches);
