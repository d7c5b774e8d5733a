//! Overload, side by side in one run: proxy-shaped SERVER/CLIENT pairs
//! recorded at about twice what a paced OTLP/HTTP sink drains, with
//! trace-consistent shedding on (the default) and off (spans dropped one by
//! one when the queue is full, as before).
//!
//! The sink is a real hyper OTLP/HTTP server on 127.0.0.1 that decodes
//! every request (prost) and drains at most `DRAIN` spans/s in all (each
//! request holds a shared pacing lock for `spans / DRAIN` seconds). The
//! recording thread keeps `IN_FLIGHT` requests open at once, their spans
//! ending interleaved (each CLIENT span, then a round later its SERVER
//! span), paced at `2 * DRAIN` spans/s for `SECONDS`, with the default
//! batch settings (queue 2048, batches of 512, 4 exports in flight).
//!
//! Reported per mode: spans recorded, delivered, shed and dropped; the
//! delivered span rate (delivered spans over the time from the first span
//! to the last delivery); delivered traces and the fraction of them that
//! are complete (both spans delivered).
//!
//! Run: `cargo bench --bench shedding`

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tracewire::model::SpanKind;
use tracewire::transport::{build, Endpoint, ExporterConfig, Protocol};
use tracewire::{BatchConfig, Pipeline, Span, Tracer};

/// Spans per second the sink drains.
const DRAIN: f64 = 50_000.0;
/// Requests open at once.
const IN_FLIGHT: usize = 1_000;
/// How long the recording runs.
const SECONDS: f64 = 4.0;

/// Per trace id: (SERVER spans, CLIENT spans) delivered.
type Traces = Arc<Mutex<HashMap<Vec<u8>, (u32, u32)>>>;

/// Starts the paced sink; returns its URL and what it received.
fn start_sink(rt: &tokio::runtime::Runtime) -> (String, Traces) {
    let traces: Traces = Arc::default();
    let pace = Arc::new(tokio::sync::Mutex::new(()));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let t = traces.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (t, pace) = (t.clone(), pace.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (t, pace) = (t.clone(), pace.clone());
                        async move {
                            let body = req.into_body().collect().await?.to_bytes();
                            let msg = ExportTraceServiceRequest::decode(body).unwrap_or_default();
                            let mut n = 0u32;
                            {
                                let mut t = t.lock().unwrap();
                                for s in msg
                                    .resource_spans
                                    .iter()
                                    .flat_map(|r| &r.scope_spans)
                                    .flat_map(|s| &s.spans)
                                {
                                    let e = t.entry(s.trace_id.clone()).or_default();
                                    if s.kind == SpanKind::Server as i32 {
                                        e.0 += 1;
                                    } else {
                                        e.1 += 1;
                                    }
                                    n += 1;
                                }
                            }
                            // Drain no faster than DRAIN spans/s, in all.
                            let _paced = pace.lock().await;
                            tokio::time::sleep(Duration::from_secs_f64(f64::from(n) / DRAIN)).await;
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
    (url, traces)
}

struct Request {
    server: Span,
    client: Option<Span>,
}

fn start_request(tracer: &Tracer, i: u64) -> Request {
    let mut server = tracer.start("GET /api/v1/users/{id}", SpanKind::Server);
    server.set_str("http.request.method", "GET");
    server.set_str("http.route", "/api/v1/users/{id}");
    server.set_str("url.path", "/api/v1/users/1234");
    server.set_str("server.address", "api.example.com");
    server.set_i64("server.port", 443);
    server.set_str("client.address", "203.0.113.7");
    server.set_str("user_agent.original", "curl/8.5.0");
    let mut client = tracer.start_with_parent("GET", SpanKind::Client, Some(server.context()));
    client.set_str("http.request.method", "GET");
    client.set_str("server.address", "10.0.12.5");
    client.set_i64("server.port", 8080);
    client.set_str("url.full", "/api/v1/users/1234");
    client.set_i64("http.response.status_code", 200 + (i & 1) as i64);
    Request {
        server,
        client: Some(client),
    }
}

/// Records pairs at `2 * DRAIN` spans/s for `SECONDS`, `IN_FLIGHT` open at
/// once; returns the spans ended.
fn record(tracer: &Tracer) -> u64 {
    let mut slots: Vec<Option<Request>> = (0..IN_FLIGHT).map(|_| None).collect();
    let started = Instant::now();
    let per_span = Duration::from_secs_f64(1.0 / (2.0 * DRAIN));
    let (mut ended, mut i, mut open) = (0u64, 0u64, 0usize);
    let mut slot = 0;
    loop {
        let starting = started.elapsed().as_secs_f64() < SECONDS;
        if !starting && open == 0 {
            return ended;
        }
        // Paced by spans ended.
        let due = per_span * ended as u32;
        let now = started.elapsed();
        if starting && due > now {
            std::thread::sleep(due - now);
        }
        let s = &mut slots[slot];
        slot = (slot + 1) % IN_FLIGHT;
        if let Some(r) = s.as_mut() {
            if let Some(c) = r.client.take() {
                c.end();
                ended += 1;
                continue;
            }
        }
        if let Some(r) = s.take() {
            r.server.end();
            ended += 1;
            open -= 1;
        }
        if starting {
            *s = Some(start_request(tracer, i));
            i += 1;
            open += 1;
        }
    }
}

fn run(rt: &tokio::runtime::Runtime, shedding: bool) {
    let (url, traces) = start_sink(rt);
    let cfg = ExporterConfig::new(Protocol::Http, Endpoint::parse_http(&url).unwrap());
    let p = Pipeline::builder()
        .exporter_arc(build(&cfg).unwrap())
        .batch({
            let mut c = BatchConfig::default();
            c.shedding = shedding;
            c
        })
        .start()
        .unwrap();
    let tracer = p.tracer("bench");
    let started = Instant::now();
    let ended = record(&tracer);
    drop(tracer);
    let stats = match p.shutdown(Duration::from_secs(60)) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let secs = started.elapsed().as_secs_f64();
    let t = traces.lock().unwrap();
    let delivered: u64 = t.values().map(|&(s, c)| u64::from(s + c)).sum();
    let complete = t.values().filter(|&&(s, c)| s == 1 && c == 1).count();
    println!(
        "shedding {:<3}  recorded {:>7}  delivered {:>7} ({:>6.0} spans/s)  shed {:>7}  dropped {:>7}  \
         traces delivered {:>6}  complete {:>6} ({:.2}%)",
        if shedding { "on" } else { "off" },
        ended,
        delivered,
        delivered as f64 / secs,
        stats.shed,
        stats.dropped,
        t.len(),
        complete,
        100.0 * complete as f64 / t.len().max(1) as f64
    );
    assert_eq!(stats.exported, delivered, "{stats:?}");
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that names neither mode
    // skips the run (as criterion would).
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    if filter.as_deref().is_some_and(|f| !"shedding".contains(f)) {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-sink")
        .enable_all()
        .build()
        .unwrap();
    println!(
        "SERVER/CLIENT pairs at {:.0} spans/s ({} requests in flight) for {SECONDS} s into a sink draining {:.0} spans/s",
        2.0 * DRAIN,
        IN_FLIGHT,
        DRAIN
    );
    for shedding in [true, false] {
        run(&rt, shedding);
    }
}
