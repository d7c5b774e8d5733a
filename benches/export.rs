//! End-to-end export of proxy-shaped spans to a loopback collector, over
//! OTLP/gRPC and OTLP/HTTP, tracewire against opentelemetry-otlp (with the
//! OpenTelemetry SDK's batch span processor), side by side in one run.
//!
//! The collector counts spans from the protobuf framing without decoding
//! them, so it is not the bottleneck; it runs on its own runtime threads
//! (named `bench-collector`), whose CPU time is left out of the exporters'.
//!
//! Each criterion iteration records one span; spans are recorded in windows
//! that never overrun the queue, and the time runs until the collector has
//! counted every one: the throughput criterion reports is delivered
//! spans/s, sustained.
//!
//! After the criterion groups, two extra figures go to stderr:
//! - CPU time per delivered span (the process's threads minus the
//!   collector's, from /proc), over a fixed run;
//! - the fraction of a 200,000-span burst each delivers with default
//!   settings (queue 2048).
//!
//! The `fleet_grpc` group measures delivered spans/s to three collectors
//! against one (with the CPU per delivered span of each); what routing
//! costs per span alone is `cargo bench --bench route`.
//!
//! The `compression_grpc` / `compression_http` groups measure tracewire with
//! no compression, gzip and zstd: delivered spans/s, and on stderr the
//! exporter's CPU and the bytes on the wire per delivered span.
//!
//! Run: `cargo bench --bench export`

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Full};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider,
};
use tracewire::internal::codec::wire::get_varint;
use tracewire::transport::{build, Endpoint};
use tracewire::transport::{Compression, ExporterConfig, Protocol};
use tracewire::{BatchConfig, Pipeline, Tracer};

#[path = "support/proxy_span.rs"]
mod proxy_span;
use proxy_span::{otel_span, tracewire_span};

// ---------------------------------------------------------------------------
// The counting collector
// ---------------------------------------------------------------------------

/// Counts `Span`s in an `ExportTraceServiceRequest` by walking the framing
/// (request -> ResourceSpans -> ScopeSpans -> Span) without decoding spans.
fn count_spans(msg: &[u8]) -> u64 {
    fn fields(mut buf: &[u8], mut f: impl FnMut(u64, &[u8])) {
        while !buf.is_empty() {
            let Some((key, n)) = get_varint(buf) else {
                return;
            };
            buf = &buf[n..];
            match key & 7 {
                0 => match get_varint(buf) {
                    Some((_, n)) => buf = &buf[n..],
                    None => return,
                },
                1 => buf = buf.get(8..).unwrap_or(&[]),
                5 => buf = buf.get(4..).unwrap_or(&[]),
                2 => {
                    let Some((len, n)) = get_varint(buf) else {
                        return;
                    };
                    let end = n + len as usize;
                    let Some(body) = buf.get(n..end) else { return };
                    f(key >> 3, body);
                    buf = &buf[end..];
                }
                _ => return,
            }
        }
    }
    let mut count = 0;
    fields(msg, |field, rs| {
        if field == 1 {
            fields(rs, |field, ss| {
                if field == 2 {
                    fields(ss, |field, _| count += u64::from(field == 2));
                }
            });
        }
    });
    count
}

struct Collector {
    http: SocketAddr,
    grpc: SocketAddr,
    spans: Arc<AtomicU64>,
    /// Request bytes as received (compressed, when they were).
    wire_bytes: Arc<AtomicU64>,
    _rt: tokio::runtime::Runtime,
}

/// A request body as sent, inflated by its encoding (`gzip`, `zstd`, or
/// none), as a Collector does before decoding.
fn inflate(encoding: Option<&[u8]>, body: &[u8]) -> Vec<u8> {
    use std::io::Read as _;
    match encoding {
        Some(b"gzip") => {
            let mut out = Vec::new();
            let _ = flate2::read::GzDecoder::new(body).read_to_end(&mut out);
            out
        }
        Some(b"zstd") => zstd::decode_all(body).unwrap_or_default(),
        _ => body.to_vec(),
    }
}

fn start_collector() -> Collector {
    start_collector_counting(Arc::new(AtomicU64::new(0)))
}

/// A collector adding the spans it receives to `spans` (shared by the
/// members of a fleet).
fn start_collector_counting(spans: Arc<AtomicU64>) -> Collector {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-collector")
        .enable_all()
        .build()
        .unwrap();
    let (http, grpc) = rt.block_on(async {
        let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        (http, grpc)
    });
    let (http_addr, grpc_addr) = (http.local_addr().unwrap(), grpc.local_addr().unwrap());
    let wire_bytes = Arc::new(AtomicU64::new(0));
    let (s, w) = (spans.clone(), wire_bytes.clone());
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = http.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (s, w) = (s.clone(), w.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (s, w) = (s.clone(), w.clone());
                        async move {
                            let encoding = req
                                .headers()
                                .get("content-encoding")
                                .map(|v| v.as_bytes().to_vec());
                            let body = req.into_body().collect().await?.to_bytes();
                            w.fetch_add(body.len() as u64, Ordering::Relaxed);
                            if encoding.is_some() {
                                let raw = inflate(encoding.as_deref(), &body);
                                s.fetch_add(count_spans(&raw), Ordering::Relaxed);
                            } else {
                                s.fetch_add(count_spans(&body), Ordering::Relaxed);
                            }
                            Ok::<_, hyper::Error>(
                                hyper::Response::builder()
                                    .header("content-type", "application/x-protobuf")
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    let (s, w) = (spans.clone(), wire_bytes.clone());
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = grpc.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let (s, w) = (s.clone(), w.clone());
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::Builder::new()
                    .initial_window_size(1 << 20)
                    .initial_connection_window_size(1 << 22)
                    .handshake(tcp)
                    .await
                else {
                    return;
                };
                while let Some(Ok((req, mut respond))) = conn.accept().await {
                    let (s, w) = (s.clone(), w.clone());
                    tokio::spawn(async move {
                        let encoding = req
                            .headers()
                            .get("grpc-encoding")
                            .map(|v| v.as_bytes().to_vec());
                        let mut body = req.into_body();
                        let mut buf = Vec::new();
                        while let Some(Ok(chunk)) = body.data().await {
                            let _ = body.flow_control().release_capacity(chunk.len());
                            buf.extend_from_slice(&chunk);
                        }
                        w.fetch_add(buf.len() as u64, Ordering::Relaxed);
                        let msg = buf.get(5..).unwrap_or(&[]);
                        if buf.first() == Some(&1) {
                            let raw = inflate(encoding.as_deref(), msg);
                            s.fetch_add(count_spans(&raw), Ordering::Relaxed);
                        } else {
                            s.fetch_add(count_spans(msg), Ordering::Relaxed);
                        }
                        let head = http::Response::builder()
                            .status(200)
                            .header("content-type", "application/grpc")
                            .body(())
                            .unwrap();
                        if let Ok(mut stream) = respond.send_response(head, false) {
                            let _ = stream.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false);
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                            let _ = stream.send_trailers(trailers);
                        }
                    });
                }
            });
        }
    });
    Collector {
        http: http_addr,
        grpc: grpc_addr,
        spans,
        wire_bytes,
        _rt: rt,
    }
}

// ---------------------------------------------------------------------------
// The two exporters, recording the same proxy-shaped span
// ---------------------------------------------------------------------------

/// The queue both exporters get for the throughput runs.
const QUEUE: usize = 65_536;
/// Spans recorded before waiting for the collector to catch up: two
/// windows are at most a quarter of the queue, below where tracewire's
/// shedding starts (half the queue), so every span is delivered.
const WINDOW: u64 = 8_192;

enum Exporter {
    Tracewire(Pipeline, Tracer),
    Otel(SdkTracerProvider, SdkTracer),
}

impl Exporter {
    fn record(&self, i: u64) {
        match self {
            Exporter::Tracewire(_, t) => tracewire_span(t, i),
            Exporter::Otel(_, t) => otel_span(t, i),
        }
    }

    fn flush(&self) {
        match self {
            Exporter::Tracewire(p, _) => {
                let _ = p.force_flush(Duration::from_secs(30));
            }
            Exporter::Otel(p, _) => {
                let _ = p.force_flush();
            }
        }
    }
}

fn tracewire_exporter(protocol: Protocol, c: &Collector, batch: BatchConfig) -> Exporter {
    tracewire_compressed(protocol, c, batch, Compression::None)
}

fn tracewire_compressed(
    protocol: Protocol,
    c: &Collector,
    batch: BatchConfig,
    compression: Compression,
) -> Exporter {
    let endpoint = match protocol {
        Protocol::Http => Endpoint::parse_http(&format!("http://{}/v1/traces", c.http)).unwrap(),
        Protocol::Grpc => Endpoint::parse_grpc(&c.grpc.to_string(), true).unwrap(),
        other => panic!("{other:?} is not benchmarked"),
    };
    let mut config = ExporterConfig::new(protocol, endpoint);
    config.compression = compression;
    let p = Pipeline::builder()
        .exporter_arc(build(&config).unwrap())
        .batch(batch)
        .preallocate(true)
        .start()
        .unwrap();
    let t = p.tracer("bench");
    Exporter::Tracewire(p, t)
}

fn otel_exporter(
    protocol: Protocol,
    c: &Collector,
    rt: &tokio::runtime::Runtime,
    queue: usize,
    delay: Duration,
) -> Exporter {
    // The tonic exporter needs a tokio runtime to exist when it is built.
    let _guard = rt.enter();
    let exporter = match protocol {
        Protocol::Http => opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("http://{}/v1/traces", c.http))
            .build()
            .unwrap(),
        Protocol::Grpc => opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{}", c.grpc))
            .build()
            .unwrap(),
        other => panic!("{other:?} is not benchmarked"),
    };
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(queue)
                .with_scheduled_delay(delay)
                .build(),
        )
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("bench");
    Exporter::Otel(provider, tracer)
}

/// Records `n` spans in windows, then waits until the collector has counted
/// them all. Returns the elapsed time.
fn deliver(e: &Exporter, c: &Collector, n: u64) -> Duration {
    deliver_windowed(e, c, n, WINDOW)
}

/// [`deliver`] with a window that fits a queue of `2 * window` spans.
fn deliver_windowed(e: &Exporter, c: &Collector, n: u64, window: u64) -> Duration {
    let start_count = c.spans.load(Ordering::Relaxed);
    let started = Instant::now();
    let mut sent = 0u64;
    while sent < n {
        let chunk = window.min(n - sent);
        for i in 0..chunk {
            e.record(sent + i);
        }
        sent += chunk;
        // Keep at most two windows in the queue: no span is dropped.
        while c.spans.load(Ordering::Relaxed) - start_count + 2 * window < sent {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut flushed = false;
    while c.spans.load(Ordering::Relaxed) - start_count < n {
        if !flushed && started.elapsed() > Duration::from_millis(20) {
            e.flush();
            flushed = true;
        }
        assert!(
            Instant::now() < deadline,
            "spans were lost: {} of {n}",
            c.spans.load(Ordering::Relaxed) - start_count
        );
        std::thread::sleep(Duration::from_micros(100));
    }
    started.elapsed()
}

fn throughput_batch() -> BatchConfig {
    {
        let mut c = BatchConfig::default();
        c.max_queue_size = QUEUE;
        c.max_export_batch_size = 512;
        c.scheduled_delay = Duration::from_millis(5);
        c
    }
}

fn bench_protocol(
    c: &mut Criterion,
    group: &str,
    protocol: Protocol,
    collector: &Collector,
    rt: &tokio::runtime::Runtime,
) {
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(2));
    let tw = tracewire_exporter(protocol, collector, throughput_batch());
    g.bench_function("tracewire", |b| {
        b.iter_custom(|iters| deliver(&tw, collector, iters))
    });
    let ot = otel_exporter(protocol, collector, rt, QUEUE, Duration::from_millis(5));
    g.bench_function("opentelemetry_otlp", |b| {
        b.iter_custom(|iters| deliver(&ot, collector, iters))
    });
    // Both with their default batch settings (queue 2048, delay 5 s, batch
    // 512), fed in windows of 256 so that nothing is dropped or shed.
    let twd = tracewire_exporter(protocol, collector, BatchConfig::default());
    g.bench_function("tracewire_defaults", |b| {
        b.iter_custom(|iters| deliver_windowed(&twd, collector, iters, 256))
    });
    let otd = otel_exporter(protocol, collector, rt, 2048, Duration::from_millis(5000));
    g.bench_function("opentelemetry_otlp_defaults", |b| {
        b.iter_custom(|iters| deliver_windowed(&otd, collector, iters, 256))
    });
    g.finish();
    black_box((tw, ot, twd, otd));
}

// ---------------------------------------------------------------------------
// CPU time per span, and the burst
// ---------------------------------------------------------------------------

/// CPU time (user + system) of this process's threads, leaving out the
/// collector's, from /proc (Linux; clock ticks converted at 100 Hz).
fn exporter_cpu() -> Duration {
    let mut ticks = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim().starts_with("bench-collecto") {
                continue;
            }
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // Fields after the parenthesised name: utime is 14th, stime 15th.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let u: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
                let s: u64 = f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
                ticks += u + s;
            }
        }
    }
    Duration::from_millis(ticks * 10)
}

fn cpu_per_span(name: &str, e: &Exporter, c: &Collector, n: u64) {
    let cpu0 = exporter_cpu();
    let took = deliver(e, c, n);
    let cpu = exporter_cpu() - cpu0;
    eprintln!(
        "cpu {name}: {n} spans delivered in {:.3} s = {:.0} spans/s; exporter CPU {:.3} s = {:.0} ns per span",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_nanos() as f64 / n as f64
    );
}

/// Records a 200,000-span burst as fast as possible with default settings,
/// flushes, and reports how many arrived.
fn burst(name: &str, e: &Exporter, c: &Collector) {
    let before = c.spans.load(Ordering::Relaxed);
    let started = Instant::now();
    for i in 0..200_000 {
        e.record(i);
    }
    let recorded_in = started.elapsed();
    e.flush();
    std::thread::sleep(Duration::from_millis(500));
    let got = c.spans.load(Ordering::Relaxed) - before;
    eprintln!(
        "burst {name}: 200000 spans recorded in {:.1} ms; delivered {got} ({:.1}%)",
        recorded_in.as_secs_f64() * 1e3,
        got as f64 / 2000.0
    );
}

/// A tracewire pipeline sending over gRPC to every collector of `fleet`,
/// each trace routed to one of them.
fn tracewire_fleet(fleet: &[&Collector], batch: BatchConfig) -> Exporter {
    let mut cfg = ExporterConfig::new(
        Protocol::Grpc,
        Endpoint::parse_grpc(&fleet[0].grpc.to_string(), true).unwrap(),
    );
    cfg.fleet = fleet[1..]
        .iter()
        .map(|c| Endpoint::parse_grpc(&c.grpc.to_string(), true).unwrap())
        .collect();
    let p = Pipeline::builder()
        .exporter_arc(build(&cfg).unwrap())
        .batch(batch)
        .preallocate(true)
        .start()
        .unwrap();
    let t = p.tracer("bench");
    Exporter::Tracewire(p, t)
}

/// Delivered spans/s to one collector and to a fleet of three (sharing one
/// span counter), gRPC, same run.
fn bench_fleet(c: &mut Criterion) {
    let one = start_collector();
    let counter = Arc::new(AtomicU64::new(0));
    let three = [
        start_collector_counting(counter.clone()),
        start_collector_counting(counter.clone()),
        start_collector_counting(counter),
    ];
    let mut g = c.benchmark_group("fleet_grpc");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.warm_up_time(Duration::from_secs(2));
    let single = tracewire_exporter(Protocol::Grpc, &one, throughput_batch());
    g.bench_function("one_collector", |b| {
        b.iter_custom(|iters| deliver(&single, &one, iters))
    });
    let fleet = tracewire_fleet(&[&three[0], &three[1], &three[2]], throughput_batch());
    g.bench_function("three_collectors", |b| {
        b.iter_custom(|iters| deliver(&fleet, &three[0], iters))
    });
    g.finish();
    cpu_per_span("grpc tracewire one collector", &single, &one, 1_000_000);
    cpu_per_span(
        "grpc tracewire three collectors",
        &fleet,
        &three[0],
        1_000_000,
    );
}

fn bench_export(c: &mut Criterion) {
    let collector = start_collector();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    bench_protocol(c, "export_grpc", Protocol::Grpc, &collector, &rt);
    bench_protocol(c, "export_http", Protocol::Http, &collector, &rt);

    for protocol in [Protocol::Grpc, Protocol::Http] {
        let p = format!("{protocol:?}").to_lowercase();
        let tw = tracewire_exporter(protocol, &collector, throughput_batch());
        cpu_per_span(&format!("{p} tracewire"), &tw, &collector, 1_000_000);
        drop(tw);
        let ot = otel_exporter(protocol, &collector, &rt, QUEUE, Duration::from_millis(5));
        cpu_per_span(&format!("{p} opentelemetry_otlp"), &ot, &collector, 50_000);
        drop(ot);

        let tw = tracewire_exporter(protocol, &collector, BatchConfig::default());
        burst(&format!("{p} tracewire (defaults)"), &tw, &collector);
        let ot = otel_exporter(protocol, &collector, &rt, 2048, Duration::from_millis(5000));
        burst(
            &format!("{p} opentelemetry_otlp (defaults)"),
            &ot,
            &collector,
        );
    }
}

/// tracewire with each compression, gRPC and HTTP: delivered spans/s
/// (criterion), then the exporter's CPU and the bytes on the wire per
/// delivered span (the collector inflates on its own threads, left out).
fn bench_compression(c: &mut Criterion) {
    let collector = start_collector();
    for protocol in [Protocol::Grpc, Protocol::Http] {
        let p = format!("{protocol:?}").to_lowercase();
        let mut g = c.benchmark_group(format!("compression_{p}"));
        g.throughput(Throughput::Elements(1));
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(8));
        g.warm_up_time(Duration::from_secs(2));
        for (name, compression) in [
            ("none", Compression::None),
            ("gzip", Compression::Gzip),
            ("zstd", Compression::Zstd),
        ] {
            let tw = tracewire_compressed(protocol, &collector, throughput_batch(), compression);
            g.bench_function(name, |b| {
                b.iter_custom(|iters| deliver(&tw, &collector, iters))
            });
            let bytes0 = collector.wire_bytes.load(Ordering::Relaxed);
            cpu_per_span(&format!("{p} tracewire {name}"), &tw, &collector, 500_000);
            let bytes = collector.wire_bytes.load(Ordering::Relaxed) - bytes0;
            eprintln!(
                "wire {p} tracewire {name}: {:.1} bytes per delivered span",
                bytes as f64 / 500_000.0
            );
        }
        g.finish();
    }
}

criterion_group!(benches, bench_fleet, bench_export, bench_compression);
criterion_main!(benches);
