//! The recording API end to end: what a proxy records is what the exporter
//! receives, field for field; sampling, propagation, limits and status rules;
//! batching triggers, flush and shutdown; and the accounting invariant.

use crate::common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::exporters::{Behaviour, Capture};
use tracewire::model::{AnyValue, KeyValue, SpanKind, SpanLimits, Status, ValueRef};
use tracewire::propagation::{extract, format_traceparent};
use tracewire::proto::common::v1::any_value::Value as PV;
use tracewire::proto::trace::v1::Span as PSpan;
use tracewire::sampling::Sampler;
use tracewire::{BatchConfig, FlushError, Pipeline, ShutdownError};

fn pipeline(
    capture: &Capture,
    batch: BatchConfig,
    sampler: Sampler,
    limits: SpanLimits,
) -> Pipeline {
    Pipeline::builder()
        .exporter(capture.clone())
        .batch(batch)
        .sampler(sampler)
        .span_limits(limits)
        .start()
        .expect("pipeline starts")
}

fn default_pipeline(capture: &Capture) -> Pipeline {
    pipeline(
        capture,
        BatchConfig::default(),
        Sampler::default(),
        SpanLimits::default(),
    )
}

fn attr<'a>(span: &'a PSpan, key: &str) -> Option<&'a PV> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

const FLUSH: Duration = Duration::from_secs(10);

#[test]
fn a_proxy_request_arrives_field_for_field() {
    let capture = Capture::new(Behaviour::Accept);
    let p = default_pipeline(&capture);
    let tracer = p.tracer("edge-proxy");

    let incoming = extract(
        Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        [&b"congo=t61rcWkgMzE"[..]],
    )
    .unwrap();
    let before = tracewire::internal::clock::now_unix_nanos();
    let mut server = tracer.start_with_parent("GET /users/{id}", SpanKind::Server, Some(&incoming));
    server.set_str("http.request.method", "GET");
    server.set_str("url.path", &String::from("/users/42"));
    server.set_i64("http.response.status_code", 200);
    server.set_f64("duration.ratio", 0.25);
    server.set_bool("cache.hit", false);
    server.set_bytes("raw", &[0, 1, 2]);
    let methods: &[&str] = &["GET", "HEAD"];
    server.set_attribute("allowed", methods);
    server.set_attribute("kv", &AnyValue::KvList(vec![KeyValue::new("inner", 1i64)]));
    server.add_event("upstream.retry", &[("attempt", 2i64.into())]);

    let mut client = tracer.start_with_parent("GET", SpanKind::Client, Some(server.context()));
    let mut tp = [0u8; 55];
    let injected = format_traceparent(client.context(), &mut tp).to_owned();
    client.set_str("server.address", "10.0.0.7");
    client.set_status(Status::error("connection reset"));
    client.end();
    server.update_name("GET /users/:id");
    server.set_status(Status::OK);
    server.set_status(Status::error("ignored: Ok is final"));
    drop(server); // ends on drop
    let after = tracewire::internal::clock::now_unix_nanos();

    p.force_flush(FLUSH).unwrap();
    let spans = capture.spans();
    assert_eq!(spans.len(), 2);
    let (client, server) = (&spans[0], &spans[1]);

    // Server: child of the remote parent, same trace, tracestate carried.
    assert_eq!(hex(&server.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(hex(&server.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(server.trace_state, "congo=t61rcWkgMzE");
    assert_eq!(
        server.flags, 0x301,
        "sampled, has-is-remote, parent is remote"
    );
    assert_eq!(server.name, "GET /users/:id");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert!(
        before <= server.start_time_unix_nano
            && server.start_time_unix_nano <= server.end_time_unix_nano
    );
    assert!(server.end_time_unix_nano <= after + 1_000_000);
    assert_eq!(
        attr(server, "http.request.method"),
        Some(&PV::StringValue("GET".into()))
    );
    assert_eq!(
        attr(server, "url.path"),
        Some(&PV::StringValue("/users/42".into()))
    );
    assert_eq!(
        attr(server, "http.response.status_code"),
        Some(&PV::IntValue(200))
    );
    assert_eq!(attr(server, "duration.ratio"), Some(&PV::DoubleValue(0.25)));
    assert_eq!(attr(server, "cache.hit"), Some(&PV::BoolValue(false)));
    assert_eq!(attr(server, "raw"), Some(&PV::BytesValue(vec![0, 1, 2])));
    assert!(matches!(attr(server, "allowed"), Some(PV::ArrayValue(a)) if a.values.len() == 2));
    assert!(matches!(attr(server, "kv"), Some(PV::KvlistValue(l)) if l.values[0].key == "inner"));
    assert_eq!(server.events.len(), 1);
    assert_eq!(server.events[0].name, "upstream.retry");
    assert_eq!(
        server.status.as_ref().map(|s| s.code),
        Some(1),
        "Ok is final"
    );

    // Client: child of the server, local parent, and what was injected upstream.
    assert_eq!(client.trace_id, server.trace_id);
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(client.flags, 0x101, "parent is local");
    assert_eq!(client.kind, SpanKind::Client as i32);
    assert_eq!(
        injected,
        format!("00-{}-{}-01", hex(&client.trace_id), hex(&client.span_id))
    );
    let st = client.status.as_ref().unwrap();
    assert_eq!((st.code, st.message.as_str()), (2, "connection reset"));

    let stats = p.shutdown(FLUSH).unwrap();
    assert_eq!((stats.recorded, stats.exported, stats.queued), (2, 2, 0));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn unsampled_spans_cost_nothing_but_propagate() {
    let capture = Capture::new(Behaviour::Accept);
    let p = pipeline(
        &capture,
        BatchConfig::default(),
        Sampler::traefik(0.0),
        SpanLimits::default(),
    );
    let tracer = p.tracer("t");

    // Root under ratio 0: not sampled, still a valid context to propagate.
    let root = tracer.start("GET /", SpanKind::Server);
    assert!(!root.is_recording());
    assert!(root.context().is_valid() && !root.context().is_sampled());
    let child = tracer.start_with_parent("GET", SpanKind::Client, Some(root.context()));
    assert_eq!(child.context().trace_id(), root.context().trace_id());
    assert!(!child.is_recording());

    // A sampled remote parent wins over the ratio (parent-based).
    let sampled_parent = extract(
        Some(b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        std::iter::empty(),
    )
    .unwrap();
    let kept = tracer.start_with_parent("GET", SpanKind::Server, Some(&sampled_parent));
    assert!(kept.is_recording());
    drop((root, child, kept));

    p.force_flush(FLUSH).unwrap();
    let s = p.stats();
    assert_eq!((s.sampled_out, s.recorded, s.exported), (2, 1, 1));
    assert_eq!(capture.spans().len(), 1);
}

#[test]
fn limits_cut_and_count() {
    let capture = Capture::new(Behaviour::Accept);
    let limits = {
        let mut c = SpanLimits::default();
        c.max_attributes_per_span = 2;
        c.max_events_per_span = 1;
        c.max_links_per_span = 1;
        c.max_attributes_per_event = 1;
        c.max_attributes_per_link = 0;
        c.max_attribute_value_length = Some(4);
        c
    };
    let p = pipeline(&capture, BatchConfig::default(), Sampler::default(), limits);
    let tracer = p.tracer("t");
    let other = tracer.start("other", SpanKind::Internal);
    let mut s = tracer.start("limited", SpanKind::Internal);
    s.set_str("a", "héllo"); // truncated to 4 bytes on a char boundary: "hél"
    s.set_i64("b", 1);
    s.set_str("c", "dropped");
    s.set_bytes("d", b"also dropped");
    s.add_event("e1", &[("k1", 1i64.into()), ("k2", 2i64.into())]);
    s.add_event("e2", &[]);
    s.add_link(other.context(), &[("why", "x".into())]);
    s.add_link(other.context(), &[]);
    let mut deep = AnyValue::Int(1);
    for _ in 0..40 {
        deep = AnyValue::Array(vec![deep]);
    }
    drop(other);
    let mut t = tracer.start("deep", SpanKind::Internal);
    t.set_attribute("too.deep", &deep);
    t.set_attribute("fine", ValueRef::Bool(true));
    drop((s, t));
    p.force_flush(FLUSH).unwrap();

    let spans = capture.spans();
    let s = spans.iter().find(|s| s.name == "limited").unwrap();
    assert_eq!(s.attributes.len(), 2);
    assert_eq!(attr(s, "a"), Some(&PV::StringValue("hél".into())));
    assert_eq!(s.dropped_attributes_count, 2);
    assert_eq!(s.events.len(), 1);
    assert_eq!(s.events[0].attributes.len(), 1);
    assert_eq!(s.events[0].dropped_attributes_count, 1);
    assert_eq!(s.dropped_events_count, 1);
    assert_eq!(s.links.len(), 1);
    assert_eq!(s.links[0].attributes.len(), 0);
    assert_eq!(s.links[0].dropped_attributes_count, 1);
    assert_eq!(s.dropped_links_count, 1);
    let t = spans.iter().find(|s| s.name == "deep").unwrap();
    assert_eq!(t.attributes.len(), 1);
    assert_eq!(
        t.dropped_attributes_count, 1,
        "values nested too deep are dropped and counted"
    );
}

#[test]
fn a_full_batch_is_exported_without_waiting_for_the_timer() {
    let capture = Capture::new(Behaviour::Accept);
    let batch = {
        let mut c = BatchConfig::default();
        c.max_export_batch_size = 64;
        c.scheduled_delay = Duration::from_secs(3600);
        c
    };
    let p = pipeline(&capture, batch, Sampler::default(), SpanLimits::default());
    let tracer = p.tracer("t");
    for _ in 0..640 {
        tracer.start("s", SpanKind::Internal).end();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while capture.spans_accepted.load(Ordering::SeqCst) < 576 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        capture.spans_accepted.load(Ordering::SeqCst) >= 576,
        "full batches left without a flush"
    );
    let requests = capture.requests.lock().unwrap();
    assert!(requests
        .iter()
        .all(|r| r.resource_spans[0].scope_spans[0].spans.len() <= 64));
}

#[test]
fn the_schedule_delay_exports_a_partial_batch() {
    let capture = Capture::new(Behaviour::Accept);
    let batch = {
        let mut c = BatchConfig::default();
        c.scheduled_delay = Duration::from_millis(50);
        c
    };
    let p = pipeline(&capture, batch, Sampler::default(), SpanLimits::default());
    p.tracer("t").start("lonely", SpanKind::Internal).end();
    let deadline = Instant::now() + Duration::from_secs(10);
    while capture.spans_accepted.load(Ordering::SeqCst) < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(capture.spans().len(), 1);
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let capture = Capture::new(Behaviour::Hang);
    let batch = {
        let mut c = BatchConfig::default();
        c.max_queue_size = 16;
        c.max_export_batch_size = 8;
        c.max_concurrent_exports = 1;
        c.export_timeout = Duration::from_millis(300);
        // The drop path itself (tests/it/shedding.rs covers shedding).
        c.shedding = false;
        c
    };
    let p = pipeline(&capture, batch, Sampler::default(), SpanLimits::default());
    let tracer = p.tracer("t");
    for _ in 0..1000 {
        tracer.start("s", SpanKind::Internal).end();
    }
    let s = p.stats();
    assert_eq!(s.recorded, 1000);
    assert!(s.dropped >= 1000 - 16 - 8, "dropped {}", s.dropped);
    assert_eq!(
        s.recorded,
        s.exported + s.dropped + s.shed + s.failed + s.rejected + s.queued
    );
    let stats = match p.shutdown(Duration::from_millis(500)) {
        Ok(s) => s,
        Err(ShutdownError::DeadlineExceeded { stats, .. }) => stats,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(stats.queued, 0);
    assert_eq!(stats.exported, 0);
    assert_eq!(stats.recorded, stats.dropped + stats.shed + stats.failed);
}

#[test]
fn shutdown_returns_by_its_deadline_when_the_collector_hangs() {
    let capture = Capture::new(Behaviour::Hang);
    let p = default_pipeline(&capture);
    let tracer = p.tracer("t");
    for _ in 0..100 {
        tracer.start("s", SpanKind::Internal).end();
    }
    let started = Instant::now();
    let result = p.shutdown(Duration::from_millis(400));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1500), "shutdown took {took:?}");
    match result {
        Err(ShutdownError::DeadlineExceeded { unsent, stats }) => {
            assert_eq!(unsent, 100);
            assert_eq!((stats.recorded, stats.failed, stats.queued), (100, 100, 0));
        }
        other => panic!("expected a deadline error, got {other:?}"),
    }
    // Recording after shutdown is counted, not lost.
    tracer.start("late", SpanKind::Internal).end();
    let s = p.stats();
    assert_eq!((s.recorded, s.dropped, s.queued), (101, 1, 0));
}

#[test]
fn flush_reports_what_it_could_not_deliver() {
    let capture = Capture::new(Behaviour::Slow(Duration::from_secs(5)));
    let p = default_pipeline(&capture);
    p.tracer("t").start("s", SpanKind::Internal).end();
    match p.force_flush(Duration::from_millis(200)) {
        Err(FlushError::Timeout { queued }) => assert_eq!(queued, 1),
        other => panic!("expected a timeout, got {other:?}"),
    }
    let capture = Capture::new(Behaviour::FailEvery(1));
    let p = default_pipeline(&capture);
    p.tracer("t").start("s", SpanKind::Internal).end();
    assert_eq!(
        p.force_flush(FLUSH),
        Err(FlushError::Undelivered {
            failed: 1,
            rejected: 0
        })
    );
}

#[test]
fn the_worker_can_run_on_the_callers_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let capture = Capture::new(Behaviour::Accept);
    let p = Pipeline::builder()
        .exporter(capture.clone())
        .runtime(rt.handle().clone())
        .start()
        .unwrap();
    let tracer = p.tracer("t");
    rt.block_on(async {
        for _ in 0..10 {
            tracer.start("s", SpanKind::Internal).end();
        }
        p.flush(FLUSH).await.unwrap();
        let stats = p.shutdown_async(FLUSH).await.unwrap();
        assert_eq!(stats.exported, 10);
    });
    assert_eq!(capture.spans().len(), 10);
}

/// Every recorded span ends in exactly one state, read while threads
/// record and the exporter fails and rejects, and exactly at the end.
#[test]
fn accounting_invariant_under_concurrency_and_failures() {
    for behaviour in [
        Behaviour::Accept,
        Behaviour::FailEvery(3),
        Behaviour::Reject(5),
    ] {
        let capture = Capture::new(behaviour);
        let batch = {
            let mut c = BatchConfig::default();
            c.max_queue_size = 512;
            c.max_export_batch_size = 64;
            c.scheduled_delay = Duration::from_millis(10);
            c
        };
        let p = pipeline(&capture, batch, Sampler::ratio(0.5), SpanLimits::default());
        let tracer = p.tracer("t");
        std::thread::scope(|scope| {
            for _ in 0..3 {
                let tracer = tracer.clone();
                scope.spawn(move || {
                    for i in 0..20_000 {
                        let mut s = tracer.start("s", SpanKind::Server);
                        s.set_i64("i", i);
                        s.end();
                    }
                });
            }
            scope.spawn(|| {
                for _ in 0..2_000 {
                    let s = p.stats();
                    assert!(s.is_consistent(), "a span counted twice: {s:?}");
                    assert_eq!(
                        s.recorded,
                        s.exported + s.dropped + s.shed + s.failed + s.rejected + s.queued
                    );
                    std::thread::yield_now();
                }
            });
        });
        p.force_flush(FLUSH).ok();
        // Quiescent: `queued` matches what the ring and worker really hold.
        let s = p.stats();
        let (in_ring, in_flight) = tracewire::internal::occupancy(&p);
        assert_eq!(s.queued, in_ring + in_flight, "{behaviour:?}: {s:?}");
        let stats = p
            .shutdown(FLUSH)
            .unwrap_or_else(|e| panic!("{behaviour:?}: {e}"));
        assert_eq!(stats.recorded + stats.sampled_out, 60_000, "{behaviour:?}");
        assert!(
            stats.sampled_out > 20_000 && stats.sampled_out < 40_000,
            "ratio 0.5: {stats:?}"
        );
        assert_eq!(stats.queued, 0);
        assert_eq!(
            stats.recorded,
            stats.exported + stats.dropped + stats.shed + stats.failed + stats.rejected
        );
        // What the exporter accepted is exactly what was counted exported.
        assert_eq!(
            stats.exported,
            capture.spans_accepted.load(Ordering::SeqCst),
            "{behaviour:?}"
        );
        assert_eq!(
            stats.exported + stats.failed + stats.rejected,
            capture.spans_seen.load(Ordering::SeqCst)
        );
        match behaviour {
            Behaviour::FailEvery(_) => assert!(stats.failed > 0),
            Behaviour::Reject(_) => assert!(stats.rejected > 0),
            _ => assert_eq!(stats.failed + stats.rejected, 0),
        }
    }
}

#[test]
fn spans_ended_on_other_threads_or_after_shutdown_are_accounted() {
    let capture = Capture::new(Behaviour::Accept);
    let p = default_pipeline(&capture);
    let tracer = p.tracer("t");
    // Started here, ended on threads that never started a span (as an
    // async runtime moves a request between workers), with an event added
    // there too.
    let spans: Vec<_> = (0..8)
        .map(|i| {
            let mut s = tracer.start("moved", SpanKind::Server);
            s.set_i64("i", i);
            s
        })
        .collect();
    std::thread::scope(|scope| {
        for mut s in spans {
            scope.spawn(move || {
                s.add_event("on another thread", &[]);
                s.end();
            });
        }
    });
    p.force_flush(FLUSH).expect("flush");
    let got = capture.spans();
    assert_eq!(got.len(), 8);
    assert!(got
        .iter()
        .all(|s| s.name == "moved" && s.events.len() == 1 && s.attributes.len() == 1));

    // A span still open when the pipeline shuts down is counted dropped
    // when it ends, on any thread.
    let late = tracer.start("late", SpanKind::Internal);
    p.shutdown(FLUSH).expect("shutdown");
    std::thread::spawn(move || late.end())
        .join()
        .expect("no panic");
    let s = p.stats();
    assert_eq!((s.recorded, s.exported, s.dropped, s.queued), (9, 8, 1, 0));
}

/// A thread that records and exits: its log is drained, nothing it
/// recorded is lost, and the log is freed.
#[test]
fn a_thread_that_records_and_exits_loses_nothing() {
    let capture = Capture::new(Behaviour::Accept);
    let p = default_pipeline(&capture);
    let tracer = p.tracer("t");
    for round in 0..3 {
        let t = tracer.clone();
        std::thread::spawn(move || {
            for i in 0..1000 {
                let mut s = t.start("from a short-lived thread", SpanKind::Internal);
                s.set_i64("i", i);
                s.end();
            }
        })
        .join()
        .expect("no panic");
        p.force_flush(FLUSH).expect("flush");
        assert_eq!(capture.spans().len(), 1000 * (round + 1));
        assert_eq!(
            tracewire::internal::live_logs(&p),
            0,
            "the exited thread's log was freed once drained"
        );
    }
    let s = p.shutdown(FLUSH).expect("shutdown");
    assert_eq!(
        (s.recorded, s.exported, s.dropped, s.queued),
        (3000, 3000, 0, 0)
    );
}

/// A thread that records one span and then never records again: the
/// scheduled delay exports the span anyway, and so does a flush.
#[test]
fn a_thread_that_records_once_and_idles_is_still_exported() {
    let capture = Capture::new(Behaviour::Accept);
    let batch = {
        let mut c = BatchConfig::default();
        c.scheduled_delay = Duration::from_millis(50);
        c
    };
    let p = pipeline(&capture, batch, Sampler::default(), SpanLimits::default());
    let tracer = p.tracer("t");
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let idle = {
        let t = tracer.clone();
        std::thread::spawn(move || {
            t.start("once", SpanKind::Internal).end();
            // Idle (alive, not recording) until the test ends.
            let _ = rx.recv();
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while capture.spans().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(capture.spans().len(), 1, "exported by the scheduled delay");

    // The same thread-idle case with a flush and a long delay.
    let capture2 = Capture::new(Behaviour::Accept);
    let p2 = default_pipeline(&capture2);
    let t2 = p2.tracer("t");
    let (tx2, rx2) = std::sync::mpsc::channel::<()>();
    let idle2 = std::thread::spawn(move || {
        t2.start("once", SpanKind::Internal).end();
        let _ = rx2.recv();
    });
    while p2.stats().recorded < 1 {
        std::thread::sleep(Duration::from_millis(1));
    }
    p2.force_flush(FLUSH).expect("flush");
    assert_eq!(capture2.spans().len(), 1, "exported by the flush");
    let _ = (tx.send(()), tx2.send(()));
    idle.join().expect("no panic");
    idle2.join().expect("no panic");
    p.shutdown(FLUSH).expect("shutdown");
    p2.shutdown(FLUSH).expect("shutdown");
}

/// Shutdown while a thread is in the middle of a span: the span is counted
/// (dropped) when it ends, and the accounting holds at every read.
#[test]
fn shutdown_while_a_thread_is_mid_span() {
    let capture = Capture::new(Behaviour::Accept);
    let p = std::sync::Arc::new(default_pipeline(&capture));
    let tracer = p.tracer("t");
    let started = std::sync::Barrier::new(2);
    let shut = std::sync::Barrier::new(2);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..100 {
                tracer.start("before", SpanKind::Internal).end();
            }
            let mut span = tracer.start("mid", SpanKind::Server);
            span.set_str("phase", "started before shutdown");
            started.wait();
            shut.wait();
            span.set_str("after", "shutdown");
            span.end();
            // And spans started after shutdown are counted too.
            tracer.start("after", SpanKind::Internal).end();
        });
        started.wait();
        let s = p.shutdown(FLUSH).expect("shutdown");
        assert_eq!((s.recorded, s.exported, s.queued), (100, 100, 0));
        shut.wait();
    });
    let s = p.stats();
    assert_eq!(
        (s.recorded, s.exported, s.dropped, s.queued),
        (102, 100, 2, 0)
    );
    assert_eq!(capture.spans().len(), 100);
}

/// Many threads, each recording a burst and exiting, while the collector
/// hangs: the logs fill, spans are dropped and counted, the chunks stay
/// within the budget, and the accounting holds at every read.
#[test]
fn logs_that_fill_drop_and_count_within_the_budget() {
    let capture = Capture::new(Behaviour::Hang);
    let batch = {
        let mut c = BatchConfig::default();
        c.max_queue_size = 256;
        c.max_export_batch_size = 64;
        c.max_concurrent_exports = 1;
        // Longer than the burst takes even on a loaded machine: no export
        // resolves (frees room) while the threads record.
        c.export_timeout = Duration::from_secs(10);
        // The drop path itself (tests/it/shedding.rs covers shedding).
        c.shedding = false;
        c
    };
    let p = pipeline(&capture, batch, Sampler::default(), SpanLimits::default());
    let tracer = p.tracer("t");
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let t = tracer.clone();
            scope.spawn(move || {
                for i in 0..2_000 {
                    let mut s = t.start("burst", SpanKind::Internal);
                    s.set_i64("i", i);
                    s.end();
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..200 {
                let s = p.stats();
                assert!(s.is_consistent(), "{s:?}");
                assert_eq!(
                    s.recorded,
                    s.exported + s.dropped + s.shed + s.failed + s.rejected + s.queued
                );
                std::thread::yield_now();
            }
        });
    });
    let s = p.stats();
    assert_eq!(s.recorded, 16_000);
    let (waiting, in_flight) = tracewire::internal::occupancy(&p);
    // The budget (256 spans: four chunks of at most 64), plus one chunk of
    // its own for each thread beyond the first (BatchConfig::max_queue_size).
    assert!(
        waiting <= (4 + 7) * 64,
        "the logs hold at most the budget plus one chunk per thread: {waiting}"
    );
    assert!(s.dropped > 10_000, "most of the burst found no room: {s:?}");
    let _ = in_flight;
    let stats = match p.shutdown(Duration::from_millis(500)) {
        Ok(s) => s,
        Err(ShutdownError::DeadlineExceeded { stats, .. }) => stats,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(stats.queued, 0);
    assert_eq!(
        stats.recorded,
        stats.dropped + stats.shed + stats.failed + stats.exported
    );
}
