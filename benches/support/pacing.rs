//! Pacing for the recording benches: spans recorded in timed windows,
//! the export worker given time to drain between them (untimed), so what
//! is measured is what the recording thread pays while the worker keeps
//! up.
#![allow(dead_code)]

use std::sync::Barrier;
use std::time::{Duration, Instant};

use tracewire::Pipeline;

/// Spans recorded per timed window.
pub const WINDOW: u64 = 256;

/// Records `iters` spans with `f` in timed windows of [`WINDOW`], calling
/// `pace` (untimed) after each; returns the time spent recording.
pub fn paced(iters: u64, mut f: impl FnMut(u64), mut pace: impl FnMut()) -> Duration {
    let mut total = Duration::ZERO;
    let mut i = 0;
    while i < iters {
        let n = WINDOW.min(iters - i);
        let started = Instant::now();
        for k in i..i + n {
            f(k);
        }
        total += started.elapsed();
        i += n;
        pace();
    }
    total
}

/// Waits while the pipeline's queue is more than a quarter full (the
/// worker drains, and the next window finds room, below the half where
/// shedding would begin: the spans measured are all recorded). It sleeps,
/// so that two recording threads on two cores leave the worker a core.
pub fn drained(pipeline: &Pipeline) {
    let half = pipeline.batch_config().max_queue_size as u64 / 4;
    let deadline = Instant::now() + Duration::from_secs(1);
    while pipeline.stats().queued > half && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(20));
    }
}

/// Spins for `d`, leaving the other core to the export worker.
pub fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::thread::yield_now();
    }
}

/// Wall time per span per thread, with `threads` threads recording `iters`
/// spans each, started together; each thread paced by `pace`.
pub fn per_thread<F: Fn(u64) + Sync, P: Fn() + Sync>(
    threads: usize,
    iters: u64,
    f: F,
    pace: P,
) -> Duration {
    let barrier = Barrier::new(threads);
    let times: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    paced(iters, &f, &pace)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    times.iter().sum::<Duration>() / threads.max(1) as u32
}
