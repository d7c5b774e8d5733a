//! `tracewire load`: send N proxy-shaped spans to a collector through the
//! library, configured exactly as an embedding proxy would be.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
    /// Print a JSON summary as the last line of stdout.
    #[arg(long)]
    pub json: bool,
    /// Record as fast as possible without waiting for the queue to drain:
    /// what the queue cannot hold is dropped and counted.
    #[arg(long)]
    pub no_backpressure: bool,
}

pub fn run(args: LoadArgs, flags: &[String]) -> i32 {
    let mut config =
        match tracewire::config::load(args.config.as_deref(), flags, |k| std::env::var(k).ok()) {
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
    let queue_cap = config.batch.max_queue_size as u64;
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
            let (tracer, recorded, pipeline, finished) = (&tracer, &recorded, &pipeline, &finished);
            let rate = args.rate.map(|r| r / args.threads as f64 / 2.0);
            let backpressure = !args.no_backpressure;
            let total = args.spans;
            // Each thread checks the queue often enough that all of them
            // together overrun it by at most a quarter.
            let check_every = (queue_cap / 4 / (2 * args.threads as u64)).clamp(1, 64);
            scope.spawn(move || {
                let thread_start = Instant::now();
                let mut k = 0u64;
                let mut i = t;
                while i < requests {
                    if backpressure && k % check_every == 0 {
                        // Never record faster than the pipeline delivers.
                        while pipeline.stats().queued > queue_cap * 3 / 4 {
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
                    let spans = traffic::request(tracer, i, 2 * i + 1 < total);
                    recorded.fetch_add(spans, Ordering::Relaxed);
                    k += 1;
                    i += args.threads as u64;
                }
                finished.fetch_add(1, Ordering::Relaxed);
            });
        }
        // The main thread draws progress.
        while finished.load(Ordering::Relaxed) < args.threads as u64 {
            progress.set_position(recorded.load(Ordering::Relaxed));
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    progress.finish_and_clear();
    let record_seconds = started.elapsed().as_secs_f64();

    // Wait for delivery: everything queued, until the export timeout.
    let timeout = config.batch.export_timeout + Duration::from_secs(5);
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
    report(&args, &stats, record_seconds, seconds);
    if stats.exported == args.spans {
        0
    } else {
        1
    }
}

fn report(args: &LoadArgs, s: &Stats, record_seconds: f64, seconds: f64) {
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
        println!("failed      {:>12}", s.failed);
        println!("rejected    {:>12}  (by the collector)", s.rejected);
        println!("retried     {:>12}  (span sends repeated)", s.retried);
        println!(
            "bytes       {:>12}  in {} request(s)",
            s.bytes_sent, s.exports
        );
    }
    let summary = serde_json::json!({
        "spans": args.spans,
        "recorded": s.recorded,
        "sampled_out": s.sampled_out,
        "exported": s.exported,
        "dropped": s.dropped,
        "failed": s.failed,
        "rejected": s.rejected,
        "retried": s.retried,
        "bytes": s.bytes_sent,
        "requests": s.exports,
        "seconds": seconds,
        "spans_per_second": per(s.exported, seconds),
    });
    if args.json {
        println!("{summary}");
    }
}
