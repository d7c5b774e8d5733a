//! The `opentelemetry` feature's SDK exporter against the official one:
//! the same `SpanData` batch (every attribute type, events, links, remote
//! and local parents, trace state, each status, two interleaved scopes, a
//! resource with a schema URL) is exported by `opentelemetry-otlp` and by
//! `tracewire::opentelemetry::SpanExporter` to a real OTLP/HTTP collector;
//! the decoded requests must be equal (resource attributes sorted: the SDK
//! keeps them in a hash map). Then the exporter behind the SDK's own batch
//! processor, built outside any runtime, delivers a parent and a child.
#![cfg(feature = "opentelemetry")]

use crate::common;

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use common::collectors::*;
use opentelemetry::trace::{
    Event, Link, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanExporter as _, SpanLinks};
use opentelemetry_sdk::Resource;
use tracewire::proto::collector::trace::v1::ExportTraceServiceRequest;

fn ctx(trace: u128, span: u64, sampled: bool, remote: bool, state: &str) -> SpanContext {
    SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        remote,
        state.parse::<TraceState>().unwrap(),
    )
}

fn batch() -> Vec<SpanData> {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789);
    let scope_a = InstrumentationScope::builder("scope-a")
        .with_version("1.2.3")
        .with_schema_url("https://opentelemetry.io/schemas/1.30.0")
        .with_attributes([KeyValue::new("scope.attr", "x")])
        .build();
    let scope_b = InstrumentationScope::builder("scope-b").build();
    let attributes = vec![
        KeyValue::new("s", "string"),
        KeyValue::new("i", -42i64),
        KeyValue::new("f", 1.5f64),
        KeyValue::new("b", true),
        KeyValue::new(
            "sa",
            Value::Array(Array::String(vec![
                StringValue::from("a"),
                StringValue::from("é"),
            ])),
        ),
        KeyValue::new("ia", Value::Array(Array::I64(vec![1, 2, 3]))),
        KeyValue::new("fa", Value::Array(Array::F64(vec![0.25, -0.5]))),
        KeyValue::new("ba", Value::Array(Array::Bool(vec![true, false]))),
        KeyValue::new("empty", ""),
    ];
    let span = |i: u64, scope: &InstrumentationScope, status: Status, kind: SpanKind| SpanData {
        span_context: ctx(
            0x4bf92f3577b34da6a3ce929d0e0e4736,
            0x1000 + i,
            true,
            false,
            "vendor=v1,other=o",
        ),
        parent_span_id: if i == 0 {
            SpanId::INVALID
        } else {
            SpanId::from(0x00f067aa0ba902b7)
        },
        parent_span_is_remote: i == 1,
        span_kind: kind,
        name: Cow::Owned(format!("span-{i}")),
        start_time: t0 + Duration::from_micros(i),
        end_time: t0 + Duration::from_millis(1 + i),
        attributes: attributes.clone(),
        dropped_attributes_count: i as u32,
        events: span_events(SpanEventsParts {
            events: if i % 2 == 0 {
                vec![
                    Event::new(
                        "exception",
                        t0 + Duration::from_micros(500),
                        vec![KeyValue::new("exception.message", "boom")],
                        1,
                    ),
                    Event::new("empty", t0, vec![], 0),
                ]
            } else {
                vec![]
            },
            dropped_count: 2,
        }),
        links: span_links(SpanLinksParts {
            links: vec![
                Link::new(
                    ctx(7, 8, true, true, ""),
                    vec![KeyValue::new("link.i", 1i64)],
                    0,
                ),
                Link::new(ctx(9, 10, false, false, "k=v"), vec![], 3),
            ],
            dropped_count: 1,
        }),
        status,
        instrumentation_scope: scope.clone(),
    };
    vec![
        span(0, &scope_a, Status::Unset, SpanKind::Server),
        span(1, &scope_b, Status::Ok, SpanKind::Client),
        span(
            2,
            &scope_a,
            Status::error("upstream failed"),
            SpanKind::Internal,
        ),
        span(3, &scope_b, Status::Unset, SpanKind::Producer),
        span(4, &scope_a, Status::Unset, SpanKind::Consumer),
    ]
}

fn resource() -> Resource {
    Resource::builder_empty()
        .with_schema_url(
            [
                KeyValue::new("service.name", "otel-compat"),
                KeyValue::new("host.name", "h1"),
                KeyValue::new("n", 3i64),
            ],
            "https://opentelemetry.io/schemas/1.30.0",
        )
        .build()
}

fn normalised(mut r: ExportTraceServiceRequest) -> ExportTraceServiceRequest {
    for rs in &mut r.resource_spans {
        if let Some(res) = &mut rs.resource {
            res.attributes.sort_by(|a, b| a.key.cmp(&b.key));
        }
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_exporter_sends_what_opentelemetry_otlp_sends() {
    let official = HttpCollector::start(vec![], None).await;
    let ours = HttpCollector::start(vec![], None).await;

    // opentelemetry-otlp's HTTP exporter (a blocking reqwest client: off the
    // runtime, polled by a plain executor, as the SDK's batch thread does).
    let url = official.url(false);
    std::thread::spawn(move || {
        let mut e = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url)
            .build()
            .unwrap();
        e.set_resource(&resource());
        futures_executor::block_on(e.export(batch())).unwrap();
    })
    .join()
    .unwrap();

    let flags = [format!("--tracing.otlp.http.endpoint={}", ours.url(false))];
    let config = tracewire::config::load(None, &flags, |_| None).unwrap();
    let mut e = tracewire::opentelemetry::SpanExporter::from_config(&config).unwrap();
    e.set_resource(&resource());
    e.export(batch()).await.unwrap();

    let take = |c: &HttpCollector| {
        let r = c.state.received.lock().unwrap();
        assert_eq!(r.len(), 1, "one request");
        r[0].request.clone()
    };
    let (theirs, mine) = (normalised(take(&official)), normalised(take(&ours)));
    assert_eq!(span_count(&mine), 5);
    assert_eq!(mine.resource_spans[0].scope_spans.len(), 2, "two scopes");
    assert_eq!(mine, theirs);

    // After shutdown, exports are refused.
    e.shutdown().unwrap();
    assert!(e.export(batch()).await.is_err());
}

#[test]
fn behind_the_sdk_batch_processor_outside_any_runtime() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let collector = rt.block_on(HttpCollector::start(vec![], None));
    let flags = [format!(
        "--tracing.otlp.http.endpoint={}",
        collector.url(false)
    )];
    let config = tracewire::config::load(None, &flags, |_| None).unwrap();
    // No runtime entered: the exporter starts its own.
    let exporter = tracewire::opentelemetry::SpanExporter::from_config(&config).unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder_empty()
                .with_service_name("sdk-app")
                .build(),
        )
        .build();
    let tracer = provider.tracer("sdk");
    let parent = tracer.start("parent");
    let cx = opentelemetry::Context::current_with_span(parent);
    let mut child = tracer.start_with_context("child", &cx);
    child.set_attribute(KeyValue::new("k", 1i64));
    child.end();
    cx.span().end();
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();

    let received = collector.state.received.lock().unwrap();
    let spans: Vec<_> = received
        .iter()
        .flat_map(|r| r.request.resource_spans.iter())
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter())
        .collect();
    assert_eq!(spans.len(), 2);
    let parent = spans.iter().find(|s| s.name == "parent").unwrap();
    let child = spans.iter().find(|s| s.name == "child").unwrap();
    assert_eq!(child.parent_span_id, parent.span_id);
    assert_eq!(child.trace_id, parent.trace_id);
    let res = received[0].request.resource_spans[0]
        .resource
        .as_ref()
        .unwrap();
    assert!(res
        .attributes
        .iter()
        .any(|kv| kv.key == "service.name" && format!("{:?}", kv.value).contains("sdk-app")));
}

struct SpanEventsParts {
    events: Vec<Event>,
    dropped_count: u32,
}

struct SpanLinksParts {
    links: Vec<Link>,
    dropped_count: u32,
}

/// `SpanEvents` is `#[non_exhaustive]`: built from its default.
fn span_events(p: SpanEventsParts) -> SpanEvents {
    let mut e = SpanEvents::default();
    e.events = p.events;
    e.dropped_count = p.dropped_count;
    e
}

fn span_links(p: SpanLinksParts) -> SpanLinks {
    let mut l = SpanLinks::default();
    l.links = p.links;
    l.dropped_count = p.dropped_count;
    l
}

/// With a fleet of two collectors, the exporter routes as the pipeline
/// does: every span of a trace to one member, the traces spread over both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_exporter_routes_each_trace_to_one_fleet_member() {
    let a = HttpCollector::start(vec![], None).await;
    let b = HttpCollector::start(vec![], None).await;
    let flags = [format!(
        "--tracing.otlp.http.endpoints={},{}",
        a.url(false),
        b.url(false)
    )];
    let config = tracewire::config::load(None, &flags, |_| None).unwrap();
    let e = tracewire::opentelemetry::SpanExporter::from_config(&config).unwrap();
    let template = batch().remove(0);
    // 64 traces of 3 spans each, interleaved.
    let spans: Vec<SpanData> = (0..192u64)
        .map(|i| {
            let mut s = template.clone();
            s.span_context = ctx(1_000 + u128::from(i % 64), 1 + i, true, false, "");
            s
        })
        .collect();
    e.export(spans).await.unwrap();
    let traces_at = |c: &HttpCollector| -> std::collections::HashMap<Vec<u8>, usize> {
        let mut m = std::collections::HashMap::new();
        for r in c.state.received.lock().unwrap().iter() {
            for rs in &r.request.resource_spans {
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        *m.entry(s.trace_id.clone()).or_default() += 1;
                    }
                }
            }
        }
        m
    };
    let (ta, tb) = (traces_at(&a), traces_at(&b));
    assert_eq!(ta.len() + tb.len(), 64, "every trace at exactly one member");
    assert!(
        !ta.is_empty() && !tb.is_empty(),
        "spread: {} and {}",
        ta.len(),
        tb.len()
    );
    assert!(
        ta.values().chain(tb.values()).all(|&n| n == 3),
        "whole traces"
    );
    assert!(ta.keys().all(|t| !tb.contains_key(t)));
}
