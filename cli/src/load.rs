//! `tracewire load`: send N proxy-shaped spans to a collector through the
//! library, configured exactly as an embedding proxy would be.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracewire::export::{DnsStats, EndpointStats};
use tracewire::{Pipeline, ShutdownError, Stats};

use std::path::PathBuf;

use clap::Args;

use super::traffic;

/// `tracewire load`.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// A Traefik configuration file (YAML or TOML) with a `tracing` section.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Spans to send: half SERVER spans (one per simulated request), half
    /// CLIENT spans (their upstream calls).
    #[arg(long)]
    pub spans: u64,
    /// Spans per second, all threads together (default: as fast as the
    /// pipeline delivers).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Recording threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Simulated requests in flight at once (all threads together): each
    /// starts its SERVER and CLIENT spans, and its spans end interleaved
    /// with the others' (its CLIENT span, then, after the other requests'
    /// spans have had their turn, its SERVER span), as a busy proxy's do.
    #[arg(long, value_name = "K", default_value_t = 1)]
    pub concurrency: usize,
    /// Print a JSON summary as the last line of stdout.
    #[arg(long)]
    pub json: bool,
    /// Record as fast as possible without waiting for the queue to drain:
    /// what the queue cannot hold is dropped and counted.
    #[arg(long)]
    pub no_backpressure: bool,
    /// Give every span one more attribute, of this many bytes (request and
    /// response bodies, SQL, stack traces: big spans).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub attribute_bytes: usize,
    /// At the end, print the pipeline's statistics in the Prometheus text
    /// format (what a proxy's `/metrics` endpoint serves), before the JSON
    /// summary line.
    #[arg(long)]
    pub metrics: bool,
}

/// The largest `--attribute-bytes`: far past every collector's request
/// limit, small enough to allocate.
const MAX_ATTRIBUTE_BYTES: usize = 64 << 20;

pub fn run(args: LoadArgs, flags: &[String]) -> i32 {
    let mut config = match tracewire::config::load_with_process_env(args.config.as_deref(), flags) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            return 1;
        }
    };
    // `load` exists to send: a missing `tracing` section means defaults.
    config.enabled = true;
    if args.threads == 0 {
        eprintln!("error: --threads must be at least 1");
        return 2;
    }
    if args.concurrency == 0 {
        eprintln!("error: --concurrency must be at least 1 (requests in flight at once)");
        return 2;
    }
    if args.attribute_bytes > MAX_ATTRIBUTE_BYTES {
        eprintln!(
            "error: --attribute-bytes {} is more than {MAX_ATTRIBUTE_BYTES} (64 MiB), larger than any collector accepts",
            args.attribute_bytes
        );
        return 2;
    }
    if let Some(r) = args.rate {
        if !(r.is_finite() && r > 0.0) {
            eprintln!("error: --rate must be a positive number of spans per second");
            return 2;
        }
    }
    let pipeline = match Pipeline::from_config(&config) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let tracer = pipeline.tracer(tracewire::model::InstrumentationScope {
        name: "tracewire-load".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    });
    if !args.json {
        eprintln!(
            "sending {} span(s) to {} over {:?} with {} thread(s)",
            args.spans, config.exporter.endpoint, config.exporter.protocol, args.threads
        );
    }

    let requests = args.spans.div_ceil(2);
    let recorded = AtomicU64::new(0);
    let finished = AtomicU64::new(0);
    // Set once exports fail for good and nothing gets through: recording
    // more cannot succeed.
    let given_up = AtomicBool::new(false);
    let payload = "x".repeat(args.attribute_bytes);
    // Spans the queue may hold: its span count; for big spans, its budget
    // in bytes (maxQueueSize x 512), of which big spans may use as little
    // as half (a span in a log chunk of its own).
    let queue_cap = {
        let spans = config.batch.max_queue_size as u64;
        if args.attribute_bytes == 0 {
            spans
        } else {
            let span_bytes = 512 + args.attribute_bytes as u64;
            spans.min(spans * 512 / (2 * span_bytes)).max(2)
        }
    };
    let started = Instant::now();
    let progress = indicatif::ProgressBar::new(args.spans);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} spans  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if args.json {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    std::thread::scope(|scope| {
        for t in 0..args.threads as u64 {
            let (tracer, recorded, pipeline, finished, given_up, payload) = (
                &tracer, &recorded, &pipeline, &finished, &given_up, &payload,
            );
            let config = &config;
            let rate = args.rate.map(|r| r / args.threads as f64 / 2.0);
            let backpressure = !args.no_backpressure;
            let total = args.spans;
            // Each thread checks the queue often enough that all of them
            // together overrun it by at most a quarter: recording waits
            // while what every thread may record before its next check
            // would take the queue past three quarters (and never while
            // it is empty).
            let check_every = (queue_cap / 4 / (2 * args.threads as u64)).clamp(1, 64);
            let step = 2 * check_every * args.threads as u64;
            let limit = queue_cap * 3 / 4;
            // Nor past where the pipeline starts shedding whole traces
            // (half the queue's spans, counting the spans still open), when
            // the requests in flight leave room for a batch below it (with
            // thousands in flight, they alone press: shedding is the point).
            let shed_limit = (config.batch.max_queue_size as u64 / 2).saturating_sub(step);
            let open = 2 * args.concurrency as u64;
            let batch = config.batch.effective_batch_size() as u64;
            let avoid_shedding = config.batch.shedding && open + batch <= shed_limit;
            // This thread's share of the requests in flight.
            let threads = args.threads as u64;
            let in_flight = (args.concurrency as u64 / threads
                + u64::from(t < args.concurrency as u64 % threads))
            .max(1) as usize;
            scope.spawn(move || {
                let thread_start = Instant::now();
                let mut k = 0u64;
                let mut i = t;
                // Requests in flight, visited in turn: an empty slot starts
                // a request, an open CLIENT span ends, then (a round later)
                // its SERVER span, and the slot starts the next request.
                let mut slots: Vec<Option<traffic::Request>> =
                    (0..in_flight).map(|_| None).collect();
                let mut open = 0usize;
                let mut slot = 0usize;
                loop {
                    let starting = i < requests && !given_up.load(Ordering::Relaxed);
                    if !starting && open == 0 {
                        break;
                    }
                    let s = &mut slots[slot];
                    slot = (slot + 1) % in_flight;
                    if let Some(r) = s.as_mut().filter(|r| r.client_open()) {
                        recorded.fetch_add(r.end_client(), Ordering::Relaxed);
                        continue;
                    }
                    if let Some(r) = s.take() {
                        recorded.fetch_add(r.end_server(), Ordering::Relaxed);
                        open -= 1;
                    }
                    if !starting {
                        continue;
                    }
                    if backpressure && k % check_every == 0 {
                        // Never record faster than the pipeline delivers.
                        while !given_up.load(Ordering::Relaxed) {
                            let queued = pipeline.stats().queued;
                            let pending = pipeline.shedding().pending.max(0) as u64;
                            if queued == 0
                                || (queued + step <= limit
                                    && (!avoid_shedding || pending <= shed_limit))
                            {
                                break;
                            }
                            std::thread::sleep(Duration::from_micros(200));
                        }
                    }
                    if let Some(per_sec) = rate {
                        let due = thread_start + Duration::from_secs_f64(k as f64 / per_sec);
                        let now = Instant::now();
                        if due > now {
                            std::thread::sleep(due - now);
                        }
                    }
                    *s = Some(traffic::Request::begin(
                        tracer,
                        i,
                        2 * i + 1 < total,
                        payload,
                    ));
                    open += 1;
                    k += 1;
                    i += threads;
                }
                finished.fetch_add(1, Ordering::Relaxed);
            });
        }
        // The main thread draws progress, and stops the run once it cannot
        // succeed.
        let mut watch = Hopeless::new(config.batch.export_timeout);
        while finished.load(Ordering::Relaxed) < args.threads as u64 {
            progress.set_position(recorded.load(Ordering::Relaxed));
            if watch.check(&pipeline.stats(), Instant::now()) {
                given_up.store(true, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    progress.finish_and_clear();
    let record_seconds = started.elapsed().as_secs_f64();
    let gave_up = given_up.load(Ordering::Relaxed);
    if gave_up {
        eprintln!(
            "error: exports are failing and none has succeeded for a while (see the warnings above); stopped after recording {} of {} span(s)",
            recorded.load(Ordering::Relaxed),
            args.spans
        );
    }

    // Wait for delivery: everything queued, until the export timeout (not
    // long when the collector is known to fail).
    let timeout = if gave_up {
        Duration::from_secs(2)
    } else {
        config.batch.export_timeout + Duration::from_secs(5)
    };
    let stats = match pipeline.shutdown(timeout) {
        Ok(s) => s,
        Err(ShutdownError::DeadlineExceeded { stats, unsent }) => {
            eprintln!("warning: {unsent} span(s) could not be delivered before the deadline");
            stats
        }
        Err(e) => {
            eprintln!("error: {e}");
            pipeline.stats()
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    report(
        &args,
        &stats,
        &pipeline.export_latency(),
        &pipeline.endpoint_stats(),
        &pipeline.dns_stats(),
        record_seconds,
        seconds,
    );
    // Success: every span recorded (sampled) was exported, and every span
    // asked for was recorded or sampled out.
    if !gave_up
        && stats.exported == stats.recorded
        && stats.recorded + stats.sampled_out == args.spans
    {
        0
    } else {
        1
    }
}

/// Decides when a run cannot succeed any more, so that `load` stops
/// recording and exits promptly instead of waiting out every batch's
/// retries: an export failed for good (after its retries) and nothing was
/// exported, or no export has succeeded for `patience` (the export
/// timeout) since a failure. A collector that starts late still gets every
/// span: a batch fails only after its retries ran out.
struct Hopeless {
    patience: Duration,
    /// `exported` when it last grew after a failure, and when.
    progress: Option<(u64, Instant)>,
}

impl Hopeless {
    fn new(patience: Duration) -> Self {
        Hopeless {
            patience,
            progress: None,
        }
    }

    fn check(&mut self, s: &Stats, now: Instant) -> bool {
        if s.failed == 0 {
            return false;
        }
        if s.exported == 0 {
            return true;
        }
        match self.progress {
            Some((exported, since)) if exported == s.exported => {
                now.duration_since(since) >= self.patience
            }
            _ => {
                self.progress = Some((s.exported, now));
                false
            }
        }
    }
}

fn report(
    args: &LoadArgs,
    s: &Stats,
    latency: &tracewire::Histogram,
    endpoints: &[EndpointStats],
    dns: &[DnsStats],
    record_seconds: f64,
    seconds: f64,
) {
    let per = |n: u64, secs: f64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    if !args.json {
        println!(
            "recorded    {:>12}  in {record_seconds:.3} s ({:.0} spans/s)",
            s.recorded,
            per(s.recorded, record_seconds)
        );
        println!("sampled out {:>12}", s.sampled_out);
        println!(
            "exported    {:>12}  in {seconds:.3} s ({:.0} spans/s delivered)",
            s.exported,
            per(s.exported, seconds)
        );
        println!("dropped     {:>12}  (queue full)", s.dropped);
        println!("shed        {:>12}  (whole traces, under overload)", s.shed);
        println!("queued      {:>12}  (never resolved)", s.queued);
        println!("failed      {:>12}", s.failed);
        println!(
            "rejected    {:>12}  (by the collector, or larger than it accepts)",
            s.rejected
        );
        println!("retried     {:>12}  (span sends repeated)", s.retried);
        println!(
            "bytes       {:>12}  in {} request(s)",
            s.bytes_sent, s.exports
        );
        for e in endpoints {
            println!(
                "  {:<40} {:>5}  exported {:>10}  failed {:>8}  retried {:>8}  bytes {:>12}",
                e.endpoint, e.state, e.exported, e.failed, e.retried, e.bytes_sent
            );
        }
        for d in dns {
            println!(
                "  {:<40} {:>5} address(es)  re-resolved {:>6}  failed {:>6}",
                d.name, d.addresses, d.resolutions, d.failures
            );
        }
    }
    if args.metrics {
        let mut text = String::new();
        tracewire::metrics::write_prometheus(s, latency, endpoints, dns, &mut text);
        print!("{text}");
    }
    let mut summary = serde_json::json!({
        "spans": args.spans,
        "recorded": s.recorded,
        "sampled_out": s.sampled_out,
        "exported": s.exported,
        "dropped": s.dropped,
        "shed": s.shed,
        "failed": s.failed,
        "rejected": s.rejected,
        "retried": s.retried,
        "queued": s.queued,
        "bytes": s.bytes_sent,
        "requests": s.exports,
        "seconds": seconds,
        "spans_per_second": per(s.exported, seconds),
    });
    if !endpoints.is_empty() {
        summary["endpoints"] = endpoints
            .iter()
            .map(|e| {
                serde_json::json!({
                    "endpoint": e.endpoint,
                    "state": e.state,
                    "exported": e.exported,
                    "failed": e.failed,
                    "rejected": e.rejected,
                    "retried": e.retried,
                    "bytes": e.bytes_sent,
                })
            })
            .collect();
    }
    if !dns.is_empty() {
        summary["dns"] = dns
            .iter()
            .map(|d| {
                serde_json::json!({
                    "name": d.name,
                    "addresses": d.addresses,
                    "resolutions": d.resolutions,
                    "failures": d.failures,
                })
            })
            .collect();
    }
    if args.json {
        println!("{summary}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(exported: u64, failed: u64) -> Stats {
        {
            let mut c = Stats::default();
            c.exported = exported;
            c.failed = failed;
            c
        }
    }

    #[test]
    fn a_run_is_hopeless_once_failures_stop_all_progress() {
        let t0 = Instant::now();
        let mut h = Hopeless::new(Duration::from_secs(30));
        assert!(!h.check(&stats(0, 0), t0), "nothing failed yet");
        assert!(!h.check(&stats(512, 0), t0));
        // A failure after progress: patience, while exports still succeed.
        assert!(!h.check(&stats(512, 512), t0));
        assert!(!h.check(&stats(1024, 512), t0 + Duration::from_secs(29)));
        assert!(!h.check(&stats(1024, 1024), t0 + Duration::from_secs(50)));
        assert!(h.check(&stats(1024, 1536), t0 + Duration::from_secs(60)));
        // Nothing ever exported and a batch failed for good: stop now.
        assert!(Hopeless::new(Duration::from_secs(30)).check(&stats(0, 512), t0));
    }
}
