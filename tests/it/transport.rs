//! The transports against real peers started on 127.0.0.1 port 0: an
//! OTLP/HTTP collector on hyper and the `opentelemetry-proto` tonic gRPC
//! collector (plus a raw HTTP/2 peer for protocol faults). Each test asserts
//! what arrived, exactly once, and what the stats say.

use crate::common;

use std::time::{Duration, Instant};

use common::collectors::*;
use tracewire::model::SpanKind;
use tracewire::transport::{build, Endpoint};
use tracewire::transport::{Compression, ExporterConfig, Protocol, RetryConfig};
use tracewire::{BatchConfig, FlushError, Pipeline, ShutdownError, Stats};

fn fast_retry() -> RetryConfig {
    {
        let mut c = RetryConfig::default();
        c.initial_backoff = Duration::from_millis(20);
        c.max_backoff = Duration::from_millis(200);
        c
    }
}

fn http_config(url: &str) -> ExporterConfig {
    let mut c = ExporterConfig::new(Protocol::Http, Endpoint::parse_http(url).unwrap());
    c.retry = fast_retry();
    c
}

fn grpc_config(endpoint: &str) -> ExporterConfig {
    let mut c = ExporterConfig::new(
        Protocol::Grpc,
        Endpoint::parse_grpc(endpoint, true).unwrap(),
    );
    c.retry = fast_retry();
    c
}

fn batch(export_timeout: Duration) -> BatchConfig {
    {
        let mut c = BatchConfig::default();
        c.export_timeout = export_timeout;
        c.scheduled_delay = Duration::from_secs(3600);
        c
    }
}

fn pipeline(cfg: &ExporterConfig, batch: BatchConfig) -> Pipeline {
    Pipeline::builder()
        .exporter_arc(build(cfg).expect("exporter builds"))
        .batch(batch)
        .start()
        .expect("pipeline starts")
}

/// Records spans named `{prefix}-{i}` and returns their names.
fn record(p: &Pipeline, prefix: &str, n: usize) -> Vec<String> {
    let tracer = p.tracer("transport-test");
    (0..n)
        .map(|i| {
            let name = format!("{prefix}-{i}");
            let mut s = tracer.start(&name, SpanKind::Server);
            s.set_str("http.request.method", "POST");
            s.end();
            name
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn flush(p: &Pipeline) -> Result<(), FlushError> {
    p.flush(Duration::from_secs(20)).await
}

fn consistent(s: &Stats) {
    assert_eq!(
        s.recorded,
        s.exported + s.dropped + s.shed + s.failed + s.rejected + s.queued,
        "{s:?}"
    );
}

// ---------------------------------------------------------------------------
// OTLP/HTTP
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_delivers_each_span_once_with_headers_and_keep_alive() {
    let collector = HttpCollector::start(vec![], None).await;
    let mut cfg = http_config(&collector.url(false));
    cfg.headers = vec![(
        "x-tenant".parse().unwrap(),
        http::HeaderValue::from_static("tenant-a"),
    )];
    let p = pipeline(&cfg, batch(Duration::from_secs(10)));
    let mut names = Vec::new();
    for round in 0..3 {
        names.extend(record(&p, &format!("r{round}"), 40));
        flush(&p).await.unwrap();
    }
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    let received = collector.state.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    for r in &received {
        assert_eq!(r.headers["content-type"], "application/x-protobuf");
        assert_eq!(r.headers["x-tenant"], "tenant-a");
        assert_eq!(r.headers["content-length"], r.wire_len.to_string().as_str());
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            r.headers["user-agent"],
            format!("tracewire/{version} OTel-OTLP-Exporter-Rust/{version}").as_str()
        );
    }
    assert_eq!(
        collector
            .state
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1,
        "keep-alive reuses the connection"
    );
    let s = p.shutdown_async(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (s.recorded, s.exported, s.failed, s.retried),
        (120, 120, 0, 0)
    );
    assert_eq!(s.exports, 3);
    assert!(s.bytes_sent > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_gzip() {
    let collector = HttpCollector::start(vec![], None).await;
    let mut cfg = http_config(&collector.url(false));
    cfg.compression = Compression::Gzip;
    let p = pipeline(&cfg, batch(Duration::from_secs(10)));
    let names = record(&p, "gz", 100);
    flush(&p).await.unwrap();
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    let r = collector.state.received.lock().unwrap()[0].clone();
    assert_eq!(r.headers["content-encoding"], "gzip");
    let stats = p.stats();
    assert_eq!(
        stats.bytes_sent, r.wire_len as u64,
        "bytes_sent counts the compressed body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connection_refused_then_the_collector_appears() {
    // Reserve a port, then free it: nothing listens there yet.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = http_config(&format!("http://127.0.0.1:{port}/v1/traces"));
    let p = pipeline(&cfg, batch(Duration::from_secs(15)));
    let names = record(&p, "late", 25);
    let flushing = tokio::spawn({
        let p = std::sync::Arc::new(p);
        let p2 = p.clone();
        async move { (p2.flush(Duration::from_secs(20)).await, p2) }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let collector = HttpCollector::start_on(listener, vec![], None);
    let (result, p) = flushing.await.unwrap();
    result.unwrap();
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    assert_eq!(collector.state.requests(), 1, "delivered exactly once");
    let s = p.stats();
    assert_eq!((s.exported, s.failed), (25, 0));
    // The refused attempts were retried (the spans arrived once the
    // collector appeared), but sent nothing: one request counted, no span
    // counted as sent twice.
    assert_eq!((s.exports, s.retried), (1, 0), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_503_with_retry_after_is_honoured() {
    let collector = HttpCollector::start(
        vec![HttpReply::Status {
            code: 503,
            retry_after: Some("1".into()),
            body: vec![],
        }],
        None,
    )
    .await;
    let p = pipeline(
        &http_config(&collector.url(false)),
        batch(Duration::from_secs(10)),
    );
    let names = record(&p, "ra", 10);
    let started = Instant::now();
    flush(&p).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(collector.state.requests(), 2);
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    let s = p.stats();
    assert_eq!((s.exported, s.failed, s.retried, s.exports), (10, 0, 10, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_429_and_502_are_retried() {
    let collector = HttpCollector::start(
        vec![
            HttpReply::Status {
                code: 429,
                retry_after: None,
                body: vec![],
            },
            HttpReply::Status {
                code: 502,
                retry_after: None,
                body: vec![],
            },
        ],
        None,
    )
    .await;
    let p = pipeline(
        &http_config(&collector.url(false)),
        batch(Duration::from_secs(10)),
    );
    let names = record(&p, "tm", 7);
    flush(&p).await.unwrap();
    assert_eq!(collector.state.requests(), 3);
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    assert_eq!(p.stats().retried, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_400_is_not_retried_and_counts_failed() {
    let collector = HttpCollector::start(
        vec![HttpReply::Status {
            code: 400,
            retry_after: None,
            body: rpc_status(3, "span 7 has an invalid trace id"),
        }],
        None,
    )
    .await;
    let p = pipeline(
        &http_config(&collector.url(false)),
        batch(Duration::from_secs(10)),
    );
    record(&p, "bad", 8);
    assert_eq!(
        flush(&p).await,
        Err(FlushError::Undelivered {
            failed: 8,
            rejected: 0
        })
    );
    assert_eq!(collector.state.requests(), 1, "a 400 is never retried");
    assert_eq!(collector.state.accepted_spans(), 0);
    let s = p.stats();
    assert_eq!((s.failed, s.exported, s.retried), (8, 0, 0));
    consistent(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_partial_success_counts_rejected() {
    let collector = HttpCollector::start(
        vec![HttpReply::Partial {
            rejected: 3,
            message: "3 spans exceeded the size limit",
        }],
        None,
    )
    .await;
    let p = pipeline(
        &http_config(&collector.url(false)),
        batch(Duration::from_secs(10)),
    );
    record(&p, "ps", 10);
    assert_eq!(
        flush(&p).await,
        Err(FlushError::Undelivered {
            failed: 0,
            rejected: 3
        })
    );
    let s = p.stats();
    assert_eq!((s.exported, s.rejected, s.failed), (7, 3, 0));
    consistent(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_collector_that_hangs_cannot_stall_shutdown() {
    let collector = HttpCollector::start(vec![HttpReply::Hang; 10], None).await;
    let mut cfg = http_config(&collector.url(false));
    cfg.timeout = Duration::from_millis(300);
    let p = pipeline(&cfg, batch(Duration::from_secs(30)));
    record(&p, "hang", 5);
    let started = Instant::now();
    let r = p.shutdown_async(Duration::from_millis(800)).await;
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "shutdown took {:?}",
        started.elapsed()
    );
    // As in `grpc_collector_that_hangs_cannot_stall_shutdown`: the last
    // attempt gives up at the shutdown's deadline, and which of the two
    // ends first is a race; in both, nothing was delivered.
    let stats = match r {
        Err(ShutdownError::DeadlineExceeded { stats, .. }) => stats,
        Ok(stats) => stats,
        other => panic!("{other:?}"),
    };
    assert_eq!((stats.failed, stats.exported, stats.queued), (5, 0, 0));
    assert!(
        collector.state.requests() >= 2,
        "per-request timeout, then retries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connection_closed_without_answer_is_retried() {
    let collector = HttpCollector::start(vec![HttpReply::Close], None).await;
    let p = pipeline(
        &http_config(&collector.url(false)),
        batch(Duration::from_secs(10)),
    );
    let names = record(&p, "reset", 12);
    flush(&p).await.unwrap();
    assert_eq!(collector.state.requests(), 2);
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    assert_eq!(p.stats().exported, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endless_error_body_is_read_only_to_its_bound() {
    let collector = HttpCollector::start(vec![HttpReply::Endless { code: 500 }], None).await;
    let p = pipeline(
        &http_config(&collector.url(false)),
        batch(Duration::from_secs(10)),
    );
    record(&p, "endless", 3);
    let started = Instant::now();
    assert_eq!(
        flush(&p).await,
        Err(FlushError::Undelivered {
            failed: 3,
            rejected: 0
        })
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ---------------------------------------------------------------------------
// OTLP/gRPC
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_delivers_each_span_once_to_tonic() {
    let collector = GrpcCollector::start(vec![], None).await;
    let mut cfg = grpc_config(&collector.endpoint());
    cfg.headers = vec![(
        "authorization".parse().unwrap(),
        http::HeaderValue::from_static("Bearer secret-token"),
    )];
    let p = pipeline(&cfg, batch(Duration::from_secs(10)));
    let names = record(&p, "g", 300);
    flush(&p).await.unwrap();
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    let r = collector.state.received.lock().unwrap()[0].clone();
    assert_eq!(r.metadata["authorization"], "Bearer secret-token");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        r.metadata["user-agent"],
        format!("tracewire/{version} OTel-OTLP-Exporter-Rust/{version}").as_str()
    );
    assert!(r.metadata.get("grpc-timeout").is_some());
    let s = p.shutdown_async(Duration::from_secs(5)).await.unwrap();
    assert_eq!((s.exported, s.failed, s.retried), (300, 0, 0));
}

/// zstd over gRPC, to tonic decoding `grpc-encoding: zstd` (as the
/// Collector does): every span arrives, the message flagged compressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_zstd() {
    let collector = GrpcCollector::start(vec![], None).await;
    let mut cfg = grpc_config(&collector.endpoint());
    cfg.compression = Compression::Zstd;
    let p = pipeline(&cfg, batch(Duration::from_secs(10)));
    let names = record(&p, "zs", 50);
    flush(&p).await.unwrap();
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    assert_eq!(
        collector.state.received.lock().unwrap()[0].metadata["grpc-encoding"],
        "zstd"
    );
    let s = p.stats();
    assert_eq!((s.exported, s.failed), (50, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_gzip() {
    let collector = GrpcCollector::start(vec![], None).await;
    let mut cfg = grpc_config(&collector.endpoint());
    cfg.compression = Compression::Gzip;
    let p = pipeline(&cfg, batch(Duration::from_secs(10)));
    let names = record(&p, "gz", 50);
    flush(&p).await.unwrap();
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    assert_eq!(
        collector.state.received.lock().unwrap()[0].metadata["grpc-encoding"],
        "gzip"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_unavailable_is_retried() {
    let collector = GrpcCollector::start(
        vec![GrpcReply::Status {
            code: tonic::Code::Unavailable,
            message: "collector restarting",
            details: None,
        }],
        None,
    )
    .await;
    let p = pipeline(
        &grpc_config(&collector.endpoint()),
        batch(Duration::from_secs(10)),
    );
    let names = record(&p, "u", 9);
    flush(&p).await.unwrap();
    assert_eq!(collector.state.calls(), 2);
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    let s = p.stats();
    assert_eq!((s.exported, s.retried), (9, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_resource_exhausted_without_retry_info_fails() {
    let collector = GrpcCollector::start(
        vec![GrpcReply::Status {
            code: tonic::Code::ResourceExhausted,
            message: "quota exceeded",
            details: None,
        }],
        None,
    )
    .await;
    let p = pipeline(
        &grpc_config(&collector.endpoint()),
        batch(Duration::from_secs(10)),
    );
    record(&p, "q", 4);
    assert_eq!(
        flush(&p).await,
        Err(FlushError::Undelivered {
            failed: 4,
            rejected: 0
        })
    );
    assert_eq!(collector.state.calls(), 1);
}

/// The Collector's memory limiter extension refuses with
/// RESOURCE_EXHAUSTED and no RetryInfo, saying why: retried with backoff,
/// as its OTLP/HTTP 429 is, and everything arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_memory_limiter_refusal_is_retried() {
    let collector = GrpcCollector::start(
        vec![
            GrpcReply::Status {
                code: tonic::Code::ResourceExhausted,
                message: "data refused due to high memory usage",
                details: None,
            },
            GrpcReply::Status {
                code: tonic::Code::ResourceExhausted,
                message: "data refused due to high memory usage",
                details: None,
            },
        ],
        None,
    )
    .await;
    let p = pipeline(
        &grpc_config(&collector.endpoint()),
        batch(Duration::from_secs(10)),
    );
    let names = record(&p, "m", 5);
    flush(&p).await.unwrap();
    assert_eq!(collector.state.calls(), 3);
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    let s = p.stats();
    assert_eq!((s.exported, s.retried, s.failed), (5, 10, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_resource_exhausted_with_retry_info_waits_and_retries() {
    let collector = GrpcCollector::start(
        vec![GrpcReply::Status {
            code: tonic::Code::ResourceExhausted,
            message: "slow down",
            details: Some(rpc_status_with_retry_info(
                8,
                "slow down",
                Duration::from_millis(700),
            )),
        }],
        None,
    )
    .await;
    let p = pipeline(
        &grpc_config(&collector.endpoint()),
        batch(Duration::from_secs(10)),
    );
    let names = record(&p, "ri", 6);
    let started = Instant::now();
    flush(&p).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(680),
        "honoured RetryInfo: {:?}",
        started.elapsed()
    );
    assert_eq!(collector.state.calls(), 2);
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_partial_success_counts_rejected() {
    let collector = GrpcCollector::start(
        vec![GrpcReply::Partial {
            rejected: 2,
            message: "2 spans dropped by a filter",
        }],
        None,
    )
    .await;
    let p = pipeline(
        &grpc_config(&collector.endpoint()),
        batch(Duration::from_secs(10)),
    );
    record(&p, "ps", 5);
    assert_eq!(
        flush(&p).await,
        Err(FlushError::Undelivered {
            failed: 0,
            rejected: 2
        })
    );
    let s = p.stats();
    assert_eq!((s.exported, s.rejected), (3, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_concurrent_exports_share_one_connection() {
    let collector = GrpcCollector::start(vec![], None).await;
    let cfg = grpc_config(&collector.endpoint());
    let p = pipeline(&cfg, {
        let mut c = batch(Duration::from_secs(10));
        c.max_export_batch_size = 16;
        c.max_concurrent_exports = 4;
        c
    });
    let names = record(&p, "mux", 400);
    flush(&p).await.unwrap();
    assert_eq!(sorted(collector.state.accepted_names()), sorted(names));
    assert_eq!(collector.state.calls(), 25);
    assert_eq!(
        collector
            .state
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_collector_that_hangs_cannot_stall_shutdown() {
    let collector = GrpcCollector::start(vec![GrpcReply::Hang; 10], None).await;
    let mut cfg = grpc_config(&collector.endpoint());
    cfg.timeout = Duration::from_millis(300);
    let p = pipeline(&cfg, batch(Duration::from_secs(30)));
    record(&p, "hang", 5);
    let started = Instant::now();
    let r = p.shutdown_async(Duration::from_millis(800)).await;
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "shutdown took {:?}",
        started.elapsed()
    );
    // The last attempt's timeout is cut to the shutdown's deadline: either
    // the shutdown's own timer fires first (the spans were still in flight:
    // `DeadlineExceeded`), or the attempt gives up a moment before it (the
    // spans failed, and shutdown has nothing left to wait for). Which one
    // is a race on a loaded host; in both, nothing was delivered and all
    // five spans are counted failed.
    let stats = match r {
        Err(ShutdownError::DeadlineExceeded { unsent: 5, stats }) => stats,
        Ok(stats) => stats,
        other => panic!("{other:?}"),
    };
    assert_eq!((stats.exported, stats.failed), (0, 5), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_goaway_reconnects_transparently() {
    let collector = H2Collector::start(vec![H2Reply::OkThenGoAway]).await;
    let p = pipeline(
        &grpc_config(&collector.endpoint()),
        batch(Duration::from_secs(10)),
    );
    record(&p, "before", 5);
    flush(&p).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    record(&p, "after", 5);
    flush(&p).await.unwrap();
    assert_eq!(collector.state.accepted_spans(), 10);
    assert_eq!(
        collector.state.calls.lock().unwrap().len(),
        2,
        "each batch arrived once"
    );
    assert_eq!(
        collector
            .state
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
    assert_eq!(p.stats().exported, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_stream_reset_mid_call_is_retried() {
    let collector = H2Collector::start(vec![H2Reply::Reset(h2::Reason::INTERNAL_ERROR)]).await;
    let p = pipeline(
        &grpc_config(&collector.endpoint()),
        batch(Duration::from_secs(10)),
    );
    record(&p, "rst", 6);
    flush(&p).await.unwrap();
    let calls = collector.state.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    assert_eq!(collector.state.accepted_spans(), 6);
    let s = p.stats();
    assert_eq!((s.exported, s.retried), (6, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_trailers_only_status_is_read() {
    let collector =
        H2Collector::start(vec![H2Reply::TrailersOnly(14), H2Reply::TrailersOnly(3)]).await;
    let p = pipeline(
        &grpc_config(&collector.endpoint()),
        batch(Duration::from_secs(10)),
    );
    record(&p, "to", 2);
    // UNAVAILABLE is retried, then INVALID_ARGUMENT fails for good.
    assert_eq!(
        flush(&p).await,
        Err(FlushError::Undelivered {
            failed: 2,
            rejected: 0
        })
    );
    assert_eq!(collector.state.calls.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_four_gib_length_prefix_is_refused_without_waiting() {
    let collector = H2Collector::start(vec![H2Reply::HugePrefix]).await;
    let p = pipeline(
        &grpc_config(&collector.endpoint()),
        batch(Duration::from_secs(10)),
    );
    record(&p, "huge", 3);
    let started = Instant::now();
    assert_eq!(
        flush(&p).await,
        Err(FlushError::Undelivered {
            failed: 3,
            rejected: 0
        })
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// A peer that accepts and closes (or resets) every connection without a
/// byte of answer, as an HTTP/2 server may look when its GOAWAY is lost to
/// the reset: three such connections in a row fail the export for good,
/// rather than retrying until its deadline; a peer that speaks HTTP/2 first
/// (tonic) fails on the first connection, in
/// cli/tests/it/peers.rs::protocol_mismatches_fail_at_once_and_say_why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_to_a_peer_that_closes_without_answering_gives_up_after_three() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            // Closed with the request unread: the kernel answers with a reset.
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(tcp);
        }
    });
    let mut cfg = http_config(&format!("http://{addr}/v1/traces"));
    cfg.retry.max_elapsed = Duration::from_secs(30);
    let p = pipeline(&cfg, batch(Duration::from_secs(10)));
    record(&p, "c", 5);
    assert_eq!(
        flush(&p).await,
        Err(FlushError::Undelivered {
            failed: 5,
            rejected: 0
        })
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        3,
        "three connections, then no retry"
    );
}
