//! Trace-consistent shedding against a real, slow collector (the hyper
//! OTLP/HTTP collector of `common`, answering each request after a delay):
//! under overload every delivered trace is whole, the accounting invariant
//! (with `shed`) holds at every read, the threshold rises and falls, a
//! trace that started before the rise stays whole, kept spans carry the
//! raised `th`, and with shedding off the pipeline drops spans one by one
//! as before.

use crate::common;

use common::collectors::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracewire::model::{SpanKind, TraceState};
use tracewire::sampling::{randomness, threshold_of, Sampler, Threshold};
use tracewire::transport::{build, Endpoint, ExporterConfig, Protocol};
use tracewire::{BatchConfig, Pipeline, Span, Stats, Tracer};

/// One scenario at a time: the machine is small and the figures are rates.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn pipeline(url: &str, batch: BatchConfig, sampler: Sampler) -> Pipeline {
    let cfg = ExporterConfig::new(Protocol::Http, Endpoint::parse_http(url).unwrap());
    Pipeline::builder()
        .exporter_arc(build(&cfg).unwrap())
        .batch(batch)
        .sampler(sampler)
        .start()
        .unwrap()
}

/// A small queue, one export at a time: a collector answering each request
/// after a few milliseconds cannot keep up with a recording loop.
fn small_queue(shedding: bool) -> BatchConfig {
    {
        let mut c = BatchConfig::default();
        c.max_queue_size = 512;
        c.max_export_batch_size = 128;
        c.scheduled_delay = Duration::from_millis(20);
        c.max_concurrent_exports = 1;
        c.shedding = shedding;
        c
    }
}

fn check(st: &Stats) {
    assert!(st.is_consistent(), "a span counted twice: {st:?}");
    assert_eq!(
        st.recorded,
        st.exported + st.dropped + st.shed + st.failed + st.rejected + st.queued,
        "{st:?}"
    );
}

/// Reads the stats on another thread for as long as it runs, checking the
/// invariant at every read; returns the reads.
fn monitor(p: &Arc<Pipeline>, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let (p, stop) = (p.clone(), stop.clone());
    std::thread::spawn(move || {
        let mut reads = 0;
        while !stop.load(Ordering::Relaxed) {
            check(&p.stats());
            reads += 1;
            std::thread::sleep(Duration::from_micros(100));
        }
        reads
    })
}

/// A request in flight: its SERVER span and CLIENT child.
struct Request {
    server: Span,
    client: Option<Span>,
}

/// Records `requests` SERVER/CLIENT pairs with `in_flight` requests open at
/// once, their spans ending interleaved (a CLIENT span ends, the SERVER span
/// a round later), as `tracewire load --concurrency` does.
fn proxy_traffic(tracer: &Tracer, requests: usize, in_flight: usize) {
    let mut slots: Vec<Option<Request>> = (0..in_flight).map(|_| None).collect();
    let (mut started, mut open, mut i) = (0, 0, 0);
    while started < requests || open > 0 {
        let slot = &mut slots[i % in_flight];
        i += 1;
        if let Some(r) = slot.as_mut().filter(|r| r.client.is_some()) {
            if let Some(c) = r.client.take() {
                c.end();
            }
            continue;
        }
        if let Some(r) = slot.take() {
            r.server.end();
            open -= 1;
        }
        if started < requests {
            let mut server = tracer.start("GET /api", SpanKind::Server);
            server.set_str("http.request.method", "GET");
            server.set_str("url.path", "/api/v1/users/1234");
            let mut client =
                tracer.start_with_parent("GET", SpanKind::Client, Some(server.context()));
            client.set_str("server.address", "10.0.12.5");
            client.set_i64("http.response.status_code", 200);
            *slot = Some(Request {
                server,
                client: Some(client),
            });
            started += 1;
            open += 1;
        }
    }
}

/// Delivered traces: `(trace id -> (SERVER spans, CLIENT spans))`.
fn delivered(state: &HttpState) -> HashMap<Vec<u8>, (usize, usize)> {
    let mut traces: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
    for r in state.received.lock().unwrap().iter() {
        for rs in &r.request.resource_spans {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    let e = traces.entry(s.trace_id.clone()).or_default();
                    if s.kind == SpanKind::Server as i32 {
                        e.0 += 1;
                    } else {
                        e.1 += 1;
                    }
                }
            }
        }
    }
    traces
}

/// `(complete traces, delivered traces)`.
fn completeness(state: &HttpState) -> (usize, usize) {
    let traces = delivered(state);
    let complete = traces.values().filter(|&&(s, c)| s == 1 && c == 1).count();
    (complete, traces.len())
}

/// Overloads a collector that answers each request after `delay` with
/// `requests` pairs, `in_flight` at once; returns the final stats, the
/// collector's `(complete, delivered)` traces and the shedding state seen
/// at the end of recording.
async fn overload(
    shedding: bool,
    requests: usize,
    in_flight: usize,
) -> (Stats, (usize, usize), tracewire::ShedState) {
    let slow = vec![HttpReply::Slow(Duration::from_millis(5)); 100_000];
    let collector = HttpCollector::start(slow, None).await;
    let p = Arc::new(pipeline(
        &collector.url(false),
        small_queue(shedding),
        Sampler::default(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = monitor(&p, &stop);
    let tracer = p.tracer("shedding");
    tokio::task::block_in_place(|| proxy_traffic(&tracer, requests, in_flight));
    let at_end = p.shedding();
    drop(tracer);
    let p2 = p.clone();
    tokio::task::spawn_blocking(move || p2.force_flush(Duration::from_secs(30)))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("flush: {e}"));
    stop.store(true, Ordering::Relaxed);
    assert!(reads.join().expect("the invariant held at every read") > 10);
    let st = p.stats();
    check(&st);
    let c = completeness(&collector.state);
    eprintln!(
        "shedding {shedding}: {} of {} delivered traces complete; {st:?}; {at_end:?}",
        c.0, c.1
    );
    (st, c, at_end)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_overload_every_delivered_trace_is_whole() {
    let _serial = SERIAL.lock().await;
    let (st, (complete, traces), shed) = overload(true, 20_000, 300).await;
    assert_eq!(st.recorded, 40_000, "{st:?}");
    assert!(st.shed > 0, "the collector could not keep up: {st:?}");
    assert!(shed.rises > 0, "{shed:?}");
    assert_eq!(st.exported + st.shed + st.dropped, 40_000, "{st:?}");
    assert!(traces > 100, "some traces delivered: {traces}");
    // Whole traces or none: spans dropped for want of room (if any) are the
    // only way a trace can break.
    assert!(
        traces - complete <= st.dropped as usize,
        "{complete} of {traces} delivered traces complete, {} spans dropped",
        st.dropped
    );
    assert!(
        complete * 100 >= traces * 99,
        "{complete} of {traces} delivered traces complete"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shedding_off_drops_spans_one_by_one_as_before() {
    let _serial = SERIAL.lock().await;
    let (st, (complete, traces), shed) = overload(false, 20_000, 300).await;
    assert_eq!(st.shed, 0, "{st:?}");
    assert_eq!(shed, tracewire::ShedState::default());
    assert!(st.dropped > 0, "{st:?}");
    assert_eq!(st.exported + st.dropped, 40_000, "{st:?}");
    // Random drops break traces.
    assert!(
        complete < traces,
        "{complete} of {traces} delivered traces complete"
    );
}

/// Pipelines whose collector is fast: pressure comes only from open spans.
async fn fast(capacity: usize, sampler: Sampler) -> (HttpCollector, Pipeline) {
    let collector = HttpCollector::start(vec![], None).await;
    let batch = {
        let mut c = BatchConfig::default();
        c.max_queue_size = capacity;
        c.max_export_batch_size = capacity.min(512);
        c.scheduled_delay = Duration::from_millis(20);
        c
    };
    let p = pipeline(&collector.url(false), batch, sampler);
    (collector, p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_begun_before_the_rise_stays_whole_and_the_threshold_falls() {
    let _serial = SERIAL.lock().await;
    // 64 spans: shedding from 32 pending, everything from 56.
    let (collector, p) = fast(64, Sampler::default()).await;
    let tracer = p.tracer("shedding");
    let mut started = 0u64;
    tokio::task::block_in_place(|| {
        let server = tracer.start("GET /early", SpanKind::Server);
        assert!(server.is_recording());
        started += 1;
        // Open spans press: roots started and not ended, until everything
        // is shed (shed ones count too, recorded and shed at once).
        let mut open = Vec::new();
        while p.shedding().level < 16 && open.len() < 100_000 {
            open.push(tracer.start("open", SpanKind::Internal));
        }
        started += open.len() as u64;
        let s = p.shedding();
        assert_eq!(s.level, 16, "everything is shed now: {s:?}");
        assert!(s.rises >= 2, "{s:?}");
        let shed_before = p.stats().shed;
        // A new trace is shed, and so are its children...
        let shed_root = tracer.start("GET /late", SpanKind::Server);
        assert!(!shed_root.is_recording());
        let shed_child =
            tracer.start_with_parent("GET", SpanKind::Client, Some(shed_root.context()));
        assert!(!shed_child.is_recording());
        started += 2;
        // ...but the early trace keeps its CLIENT span.
        let client = tracer.start_with_parent("GET", SpanKind::Client, Some(server.context()));
        assert!(client.is_recording());
        started += 1;
        client.end();
        server.end();
        drop((shed_child, shed_root));
        let st = p.stats();
        check(&st);
        assert_eq!(st.shed - shed_before, 2, "{st:?}");
        drop(open);
    });
    p.force_flush(Duration::from_secs(10)).unwrap();
    // Taken by the worker: no pressure left (but this thread's last few
    // spans, not yet reported), the threshold is down.
    let s = p.shedding();
    assert_eq!(s.level, 0, "{s:?}");
    assert!(s.falls > 0 && s.pending.abs() < 16, "{s:?}");
    let names = collector.state.accepted_names();
    assert!(names.contains(&"GET /early".to_owned()) && names.contains(&"GET".to_owned()));
    assert!(!names.contains(&"GET /late".to_owned()));
    // Pressure gone: new traces are kept (fewer than half the queue).
    tokio::task::block_in_place(|| {
        for _ in 0..20 {
            assert!(tracer.start("after", SpanKind::Server).is_recording());
        }
    });
    started += 20;
    let st = p.stats();
    check(&st);
    assert_eq!(st.recorded, started, "{st:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_spans_carry_the_raised_threshold() {
    let _serial = SERIAL.lock().await;
    // Probability 1/2 (th:8); 1024 spans: shedding from 512 pending.
    let (_collector, p) = fast(1024, Sampler::parent_based(Sampler::probability(0.5))).await;
    let tracer = p.tracer("shedding");
    tokio::task::block_in_place(|| {
        let mut open = Vec::new();
        // Kept roots, left open, until 10/16 of new traces are shed (the
        // sampler keeps half of them).
        while p.shedding().level < 10 {
            let s = tracer.start("open", SpanKind::Internal);
            if s.is_recording() {
                // The sampler's th:8, or the shedding level once higher.
                let th = threshold_of(s.context().trace_state()).expect("th");
                assert!(th >= Threshold::parse_th("8").unwrap());
            }
            open.push(s);
        }

        let (mut raised, mut shed) = (0, 0);
        for _ in 0..10_000 {
            let s = tracer.start("GET /later", SpanKind::Server);
            if s.is_recording() {
                // Kept: th is a shedding level's, above the sampler's th:8
                // (the open spans keep the pressure up), and the trace's
                // randomness passes it.
                let ctx = s.context();
                let th = threshold_of(ctx.trace_state()).expect("th");
                assert!(th > Threshold::parse_th("8").unwrap(), "{ctx:?}");
                assert_eq!(th.value() % (1 << 52), 0, "a level: {ctx:?}");
                assert!(th.samples(randomness(&ctx.trace_id(), &TraceState::EMPTY)));
                // Its child inherits the decision and the threshold.
                let c = tracer.start_with_parent("GET", SpanKind::Client, Some(ctx));
                assert!(c.is_recording());
                assert_eq!(c.context().trace_state(), ctx.trace_state());
                raised += 1;
            } else {
                shed += 1;
            }
            if raised > 20 && shed > 20 {
                break;
            }
        }
        assert!(raised > 20 && shed > 20, "{raised} kept, {shed} not");
        drop(open);
    });
    let st = p.stats();
    check(&st);
    assert!(st.shed > 0 && st.sampled_out > 0, "{st:?}");
}

#[test]
fn sampler_and_shedding_are_configured_three_ways() {
    use tracewire::config::{load, load_str, Format};
    let no_env = |_: &str| None::<String>;
    // Defaults: Traefik's sampler, shedding on.
    let c = load(None, &["--tracing=true"], no_env).unwrap();
    assert_eq!(c.sampler, Sampler::traefik(1.0));
    assert!(c.batch.shedding);
    // Flags.
    let c = load(
        None,
        &[
            "--tracing.sampleRate=0.25",
            "--tracing.sampler=probability",
            "--tracing.batch.shedding=false",
        ],
        no_env,
    )
    .unwrap();
    assert_eq!(c.sampler, Sampler::parent_based(Sampler::probability(0.25)));
    assert!(!c.batch.shedding);
    assert!(
        c.to_redacted_yaml().contains("shedding: false"),
        "{}",
        c.to_redacted_yaml()
    );
    assert!(
        c.to_redacted_yaml().contains("probability(0.25, th:c)"),
        "{}",
        c.to_redacted_yaml()
    );
    // YAML and TOML.
    let no_flags: &[&str] = &[];
    let y = load_str(
        "tracing:\n  sampleRate: 0.5\n  sampler: probability\n  batch:\n    shedding: false\n",
        Format::Yaml,
        no_flags,
        no_env,
    )
    .unwrap();
    let t = load_str(
        "[tracing]\nsampleRate = 0.5\nsampler = \"probability\"\n[tracing.batch]\nshedding = false\n",
        Format::Toml,
        no_flags,
        no_env,
    )
    .unwrap();
    assert_eq!(y.sampler, Sampler::parent_based(Sampler::probability(0.5)));
    assert_eq!((t.sampler, t.batch.shedding), (y.sampler, false));
    // The environment's trace-id ratio, converted.
    let env = |k: &str| match k {
        "OTEL_TRACES_SAMPLER" => Some("traceidratio".to_owned()),
        "OTEL_TRACES_SAMPLER_ARG" => Some("0.125".to_owned()),
        _ => None,
    };
    let c = load(None, &["--tracing.sampler=probability"], env).unwrap();
    assert_eq!(c.sampler, Sampler::probability(0.125));
    // A bad value names the option, the value and the fix.
    let e = load(None, &["--tracing.sampler=consistent"], no_env)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("tracing.sampler")
            && e.contains("consistent")
            && e.contains("use traceidratio")
            && e.contains("probability"),
        "{e}"
    );
    let e = load(None, &["--tracing.batch.shedding=maybe"], no_env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("tracing.batch.shedding"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probability_samplers_th_is_propagated_and_exported() {
    let _serial = SERIAL.lock().await;
    use tracewire::propagation::{extract, inject_into_headers};
    let (collector, p) = fast(2048, Sampler::probability(0.25)).await;
    let tracer = p.tracer("th");
    // A root: kept with th:c (25%), which goes into the outgoing headers.
    let root = loop {
        let s = tracer.start("GET /root", SpanKind::Server);
        if s.is_recording() {
            break s;
        }
    };
    assert_eq!(root.context().trace_state().as_str(), "ot=th:c");
    let mut headers = http::HeaderMap::new();
    inject_into_headers(root.context(), &mut headers);
    assert_eq!(headers["tracestate"], "ot=th:c");
    root.end();
    // A remote parent with an explicit rv that passes th:c and another
    // vendor's entry: th is added in front, rv and the vendor kept.
    let parent = extract(
        Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        [&b"rojo=00f067aa0ba902b7,ot=rv:d0000000000000"[..]],
    )
    .unwrap();
    let child = tracer.start_with_parent("GET", SpanKind::Client, Some(&parent));
    assert!(child.is_recording());
    assert_eq!(
        child.context().trace_state().as_str(),
        "ot=th:c;rv:d0000000000000,rojo=00f067aa0ba902b7"
    );
    child.end();
    // rv below th:c: not sampled, whatever the trace id.
    let low = extract(
        Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        [&b"ot=rv:1fffffffffffff"[..]],
    )
    .unwrap();
    assert!(!tracer
        .start_with_parent("GET", SpanKind::Client, Some(&low))
        .is_recording());
    p.force_flush(Duration::from_secs(10)).unwrap();
    let states: Vec<String> = collector
        .state
        .received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|r| r.request.resource_spans.clone())
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .map(|s| s.trace_state)
        .collect();
    assert_eq!(
        states,
        ["ot=th:c", "ot=th:c;rv:d0000000000000,rojo=00f067aa0ba902b7"]
    );
}
