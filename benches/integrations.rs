//! The integrations against their official counterparts, side by side in
//! one run:
//!
//! - `tracing_layer`: one proxy-shaped `tracing` span (SERVER kind, 8 HTTP
//!   fields, one event) recorded through `tracing_subscriber::registry()`
//!   with tracewire's `TracingLayer`, with `tracing-opentelemetry` + the
//!   OpenTelemetry SDK's batch span processor, and with the registry alone
//!   (the floor: what `tracing` itself costs). Both exporters discard, so
//!   this is the recording path only.
//! - `sdk_exporter`: one batch of 512 proxy-shaped SDK `SpanData` exported
//!   (encode + send over OTLP/HTTP to a loopback collector that counts
//!   spans without decoding them) by `opentelemetry-otlp` and by
//!   `tracewire::opentelemetry::SpanExporter`, each awaited to the
//!   collector's answer. After the group, the CPU time per span (the
//!   process's threads minus the collector's, from /proc) over a fixed run
//!   goes to stderr.
//!
//! Run: `cargo bench --features tracing,opentelemetry --bench integrations`

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http_body_util::{BodyExt, Full};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter as _};
use tracewire::Pipeline;
use tracing_subscriber::layer::SubscriberExt as _;

#[path = "support/proxy_span.rs"]
mod proxy_span;
use proxy_span::{values, Discard};

// ---------------------------------------------------------------------------
// tracing layer
// ---------------------------------------------------------------------------

/// The proxy-shaped span, through `tracing`.
#[inline]
fn tracing_span(i: u64) {
    let v = values();
    let span = tracing::info_span!(
        "request",
        otel.name = v.name,
        otel.kind = "server",
        http.request.method = v.method,
        url.path = v.path,
        url.scheme = v.scheme,
        server.address = v.host,
        server.port = 443i64,
        client.address = v.client,
        user_agent.original = v.agent,
        http.response.status_code = 200 + (i & 1) as i64,
    );
    let _entered = span.enter();
    tracing::info!(upstream = "10.0.0.9:8080", "forwarded");
}

/// An SDK exporter that keeps nothing.
#[derive(Debug)]
struct SdkDiscard;

impl opentelemetry_sdk::trace::SpanExporter for SdkDiscard {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}

fn bench_tracing_layer(c: &mut Criterion) {
    let mut g = c.benchmark_group("tracing_layer");
    g.throughput(Throughput::Elements(1));

    let pipeline = Pipeline::builder().exporter(Discard).start().unwrap();
    let tracewire_dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(
        tracewire::tracing::TracingLayer::new(pipeline.tracer("bench")),
    ));
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(SdkDiscard)
        .build();
    let otel_dispatch = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
    );
    let registry_dispatch = tracing::Dispatch::new(tracing_subscriber::registry());

    for (name, dispatch) in [
        ("tracewire TracingLayer", &tracewire_dispatch),
        ("tracing-opentelemetry + SDK batch", &otel_dispatch),
        ("registry alone (floor)", &registry_dispatch),
    ] {
        tracing::dispatcher::with_default(dispatch, || {
            let mut i = 0u64;
            g.bench_function(name, |b| {
                b.iter(|| {
                    i += 1;
                    tracing_span(i)
                })
            });
        });
    }
    g.finish();
    let stats = pipeline.shutdown(Duration::from_secs(10)).unwrap();
    eprintln!(
        "tracing_layer: tracewire recorded {} spans, dropped {} (queue full)",
        stats.recorded, stats.dropped
    );
    let _ = provider.shutdown();
}

// ---------------------------------------------------------------------------
// SDK exporter
// ---------------------------------------------------------------------------

struct Collector {
    addr: SocketAddr,
    spans: Arc<AtomicU64>,
    _rt: tokio::runtime::Runtime,
}

/// Counts the spans of an `ExportTraceServiceRequest` by walking the
/// framing (request -> ResourceSpans -> ScopeSpans -> Span).
fn count_spans(msg: &[u8]) -> u64 {
    use tracewire::internal::codec::wire::get_varint;
    fn fields(mut buf: &[u8], mut f: impl FnMut(u64, &[u8])) {
        while let Some((key, n)) = get_varint(buf) {
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
                    let Some(body) = buf.get(n..n + len as usize) else {
                        return;
                    };
                    f(key >> 3, body);
                    buf = &buf[n + len as usize..];
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

fn start_collector() -> Collector {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-collector")
        .enable_all()
        .build()
        .unwrap();
    let spans = Arc::new(AtomicU64::new(0));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let s = spans.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let s = s.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let s = s.clone();
                        async move {
                            let body = req.into_body().collect().await?.to_bytes();
                            s.fetch_add(count_spans(&body), Ordering::Relaxed);
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
    Collector {
        addr,
        spans,
        _rt: rt,
    }
}

/// 512 proxy-shaped spans as the SDK hands them to an exporter.
fn sdk_batch() -> Vec<SpanData> {
    let v = values();
    let scope = InstrumentationScope::builder("bench").build();
    let t0 = SystemTime::now();
    (0..512u64)
        .map(|i| SpanData {
            span_context: SpanContext::new(
                TraceId::from(0x4bf92f3577b34da6a3ce929d0e0e4736 + u128::from(i)),
                SpanId::from(0x1000 + i),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(0x00f067aa0ba902b7),
            parent_span_is_remote: true,
            span_kind: SpanKind::Server,
            name: Cow::Borrowed(v.name),
            start_time: t0,
            end_time: t0 + Duration::from_micros(350),
            attributes: vec![
                KeyValue::new("http.request.method", v.method),
                KeyValue::new("url.path", v.path),
                KeyValue::new("url.scheme", v.scheme),
                KeyValue::new("server.address", v.host),
                KeyValue::new("server.port", 443i64),
                KeyValue::new("client.address", v.client),
                KeyValue::new("user_agent.original", v.agent),
                KeyValue::new("http.response.status_code", 200 + (i & 1) as i64),
            ],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Ok,
            instrumentation_scope: scope.clone(),
        })
        .collect()
}

/// CPU time (user + system) of this process's threads but the collector's,
/// from /proc (Linux; clock ticks at 100 Hz).
fn exporter_cpu() -> Duration {
    let mut ticks = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim().starts_with("bench-collecto") {
                continue;
            }
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
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

fn bench_sdk_exporter(c: &mut Criterion) {
    let collector = start_collector();
    let url = format!("http://{}/v1/traces", collector.addr);
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("bench")
        .build();
    let mut otlp = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url.clone())
        .build()
        .unwrap();
    otlp.set_resource(&resource);
    let config = tracewire::config::load(
        None,
        &[format!("--tracing.otlp.http.endpoint={url}")],
        |_| None,
    )
    .unwrap();
    let mut ours = tracewire::opentelemetry::SpanExporter::from_config(&config).unwrap();
    ours.set_resource(&resource);
    let batch = sdk_batch();

    let mut g = c.benchmark_group("sdk_exporter");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("opentelemetry-otlp (HTTP)", |b| {
        b.iter(|| futures_executor::block_on(otlp.export(batch.clone())).unwrap())
    });
    g.bench_function("tracewire SpanExporter (HTTP)", |b| {
        b.iter(|| futures_executor::block_on(ours.export(batch.clone())).unwrap())
    });
    g.finish();

    for (k, name) in ["opentelemetry-otlp (HTTP)", "tracewire SpanExporter (HTTP)"]
        .into_iter()
        .enumerate()
    {
        let batches = 400u64;
        let before = collector.spans.load(Ordering::Relaxed);
        let cpu0 = exporter_cpu();
        for _ in 0..batches {
            let b = batch.clone();
            let r = if k == 0 {
                futures_executor::block_on(otlp.export(b))
            } else {
                futures_executor::block_on(ours.export(b))
            };
            r.unwrap();
        }
        let cpu = exporter_cpu() - cpu0;
        let n = batches * batch.len() as u64;
        assert_eq!(collector.spans.load(Ordering::Relaxed) - before, n);
        eprintln!(
            "cpu {name}: {n} spans exported, CPU {:.3} s = {:.0} ns per span (encode + send + the batch's clone)",
            cpu.as_secs_f64(),
            cpu.as_nanos() as f64 / n as f64
        );
    }
}

criterion_group!(benches, bench_tracing_layer, bench_sdk_exporter);
criterion_main!(benches);
