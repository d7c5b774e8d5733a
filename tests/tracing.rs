//! The `tracing` layer with a real collector: concurrent requests on a
//! multi-thread runtime, each a `tracing` span tree (nested spans entered
//! across `.await` points, a spawned task, events, a field recorded late,
//! a DEBUG span below the layer's INFO filter) under its own remote parent;
//! every span must arrive with the right parent, kind, attributes and
//! events.
#![cfg(feature = "tracing")]

mod common;

use std::time::Duration;

use common::collectors::*;
use tracewire::model::{AnyValue, SpanData, SpanId, SpanKind, StatusCode};
use tracewire::propagation::parse_traceparent;
use tracewire::proto::span_from_proto;
use tracewire::tracing::{with_remote_parent, TracingLayer};
use tracewire::Pipeline;
use tracing::level_filters::LevelFilter;
use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

const REQUESTS: u64 = 8;

async fn request(i: u64) {
    let remote =
        parse_traceparent(format!("00-{:032x}-{:016x}-01", 0xabc0 + i, 0x5000 + i).as_bytes())
            .unwrap();
    let root = with_remote_parent(&remote, || {
        tracing::info_span!(
            "request",
            otel.kind = "server",
            request.id = i,
            http.response.status_code = tracing::field::Empty
        )
    });
    async move {
        tracing::info!(cache = "miss", attempt = 1u64, "looked up");
        tokio::task::yield_now().await;
        let db = tracing::info_span!("db", otel.kind = "client", db.statement = "select 1");
        async {
            tokio::time::sleep(Duration::from_millis(2)).await;
            // Below the layer's level: not recorded; its child attaches to
            // `db`.
            let hidden = tracing::debug_span!("hidden");
            async {
                tokio::task::yield_now().await;
                tokio::spawn(
                    async {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        tracing::warn!(ok = false, "slow");
                    }
                    .instrument(tracing::info_span!("spawned", ratio = 0.5f64)),
                )
                .await
                .unwrap();
                tracing::debug!("not recorded: below INFO");
            }
            .instrument(hidden)
            .await;
        }
        .instrument(db)
        .await;
        tracing::Span::current().record("http.response.status_code", 200);
    }
    .instrument(root)
    .await;
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a AnyValue> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nested_spans_across_awaits_arrive_with_their_parents() {
    let collector = HttpCollector::start(vec![], None).await;
    let flags = [format!(
        "--tracing.otlp.http.endpoint={}",
        collector.url(false)
    )];
    let config = tracewire::config::load(None, &flags, |_| None).unwrap();
    let pipeline = Pipeline::from_config(&config).unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(TracingLayer::new(pipeline.tracer("tracing-test")).with_level(LevelFilter::INFO));
    // Global: the runtime's worker threads record too.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let tasks: Vec<_> = (0..REQUESTS).map(|i| tokio::spawn(request(i))).collect();
    for t in tasks {
        t.await.unwrap();
    }
    tokio::task::block_in_place(|| pipeline.force_flush(Duration::from_secs(10))).unwrap();

    let spans: Vec<SpanData> = {
        let received = collector.state.received.lock().unwrap();
        received
            .iter()
            .flat_map(|r| r.request.resource_spans.iter())
            .flat_map(|rs| rs.scope_spans.iter())
            .flat_map(|ss| ss.spans.iter())
            .map(|s| span_from_proto(s).unwrap())
            .collect()
    };
    assert_eq!(
        spans.len() as u64,
        REQUESTS * 3,
        "request, db, spawned per request (hidden is DEBUG)"
    );
    for i in 0..REQUESTS {
        let trace = format!("{:032x}", 0xabc0 + i);
        let find = |name: &str| {
            spans
                .iter()
                .find(|s| s.trace_id.to_string() == trace && s.name == name)
                .unwrap_or_else(|| panic!("{name} in trace {trace}: {spans:#?}"))
        };
        let (root, db, spawned) = (find("request"), find("db"), find("spawned"));
        assert_eq!(
            root.parent_span_id,
            Some(SpanId::from_bytes((0x5000 + i).to_be_bytes())),
            "the remote parent"
        );
        assert_eq!(root.kind, SpanKind::Server);
        assert_eq!(attr(root, "request.id"), Some(&AnyValue::Int(i as i64)));
        assert_eq!(
            attr(root, "http.response.status_code"),
            Some(&AnyValue::Int(200)),
            "recorded late"
        );
        assert!(attr(root, "otel.kind").is_none());
        assert_eq!(root.events.len(), 1, "{root:#?}");
        let e = &root.events[0];
        assert_eq!(e.name, "looked up");
        let ev_attr = |k: &str| {
            e.attributes
                .iter()
                .find(|kv| kv.key == k)
                .map(|kv| &kv.value)
        };
        assert_eq!(ev_attr("cache"), Some(&AnyValue::String("miss".into())));
        assert_eq!(ev_attr("attempt"), Some(&AnyValue::Int(1)));
        assert_eq!(ev_attr("level"), Some(&AnyValue::String("INFO".into())));

        assert_eq!(db.parent_span_id, Some(root.span_id), "db under request");
        assert_eq!(db.kind, SpanKind::Client);
        assert_eq!(
            attr(db, "db.statement"),
            Some(&AnyValue::String("select 1".into()))
        );
        assert!(db.events.is_empty(), "the DEBUG event is filtered: {db:#?}");

        assert_eq!(
            spawned.parent_span_id,
            Some(db.span_id),
            "spawned under db (hidden skipped)"
        );
        assert_eq!(spawned.kind, SpanKind::Internal);
        assert_eq!(attr(spawned, "ratio"), Some(&AnyValue::Double(0.5)));
        assert_eq!(spawned.events.len(), 1);
        assert_eq!(spawned.events[0].name, "slow");

        assert!(db.start_time_unix_nano >= root.start_time_unix_nano);
        assert!(db.end_time_unix_nano <= root.end_time_unix_nano);
        assert!(spawned.end_time_unix_nano <= db.end_time_unix_nano);
        assert!(spawned.end_time_unix_nano - spawned.start_time_unix_nano >= 1_000_000);
        for s in [root, db, spawned] {
            assert!(s
                .status
                .as_ref()
                .is_none_or(|st| st.code == StatusCode::Unset));
        }
    }
    let stats = pipeline
        .shutdown_async(Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(stats.exported, REQUESTS * 3);
}
