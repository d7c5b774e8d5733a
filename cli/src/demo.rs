//! `tracewire demo`: the main job on an embedded default. An embedded
//! receiver on loopback, proxy-shaped traffic through the library over
//! gRPC and over HTTP, what happened, and a few traces drawn.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tracewire::config::Config;
use tracewire::model::{InstrumentationScope, SpanKind, Status};
use tracewire::receive::{Receiver, ReceiverConfig};
use tracewire::transport::Endpoint;
use tracewire::transport::{ExporterConfig, Protocol};
use tracewire::{BatchConfig, Pipeline, Tracer};

use clap::Args;

use super::runtime::runtime;
use super::{traffic, waterfall};

/// `tracewire demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Spans to send over each protocol.
    #[arg(long, default_value_t = 200_000)]
    pub spans: u64,
    /// Traces to draw as a waterfall.
    #[arg(long, default_value_t = 3)]
    pub show: usize,
}

const SHOWCASE: &str = "tracewire-demo-showcase";

struct Run {
    protocol: &'static str,
    spans: u64,
    recording_ns_per_span: f64,
    recorded_per_sec: f64,
    delivered_per_sec: f64,
    stats: tracewire::Stats,
}

pub fn run(args: DemoArgs) -> i32 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let showcase: Arc<Mutex<Vec<waterfall::Bar>>> = Arc::default();
    let keep = showcase.clone();
    let receiver = rt.block_on(Receiver::start(
        {
            let mut c = ReceiverConfig::default();
            c.http = "127.0.0.1:0".parse().ok();
            c.grpc = "127.0.0.1:0".parse().ok();
            c
        },
        move |received| {
            for rs in &received.request.resource_spans {
                for ss in &rs.scope_spans {
                    if ss.scope.as_ref().is_some_and(|s| s.name == SHOWCASE) {
                        let req =
                            tracewire::proto::collector::trace::v1::ExportTraceServiceRequest {
                                resource_spans: vec![tracewire::proto::trace::v1::ResourceSpans {
                                    scope_spans: vec![ss.clone()],
                                    ..Default::default()
                                }],
                            };
                        if let Ok(mut v) = keep.lock() {
                            v.extend(waterfall::bars(&req));
                        }
                    }
                }
            }
        },
    ));
    let receiver = match receiver {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the embedded receiver: {e}");
            return 1;
        }
    };
    let (Some(http), Some(grpc)) = (receiver.http_addr(), receiver.grpc_addr()) else {
        eprintln!("error: the embedded receiver did not bind");
        return 1;
    };
    println!("tracewire demo: embedded OTLP receiver on http://{http}/v1/traces and grpc://{grpc}");
    println!(
        "sending {} proxy-shaped spans over each protocol (half SERVER, half CLIENT children, 8-10 attributes each)\n",
        args.spans
    );

    let mut runs = Vec::new();
    for (name, protocol, endpoint) in [
        (
            "OTLP/gRPC",
            Protocol::Grpc,
            Endpoint::parse_grpc(&grpc.to_string(), true),
        ),
        (
            "OTLP/HTTP",
            Protocol::Http,
            Endpoint::parse_http(&format!("http://{http}/v1/traces")),
        ),
    ] {
        let endpoint = match endpoint {
            Ok(e) => e,
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        };
        let config = {
            let mut cfg = Config::default();
            cfg.service_name = "tracewire-demo".into();
            cfg.exporter = ExporterConfig::new(protocol, endpoint);
            cfg.batch = {
                let mut c = BatchConfig::default();
                c.max_queue_size = 16_384;
                c
            };
            cfg
        };
        let before = receiver.stats().spans.load(Ordering::Relaxed);
        match drive(name, &config, args.spans, protocol == Protocol::Http) {
            Ok(r) => {
                let got = receiver.stats().spans.load(Ordering::Relaxed) - before;
                if got != r.stats.exported {
                    eprintln!(
                        "warning: the receiver saw {got} span(s), the exporter reported {}",
                        r.stats.exported
                    );
                }
                runs.push(r);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 1;
            }
        }
    }

    println!(
        "{:<10} {:>9} {:>14} {:>12} {:>12} {:>9} {:>7} {:>7} {:>7} {:>14} {:>9}",
        "protocol",
        "spans",
        "record ns/span",
        "recorded/s",
        "delivered/s",
        "exported",
        "dropped",
        "shed",
        "failed",
        "bytes on wire",
        "requests"
    );
    for r in &runs {
        println!(
            "{:<10} {:>9} {:>14.0} {:>12.0} {:>12.0} {:>9} {:>7} {:>7} {:>7} {:>14} {:>9}",
            r.protocol,
            r.spans,
            r.recording_ns_per_span,
            r.recorded_per_sec,
            r.delivered_per_sec,
            r.stats.exported,
            r.stats.dropped,
            r.stats.shed,
            r.stats.failed,
            r.stats.bytes_sent,
            r.stats.exports
        );
    }
    println!(
        "\nreceiver: {} request(s), {} span(s), {} byte(s), {} refused\n",
        receiver.stats().requests.load(Ordering::Relaxed),
        receiver.stats().spans.load(Ordering::Relaxed),
        receiver.stats().bytes.load(Ordering::Relaxed),
        receiver.stats().refused.load(Ordering::Relaxed)
    );

    let bars = showcase.lock().map(|v| v.clone()).unwrap_or_default();
    let mut shown = Vec::new();
    for b in &bars {
        if !shown.contains(&b.trace_id) && shown.len() < args.show {
            shown.push(b.trace_id.clone());
        }
    }
    let bars: Vec<_> = bars
        .into_iter()
        .filter(|b| shown.contains(&b.trace_id))
        .collect();
    print!("{}", waterfall::draw(&bars));
    receiver.shutdown();
    let all_exported = runs.iter().all(|r| {
        r.stats.exported
            == r.spans
                + if r.protocol == "OTLP/HTTP" {
                    SHOWCASE_SPANS
                } else {
                    0
                }
    });
    if all_exported {
        0
    } else {
        1
    }
}

/// Spans in the showcase traces.
const SHOWCASE_SPANS: u64 = 9;

fn drive(name: &'static str, config: &Config, spans: u64, showcase: bool) -> Result<Run, String> {
    let pipeline = Pipeline::from_config(config).map_err(|e| e.to_string())?;
    let tracer = pipeline.tracer(InstrumentationScope {
        name: "tracewire-demo".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    });
    let requests = spans.div_ceil(2);
    let cap = config.batch.max_queue_size as u64;
    let started = Instant::now();
    let mut busy = Duration::ZERO;
    let mut i = 0;
    // Chunks of 128 requests (256 spans), each recorded once the queue is
    // at most three quarters full and the spans on their way to the worker
    // stay below half the queue, where the pipeline would start shedding
    // whole traces (the demo never records faster than it delivers).
    let shed_limit = (cap / 2).saturating_sub(256);
    while i < requests {
        while pipeline.stats().queued > cap * 3 / 4
            || (config.batch.shedding && pipeline.shedding().pending.max(0) as u64 > shed_limit)
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        let chunk_start = Instant::now();
        let end = (i + 128).min(requests);
        while i < end {
            traffic::request(&tracer, i, 2 * i + 1 < spans, "");
            i += 1;
        }
        busy += chunk_start.elapsed();
    }
    let recorded_in = started.elapsed();
    if showcase {
        record_showcase(&pipeline.tracer(SHOWCASE));
    }
    let stats = match pipeline.shutdown(Duration::from_secs(30)) {
        Ok(s) => s,
        Err(tracewire::ShutdownError::DeadlineExceeded { stats, .. }) => stats,
        Err(e) => return Err(e.to_string()),
    };
    let total = started.elapsed();
    Ok(Run {
        protocol: name,
        spans,
        recording_ns_per_span: busy.as_nanos() as f64 / spans.max(1) as f64,
        recorded_per_sec: spans as f64 / recorded_in.as_secs_f64(),
        delivered_per_sec: stats.exported as f64 / total.as_secs_f64(),
        stats,
    })
}

/// Three traces with realistic timings, recorded with explicit times.
fn record_showcase(tracer: &Tracer) {
    let t0 = SystemTime::now();
    let at = |ms: f64| t0 + Duration::from_secs_f64(ms / 1000.0);

    let server = tracer
        .span_builder("GET /api/v1/users/{id}")
        .kind(SpanKind::Server)
        .start_time(at(0.0))
        .start();
    let mut client = tracer
        .span_builder("GET")
        .kind(SpanKind::Client)
        .parent(server.context())
        .start_time(at(1.1))
        .start();
    client.set_str("server.address", "users.internal");
    client.set_i64("http.response.status_code", 200);
    client.end_at(at(10.9));
    let mut server = server;
    server.set_i64("http.response.status_code", 200);
    server.end_at(at(12.4));

    let mut server = tracer
        .span_builder("POST /api/v1/orders")
        .kind(SpanKind::Server)
        .start_time(at(0.0))
        .start();
    for (name, from, to, host) in [
        ("auth", 0.4, 3.0, "auth.internal"),
        ("POST", 3.5, 21.0, "orders.internal"),
        ("POST", 21.5, 46.0, "payments.internal"),
    ] {
        let mut c = tracer
            .span_builder(name)
            .kind(if name == "auth" {
                SpanKind::Internal
            } else {
                SpanKind::Client
            })
            .parent(server.context())
            .start_time(at(from))
            .start();
        c.set_str("server.address", host);
        c.end_at(at(to));
    }
    server.set_i64("http.response.status_code", 201);
    server.end_at(at(48.0));

    let mut server = tracer
        .span_builder("GET /api/v1/orders")
        .kind(SpanKind::Server)
        .start_time(at(0.0))
        .start();
    for attempt in 0..2 {
        let from = 0.5 + attempt as f64 * 15.0;
        let mut c = tracer
            .span_builder("GET")
            .kind(SpanKind::Client)
            .parent(server.context())
            .start_time(at(from))
            .start();
        c.set_i64("http.response.status_code", 503);
        c.set_status(Status::error("upstream returned 503"));
        c.end_at(at(from + 14.0));
        if attempt == 0 {
            server.add_event_at("retry", at(from + 14.2), &[("attempt", 2i64.into())]);
        }
    }
    server.set_i64("http.response.status_code", 503);
    server.set_status(Status::error("all upstreams failed"));
    server.end_at(at(30.1));
}
