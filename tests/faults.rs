//! Faults over time, against real collectors, with bounded durations: a
//! collector that is down for seconds then comes up, one that is slow, one
//! that flaps, and hostile ones. Throughout, recording never blocks, memory
//! stays within the ring and pool bound, every span is accounted for at
//! every moment the stats are read, and `shutdown(deadline)` returns by its
//! deadline.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::collectors::*;
use tracewire::model::SpanKind;
use tracewire::transport::{build, Endpoint};
use tracewire::transport::{ExporterConfig, Protocol, RetryConfig, TlsOptions};
use tracewire::{BatchConfig, Pipeline, ShutdownError, Stats, Tracer};

/// Memory and timing figures are process-wide: one scenario at a time
/// (each test has its own runtime, so an async lock serialises them).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn http_pipeline(
    url: &str,
    batch: BatchConfig,
    tweak: impl FnOnce(&mut ExporterConfig),
) -> Pipeline {
    let mut cfg = ExporterConfig::new(Protocol::Http, Endpoint::parse_http(url).unwrap());
    cfg.retry = {
        let mut c = RetryConfig::default();
        c.initial_backoff = Duration::from_millis(50);
        c.max_backoff = Duration::from_millis(200);
        c
    };
    cfg.connect_timeout = Duration::from_millis(500);
    tweak(&mut cfg);
    Pipeline::builder()
        .exporter_arc(build(&cfg).unwrap())
        .batch(batch)
        .start()
        .unwrap()
}

/// Reads the stats continuously on another thread and checks the invariant
/// at every read.
struct Monitor {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<u64>>,
}

impl Monitor {
    fn start(p: &Arc<Pipeline>) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (p.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut reads = 0u64;
            while !s.load(Ordering::Relaxed) {
                let st = p.stats();
                assert!(st.is_consistent(), "a span counted twice: {st:?}");
                assert_eq!(
                    st.recorded,
                    st.exported + st.dropped + st.shed + st.failed + st.rejected + st.queued,
                    "{st:?}"
                );
                reads += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            reads
        });
        Monitor {
            stop,
            handle: Some(handle),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("the invariant held at every read")
    }
}

/// What recording `n` spans on one thread looked like.
#[derive(Debug, Clone, Copy, Default)]
struct Recorded {
    /// Spans measured (all but the first).
    spans: usize,
    /// The longest single record call (wall clock: includes preemption).
    worst: Duration,
    /// Times the recording thread gave up the CPU of its own accord (a
    /// wait on a lock, a condition variable, a socket, a sleep), from
    /// Linux's per-thread `voluntary_ctxt_switches`; `None` where that is
    /// not available. Unlike `worst`, load on the machine does not raise
    /// it: being preempted is an involuntary switch.
    waits: Option<u64>,
}

/// The calling thread's voluntary context switches so far (Linux).
fn voluntary_switches() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Records `n` proxy-ish spans on this thread. The first is not measured:
/// a thread's first span registers its log with the pipeline, once, under
/// the pipeline's lock.
fn record(tracer: &Tracer, n: usize) -> Recorded {
    let mut worst = Duration::ZERO;
    let mut before = None;
    for i in 0..n {
        let t = Instant::now();
        let mut s = tracer.start("GET /fault", SpanKind::Server);
        s.set_str("http.request.method", "GET");
        s.set_str("url.path", "/api/v1/users/1234");
        s.set_i64("http.response.status_code", 200 + (i % 2) as i64);
        s.end();
        if i == 0 {
            before = voluntary_switches();
        } else {
            worst = worst.max(t.elapsed());
        }
    }
    let waits = match (before, voluntary_switches()) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    Recorded {
        spans: n.saturating_sub(1),
        worst,
        waits,
    }
}

/// Recording never waited on the exporter.
///
/// - The recording thread takes no lock and never sleeps: the chunk pool
///   is lock-free and the worker's wake-up does not block the thread that
///   rings it, so it gives up the CPU only when something outside
///   tracewire makes it (a page fault that must wait for memory, on a
///   loaded machine): at most once per 4,096 spans here, where a lock at
///   every chunk hand-off (64 spans) would show 64 times as many, and a
///   recorder that waited for room, a connection or a timeout would wait
///   on nearly every span once the queue is full. Counted by the kernel,
///   so load on a shared machine does not change it (being preempted is
///   an involuntary switch).
/// - No record call took seconds (a bound loose enough for a loaded,
///   shared machine running a debug build).
fn assert_never_waited(r: Recorded, what: &str) {
    if let Some(waits) = r.waits {
        let allowed = r.spans.div_ceil(4096) as u64;
        assert!(
            waits <= allowed,
            "{what}: the recording thread blocked {waits} time(s) in {} spans ({r:?})",
            r.spans
        );
    }
    assert!(
        r.worst < Duration::from_secs(2),
        "{what}: a record call took {:?}",
        r.worst
    );
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_down_for_seconds_then_up() {
    let _serial = SERIAL.lock().await;
    // Baseline: the worst record time with a healthy collector.
    let healthy = HttpCollector::start(vec![], None).await;
    let p = http_pipeline(&healthy.url(false), BatchConfig::default(), |_| {});
    let tracer = p.tracer("faults");
    let healthy_run = tokio::task::block_in_place(|| record(&tracer, 20_000));
    assert_never_waited(healthy_run, "collector up");
    drop(tracer);
    let _ = p.shutdown_async(Duration::from_secs(10)).await;

    // The collector is down (nothing listens on the port) for 3 s.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let batch = {
        let mut c = BatchConfig::default();
        c.scheduled_delay = Duration::from_millis(100);
        c.export_timeout = Duration::from_secs(20);
        c
    };
    let p = Arc::new(http_pipeline(
        &format!("http://127.0.0.1:{port}/v1/traces"),
        batch.clone(),
        |_| {},
    ));
    let monitor = Monitor::start(&p);
    let tracer = p.tracer("faults");
    let rss_before = rss_bytes();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        let run = tokio::task::block_in_place(|| record(&tracer, 20_000));
        assert_never_waited(run, "collector down");
        let (in_ring, _) = tracewire::internal::occupancy(&p);
        assert!(
            in_ring <= batch.max_queue_size as u64,
            "the ring is bounded"
        );
    }
    let rss_growth = rss_bytes().saturating_sub(rss_before);
    let down = p.stats();
    assert!(
        down.recorded > 100_000,
        "recording went on while the collector was down: {down:?}"
    );
    assert!(down.dropped + down.shed > 0 && down.exported == 0);
    eprintln!("RSS growth {} KiB", rss_growth / 1024);
    // Memory stays within the ring + pool bound (~2048 + 2816 buffers of
    // 512 B), nowhere near the ~{recorded} spans recorded.
    assert!(rss_growth < 48 << 20, "RSS grew {} MiB", rss_growth >> 20);

    // The collector comes up on that port: the queued spans arrive.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let collector = HttpCollector::start_on(listener, vec![], None);
    p.flush(Duration::from_secs(20)).await.unwrap();
    let after = p.stats();
    assert_eq!(after.queued, 0);
    assert!(
        after.exported >= 1000,
        "what was queued arrived after recovery: {after:?}"
    );
    assert_eq!(
        after.exported as usize,
        collector.state.accepted_spans(),
        "exactly once"
    );
    assert_eq!(
        after.recorded,
        after.exported + after.dropped + after.shed + after.failed + after.rejected
    );
    let reads = monitor.finish();
    assert!(reads > 100);
    drop(tracer);
    let _ = p.shutdown_async(Duration::from_secs(5)).await;
}

/// A proxy's steady state: bursts of spans against a healthy collector
/// that keeps up, the worker woken as batches fill. The recording thread
/// does not give up the CPU. Prints what it counted:
/// `cargo test --release --test faults paced -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_recording_against_a_healthy_collector() {
    let _serial = SERIAL.lock().await;
    let collector = HttpCollector::start(vec![], None).await;
    let p = http_pipeline(&collector.url(false), BatchConfig::default(), |_| {});
    let tracer = p.tracer("paced");
    let mut total = Recorded::default();
    let mut waits = 0;
    for _ in 0..200 {
        let run = tokio::task::block_in_place(|| record(&tracer, 500));
        assert_never_waited(run, "paced");
        total.spans += run.spans;
        total.worst = total.worst.max(run.worst);
        waits += run.waits.unwrap_or(0);
        // Not measured: the pause between bursts.
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    total.waits = Some(waits);
    eprintln!("paced: {total:?}");
    assert_never_waited(total, "paced, in all");
    p.flush(Duration::from_secs(20)).await.unwrap();
    let s = p.stats();
    assert_eq!(s.queued, 0, "{s:?}");
    assert_eq!(s.exported as usize, collector.state.accepted_spans());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_collector() {
    let _serial = SERIAL.lock().await;
    let collector =
        HttpCollector::start(vec![HttpReply::Slow(Duration::from_secs(2)); 3], None).await;
    let p = Arc::new(http_pipeline(
        &collector.url(false),
        {
            let mut c = BatchConfig::default();
            c.max_export_batch_size = 100;
            c.max_concurrent_exports = 2;
            c
        },
        |c| c.timeout = Duration::from_secs(5),
    ));
    let monitor = Monitor::start(&p);
    let tracer = p.tracer("slow");
    let run = tokio::task::block_in_place(|| record(&tracer, 600));
    assert_never_waited(run, "slow collector");
    p.flush(Duration::from_secs(20)).await.unwrap();
    monitor.finish();
    let s = p.stats();
    assert_eq!((s.exported, s.failed, s.queued), (600, 0, 0));
    assert_eq!(collector.state.accepted_spans(), 600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flapping_collector_delivers_everything_once() {
    let _serial = SERIAL.lock().await;
    let script: Vec<HttpReply> = (0..40)
        .map(|i| {
            if i % 2 == 0 {
                HttpReply::Close
            } else {
                HttpReply::Ok
            }
        })
        .collect();
    let collector = HttpCollector::start(script, None).await;
    let p = Arc::new(http_pipeline(
        &collector.url(false),
        {
            let mut c = BatchConfig::default();
            c.max_export_batch_size = 50;
            c.scheduled_delay = Duration::from_millis(20);
            c
        },
        |_| {},
    ));
    let monitor = Monitor::start(&p);
    let tracer = p.tracer("flap");
    for _ in 0..10 {
        tokio::task::block_in_place(|| record(&tracer, 100));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    p.flush(Duration::from_secs(20)).await.unwrap();
    monitor.finish();
    let s = p.stats();
    assert_eq!(
        (s.recorded, s.exported, s.failed, s.dropped),
        (1000, 1000, 0, 0)
    );
    assert_eq!(
        collector.state.accepted_spans(),
        1000,
        "every span once, despite the refusals"
    );
    assert!(s.retried > 0);
}

async fn shutdown_within(p: Pipeline, deadline: Duration) -> Stats {
    let started = Instant::now();
    let r = p.shutdown_async(deadline).await;
    let took = started.elapsed();
    assert!(
        took < deadline + Duration::from_millis(1500),
        "shutdown took {took:?} for a {deadline:?} deadline"
    );
    let stats = match r {
        Ok(s) => s,
        Err(ShutdownError::DeadlineExceeded { stats, .. }) => stats,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(stats.queued, 0, "{stats:?}");
    assert_eq!(
        stats.recorded,
        stats.exported + stats.dropped + stats.shed + stats.failed + stats.rejected
    );
    stats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_collectors_cannot_stall_shutdown_or_grow_memory() {
    let _serial = SERIAL.lock().await;
    // An endless error body, a hang, a TLS handshake that never completes.
    let endless = HttpCollector::start(vec![HttpReply::Endless { code: 500 }; 100], None).await;
    let hang = HttpCollector::start(vec![HttpReply::Hang; 100], None).await;
    let (hole, _task) = black_hole().await;
    let cases: Vec<(&str, String, bool)> = vec![
        ("endless body", endless.url(false), false),
        ("hang", hang.url(false), false),
        (
            "TLS handshake never completes",
            format!("https://127.0.0.1:{}/v1/traces", hole.port()),
            true,
        ),
    ];
    for (name, url, tls) in cases {
        let rss_before = rss_bytes();
        let p = Arc::new(http_pipeline(&url, BatchConfig::default(), |c| {
            c.timeout = Duration::from_millis(400);
            if tls {
                c.tls = {
                    let mut c = TlsOptions::default();
                    c.insecure_skip_verify = true;
                    c
                };
            }
        }));
        let monitor = Monitor::start(&p);
        let tracer = p.tracer("hostile");
        let run = tokio::task::block_in_place(|| record(&tracer, 50_000));
        assert_never_waited(run, name);
        tokio::time::sleep(Duration::from_millis(600)).await;
        monitor.finish();
        drop(tracer);
        let p = Arc::try_unwrap(p).unwrap_or_else(|_| panic!("the monitor let go"));
        let stats = shutdown_within(p, Duration::from_millis(700)).await;
        assert_eq!(stats.exported, 0, "{name}");
        let growth = rss_bytes().saturating_sub(rss_before);
        assert!(growth < 48 << 20, "{name}: RSS grew {} MiB", growth >> 20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_hostile_peers_cannot_stall_shutdown() {
    let _serial = SERIAL.lock().await;
    let huge = H2Collector::start(vec![H2Reply::HugePrefix; 50]).await;
    let hang = GrpcCollector::start(vec![GrpcReply::Hang; 50], None).await;
    for endpoint in [huge.endpoint(), hang.endpoint()] {
        let mut cfg = ExporterConfig::new(
            Protocol::Grpc,
            Endpoint::parse_grpc(&endpoint, true).unwrap(),
        );
        cfg.timeout = Duration::from_millis(300);
        let p = Pipeline::builder()
            .exporter_arc(build(&cfg).unwrap())
            .start()
            .unwrap();
        let tracer = p.tracer("hostile-grpc");
        tokio::task::block_in_place(|| record(&tracer, 5_000));
        drop(tracer);
        let stats = shutdown_within(p, Duration::from_millis(800)).await;
        assert_eq!(stats.exported, 0);
    }
}

/// This process's threads whose name starts with `prefix`: (tid, name).
#[cfg(target_os = "linux")]
fn threads(prefix: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(tid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if name.trim_end().starts_with(prefix) {
            out.push((tid, name.trim_end().to_owned()));
        }
    }
    out
}

/// Thread `tid`'s (scheduling policy, nice value), from its `stat`
/// (fields 41 and 19).
#[cfg(target_os = "linux")]
fn policy_and_nice(tid: u32) -> (u32, i32) {
    stat_policy_and_nice(&format!("/proc/self/task/{tid}/stat"))
}

#[cfg(target_os = "linux")]
fn stat_policy_and_nice(path: &str) -> (u32, i32) {
    let stat = std::fs::read_to_string(path).unwrap();
    // The fields start after the command name's ')' (it may hold spaces).
    let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    (f[41 - 3].parse().unwrap(), f[19 - 3].parse().unwrap())
}

/// Thread `tid`'s voluntary context switches so far: each is a wake-up
/// after the thread slept.
#[cfg(target_os = "linux")]
fn wakeups(tid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// The pipeline's own threads started by `start` (the export worker and
/// its doorbell): (worker tid, doorbell tid).
#[cfg(target_os = "linux")]
fn pipeline_threads(start: impl FnOnce() -> Pipeline) -> (Pipeline, u32, u32) {
    let before = threads("tracewire-");
    let p = start();
    // A thread names itself as it starts (and Linux keeps 15 bytes of it).
    let until = Instant::now() + Duration::from_secs(10);
    let new = loop {
        let new: Vec<(u32, String)> = threads("tracewire-")
            .into_iter()
            .filter(|t| !before.contains(t))
            .collect();
        if new.len() >= 2 || Instant::now() > until {
            break new;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let find = |name: &str| {
        new.iter()
            .find(|(_, n)| n == name)
            .unwrap_or_else(|| panic!("no new {name} thread among {new:?}"))
            .0
    };
    let (worker, doorbell) = (find("tracewire-expor"), find("tracewire-wake"));
    (p, worker, doorbell)
}

/// The export worker and its doorbell yield the CPU to the application:
/// SCHED_IDLE by default (policy 5), nice 19 with `low`, the application's
/// own with `normal`.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_threads_run_below_the_application() {
    let _serial = SERIAL.lock().await;
    let collector = HttpCollector::start(vec![], None).await;
    // What the application's threads run at (the worker inherits it
    // where it keeps the application's priority).
    let mine = stat_policy_and_nice("/proc/thread-self/stat");
    for (priority, want) in [
        (tracewire::WorkerPriority::Idle, Some((5, mine.1))),
        (
            tracewire::WorkerPriority::Low,
            (mine.0 == 0).then_some((0, 19)),
        ),
        (tracewire::WorkerPriority::Normal, Some(mine)),
    ] {
        let batch = {
            let mut c = BatchConfig::default();
            c.worker_priority = priority;
            c
        };
        let (p, worker, doorbell) =
            pipeline_threads(|| http_pipeline(&collector.url(false), batch, |_| {}));
        if let Some(want) = want {
            // The worker sets its priority as its thread starts.
            let until = Instant::now() + Duration::from_secs(10);
            while policy_and_nice(worker) != want || policy_and_nice(doorbell) != want {
                assert!(
                    Instant::now() < until,
                    "{priority}: worker {:?}, doorbell {:?}, want {want:?}",
                    policy_and_nice(worker),
                    policy_and_nice(doorbell)
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        p.shutdown_async(Duration::from_secs(5)).await.unwrap();
    }
}

/// With no traffic the worker sleeps: at most its scheduled export and
/// clock re-anchoring (every 5 s) wake it; the doorbell never rings.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_pipeline_wakes_rarely() {
    let _serial = SERIAL.lock().await;
    let collector = HttpCollector::start(vec![], None).await;
    let (p, worker, doorbell) =
        pipeline_threads(|| http_pipeline(&collector.url(false), BatchConfig::default(), |_| {}));
    // Its start (runtime, first timers) is not idleness.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (w0, d0) = (wakeups(worker), wakeups(doorbell));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (w, d) = (wakeups(worker) - w0, wakeups(doorbell) - d0);
    eprintln!("idle for 3 s: worker woke {w} time(s), doorbell {d}");
    assert!(w <= 2, "an idle worker woke {w} times in 3 s");
    assert_eq!(d, 0, "the doorbell rang with no traffic");
    p.shutdown_async(Duration::from_secs(5)).await.unwrap();
}

/// Under steady traffic the worker looks at the logs about once per batch
/// (not on a millisecond timer), and recording threads do not wake it:
/// 40,000 spans at 20,000 a second, batches of 512, exported over HTTP.
/// Each export costs the worker a few wake-ups of its own (the request
/// written, the response read); a 1 ms poll would cost 2,000.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_pipeline_wakes_about_once_per_batch() {
    let _serial = SERIAL.lock().await;
    let collector = HttpCollector::start(vec![], None).await;
    let (p, worker, doorbell) =
        pipeline_threads(|| http_pipeline(&collector.url(false), BatchConfig::default(), |_| {}));
    let tracer = p.tracer("busy");
    let (w0, d0) = (wakeups(worker), wakeups(doorbell));
    let spans = 40_000u32;
    let (recorder_waits, elapsed) = tokio::task::block_in_place(|| {
        let before = voluntary_switches();
        let start = Instant::now();
        for i in 0..spans {
            // Paced by spinning: the recording thread never sleeps itself.
            let due = start + Duration::from_micros(50) * i;
            while Instant::now() < due {
                std::hint::spin_loop();
            }
            let mut s = tracer.start("GET /busy", SpanKind::Server);
            s.set_str("http.request.method", "GET");
            s.set_i64("http.response.status_code", 200);
            s.end();
        }
        let waits = voluntary_switches().zip(before).map(|(a, b)| a - b);
        (waits, start.elapsed())
    });
    let (w, d) = (wakeups(worker) - w0, wakeups(doorbell) - d0);
    p.flush(Duration::from_secs(20)).await.unwrap();
    let s = p.stats();
    let requests = s.exports;
    eprintln!(
        "{spans} spans in {elapsed:?}: worker woke {w} time(s) for {requests} export request(s), \
         doorbell {d}, the recording thread waited {recorder_waits:?} time(s)"
    );
    assert_eq!(s.exported, u64::from(spans), "{s:?}");
    assert!(
        requests >= 70,
        "{requests} requests: batches of 512 expected"
    );
    assert!(
        w <= 6 * requests + 20,
        "the worker woke {w} times for {requests} requests"
    );
    assert!(d <= 10, "recording threads rang the doorbell {d} times");
    if let Some(waits) = recorder_waits {
        assert_eq!(waits, 0, "the recording thread gave up the CPU");
    }
}
