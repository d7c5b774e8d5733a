//! The latency tracing adds to one proxied request, as a distribution:
//! p50, p90, p99, p99.9 and max of the time the request's thread spends in
//! tracing work (`examples/proxy.rs`'s: extract `traceparent`, a SERVER and
//! a CLIENT span with 14 attributes, inject `traceparent`, end both).
//!
//! Criterion reports means; the proxy issue's target is a p99, so this
//! bench times every request on its own. Requests are paced (20,000 a
//! second by default) while each pipeline exports over OTLP/gRPC with its
//! default batch settings to a real receiver (`tracewire::receive`) in the
//! same process, so the export worker, the network stack and the receiver
//! run concurrently, as they would beside a proxy:
//!
//! - `off`: no tracing; what the two clock reads around the work cost.
//! - `tracewire`: tracewire's pipeline.
//! - `opentelemetry_sdk`: the OpenTelemetry SDK with its batch span
//!   processor and opentelemetry-otlp's gRPC exporter.
//!
//! The three alternate, round after round. Every tracewire span must
//! arrive (the bench checks its stats and the receiver's count at the
//! end); how many of the SDK's arrive is printed.
//!
//! Run: `cargo bench --bench request_path` (environment: `ROUNDS`,
//! `SECONDS` per mode and round, `RATE` requests per second, `MODES` a
//! comma-separated subset of the modes).

use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracewire::receive::{Receiver, ReceiverConfig};
use tracewire::transport::{build, Endpoint};
use tracewire::transport::{ExporterConfig, Protocol};
use tracewire::Pipeline;

#[path = "support/proxy_span.rs"]
mod proxy_span;
use proxy_span::{incoming_headers, otel_proxy_request, tracewire_proxy_request};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The value at quantile `q` of sorted nanoseconds.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the calling thread under SCHED_IDLE (Linux; elsewhere nothing).
fn idle_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler reads `param`, a valid struct on our
        // stack, and changes only the calling thread's policy (pid 0).
        let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
    }
}

/// This thread's minor page faults so far (Linux).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    // Fields after the command name start at 3 (state); minflt is 10.
    stat[close + 2..]
        .split(' ')
        .nth(10 - 3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// This thread's (voluntary, involuntary) context switches so far (Linux).
fn switches() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches:"),
        field("nonvoluntary_ctxt_switches:"),
    )
}

/// With `SLOW_NS=N`: where the calls slower than N ns fall in the
/// sequence, by position in a chunk's worth of requests (32: 64 spans)
/// and in a batch's (256: 512 spans), to tell a per-chunk or per-batch
/// cost from scattered interruptions.
fn slow_positions(times: &[u64]) {
    let Some(limit) = std::env::var("SLOW_NS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    let slow: Vec<usize> = (0..times.len()).filter(|&i| times[i] > limit).collect();
    let mut by32 = [0u32; 32];
    let mut by256 = std::collections::BTreeMap::new();
    for &i in &slow {
        by32[i % 32] += 1;
        *by256.entry(i % 256).or_insert(0u32) += 1;
    }
    let mut top: Vec<(usize, u32)> = by256.into_iter().collect();
    top.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    top.truncate(8);
    eprintln!(
        "  {} calls over {limit} ns; by position mod 32: {by32:?}; most common mod 256: {top:?}",
        slow.len()
    );
}

/// Runs `work` at `rate` per second for `seconds`, timing each call.
fn paced(rate: u64, seconds: u64, mut work: impl FnMut()) -> Vec<u64> {
    let n = (rate * seconds) as usize;
    let period = Duration::from_nanos(1_000_000_000 / rate.max(1));
    // Written through once now, so its pages are not first touched (a page
    // fault each) between the timed calls.
    let mut times: Vec<u64> = (0..n as u64).collect();
    let start = Instant::now();
    for (i, time) in times.iter_mut().enumerate() {
        let due = start + period * i as u32;
        while Instant::now() < due {
            std::hint::spin_loop();
        }
        let t0 = Instant::now();
        work();
        *time = t0.elapsed().as_nanos() as u64;
    }
    slow_positions(&times);
    times.sort_unstable();
    times
}

/// Prints the distribution of sorted nanoseconds.
fn report(label: &str, sorted: &[u64]) {
    eprintln!(
        "{label:<28} p50 {:>7} ns  p90 {:>7} ns  p99 {:>7} ns  p99.9 {:>7} ns  max {:>9} ns",
        quantile(sorted, 0.50),
        quantile(sorted, 0.90),
        quantile(sorted, 0.99),
        quantile(sorted, 0.999),
        sorted.last().copied().unwrap_or(0),
    );
}

fn main() {
    let rounds = env_or("ROUNDS", 3);
    let seconds = env_or("SECONDS", 5);
    let rate = env_or("RATE", 20_000);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-receiver")
        // The receiver stands for a Collector on another machine: its
        // decoding must not preempt the request thread it is measured
        // beside (RECEIVER_PRIORITY=normal to see what it does).
        .on_thread_start(|| {
            if std::env::var("RECEIVER_PRIORITY").as_deref() != Ok("normal") {
                idle_priority();
            }
        })
        .enable_all()
        .build()
        .expect("receiver runtime");
    let receiver = rt
        .block_on(Receiver::start(
            {
                let mut c = ReceiverConfig::default();
                c.grpc = Some("127.0.0.1:0".parse().expect("address"));
                c
            },
            |_| {},
        ))
        .expect("receiver");
    let grpc = receiver.grpc_addr().expect("gRPC listener");

    let endpoint = Endpoint::parse_grpc(&grpc.to_string(), true).expect("endpoint");
    let pipeline = Pipeline::builder()
        .exporter_arc(build(&ExporterConfig::new(Protocol::Grpc, endpoint)).expect("exporter"))
        .start()
        .expect("pipeline");
    let tracer = pipeline.tracer("bench");

    let otel_provider = {
        // The tonic exporter needs a tokio runtime to exist when it is built.
        let _guard = rt.enter();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{grpc}"))
            .build()
            .expect("opentelemetry-otlp exporter");
        SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .build()
    };
    let otel = otel_provider.tracer("bench");
    let propagator = TraceContextPropagator::new();

    let incoming = incoming_headers();
    let mut upstream = http::HeaderMap::new();
    eprintln!(
        "request_path: {rounds} round(s) x {seconds} s per mode, {rate} requests/s, \
         OTLP/gRPC to a receiver in this process"
    );
    let mut all: [Vec<u64>; 3] = Default::default();
    // `MODES=tracewire` (say) runs only some modes, for profiling.
    let modes = std::env::var("MODES").unwrap_or_else(|_| "off,tracewire,opentelemetry_sdk".into());
    let runs = |mode: &str| modes.split(',').any(|m| m.trim() == mode);
    for round in 1..=rounds {
        if runs("off") {
            let off = paced(rate, seconds, || {
                std::hint::black_box(&incoming);
            });
            report(&format!("round {round} off"), &off);
            all[0].extend(off);
        }
        if runs("tracewire") {
            let (before, faults) = (switches(), minor_faults());
            let tw = paced(rate, seconds, || {
                tracewire_proxy_request(&tracer, &incoming, &mut upstream)
            });
            let (after, faults) = (switches(), minor_faults() - faults);
            report(&format!("round {round} tracewire"), &tw);
            eprintln!(
                "  the request thread meanwhile: {} voluntary and {} involuntary context switches, {faults} page faults",
                after.0 - before.0,
                after.1 - before.1
            );
            all[1].extend(tw);
        }
        if runs("opentelemetry_sdk") {
            let ot = paced(rate, seconds, || {
                otel_proxy_request(&otel, &propagator, &incoming, &mut upstream)
            });
            report(&format!("round {round} opentelemetry_sdk"), &ot);
            all[2].extend(ot);
        }
    }
    eprintln!("all rounds:");
    for (label, v) in ["off", "tracewire", "opentelemetry_sdk"]
        .into_iter()
        .zip(all.iter_mut())
    {
        if runs(label) {
            v.sort_unstable();
            report(label, v);
        }
    }

    // Every tracewire span must have arrived, or its figures mean nothing.
    // The SDK's batch processor drops spans when its queue overflows (at
    // high rates with its defaults): reported, not asserted.
    let per_mode = 2 * rate * seconds * rounds;
    let _ = pipeline.shutdown(Duration::from_secs(30));
    let _ = otel_provider.force_flush();
    let _ = otel_provider.shutdown();
    let stats = pipeline.stats();
    let tracewire_spans = if runs("tracewire") { per_mode } else { 0 };
    let received = || {
        receiver
            .stats()
            .spans
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while received() < tracewire_spans && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "tracewire: recorded {}, exported {}, dropped {}, failed {}; the receiver counted {} spans",
        stats.recorded,
        stats.exported,
        stats.dropped,
        stats.failed,
        received()
    );
    if runs("opentelemetry_sdk") {
        eprintln!(
            "opentelemetry_sdk: {} of {per_mode} spans delivered",
            received().saturating_sub(stats.exported)
        );
    }
    assert_eq!(stats.exported, tracewire_spans, "tracewire lost spans");
    assert!(received() >= tracewire_spans, "the receiver missed spans");
}
