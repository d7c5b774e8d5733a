//! Self-metrics: a pipeline that exported to a real collector (one that
//! answers 503 once, so there is a retry) renders its statistics, and the
//! text is parsed by the Prometheus project's own Python client parser
//! (`prometheus_client.parser`); the parsed values must be the pipeline's
//! counts. Python 3 is required; `prometheus_client` is provisioned under
//! target/ on first use (tests/common/python.rs).

use crate::common;

use std::time::Duration;

use common::collectors::*;
use common::python::{parse_with_prometheus_client, value};
use tracewire::model::SpanKind;
use tracewire::{Pipeline, Stats};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_parse_with_prometheus_client_and_match_the_stats() {
    let collector = HttpCollector::start(
        vec![HttpReply::Status {
            code: 503,
            retry_after: None,
            body: Vec::new(),
        }],
        None,
    )
    .await;
    let flags = [
        format!("--tracing.otlp.http.endpoint={}", collector.url(false)),
        "--tracing.otlp.http.retry.initialInterval=10ms".to_owned(),
    ];
    let config = tracewire::config::load(None, &flags, |_| None).unwrap();
    let pipeline = Pipeline::from_config(&config).unwrap();
    let tracer = pipeline.tracer("metrics-test");
    for i in 0..100 {
        let mut s = tracer.start("GET /", SpanKind::Server);
        s.set_i64("i", i);
        s.end();
    }
    tokio::task::block_in_place(|| pipeline.force_flush(Duration::from_secs(10))).unwrap();
    let stats: Stats = pipeline.stats();
    assert_eq!(stats.exported, 100, "{stats:?}");
    assert!(stats.retried >= 100, "the 503 was retried: {stats:?}");

    let mut text = String::new();
    pipeline.render_metrics(&mut text);
    // The render reads the stats again; nothing changed since.
    assert_eq!(pipeline.stats(), stats);
    let families = parse_with_prometheus_client(&text);

    // prometheus_client names counter families without `_total`.
    for (family, sample, expected) in [
        (
            "tracewire_spans_recorded",
            "tracewire_spans_recorded_total",
            stats.recorded,
        ),
        (
            "tracewire_spans_exported",
            "tracewire_spans_exported_total",
            stats.exported,
        ),
        (
            "tracewire_spans_dropped",
            "tracewire_spans_dropped_total",
            stats.dropped,
        ),
        (
            "tracewire_spans_shed",
            "tracewire_spans_shed_total",
            stats.shed,
        ),
        (
            "tracewire_spans_failed",
            "tracewire_spans_failed_total",
            stats.failed,
        ),
        (
            "tracewire_spans_rejected",
            "tracewire_spans_rejected_total",
            stats.rejected,
        ),
        (
            "tracewire_spans_retried",
            "tracewire_spans_retried_total",
            stats.retried,
        ),
        (
            "tracewire_spans_sampled_out",
            "tracewire_spans_sampled_out_total",
            stats.sampled_out,
        ),
        (
            "tracewire_export_sent_bytes",
            "tracewire_export_sent_bytes_total",
            stats.bytes_sent,
        ),
        (
            "tracewire_export_requests",
            "tracewire_export_requests_total",
            stats.exports,
        ),
        (
            "tracewire_spans_queued",
            "tracewire_spans_queued",
            stats.queued,
        ),
        (
            "tracewire_exports_in_flight",
            "tracewire_exports_in_flight",
            stats.exports_in_flight,
        ),
    ] {
        assert_eq!(
            value(&families, family, sample),
            expected as f64,
            "{family}\n{text}"
        );
    }
    for (family, kind) in [
        ("tracewire_spans_exported", "counter"),
        ("tracewire_spans_queued", "gauge"),
        ("tracewire_export_duration_seconds", "histogram"),
    ] {
        assert_eq!(families[family]["type"], kind, "{family}");
        assert!(!families[family]["help"].as_str().unwrap().is_empty());
    }
    assert!(stats.bytes_sent > 0 && stats.exports >= 2, "{stats:?}");

    // The latency histogram: one observation per export call (the batch
    // and its retry are one call), the collector's requests all counted.
    let h = "tracewire_export_duration_seconds";
    let count = value(&families, h, "tracewire_export_duration_seconds_count");
    assert_eq!(count, pipeline.export_latency().count() as f64);
    assert!(count >= 1.0, "{text}");
    assert!(value(&families, h, "tracewire_export_duration_seconds_sum") > 0.0);
    let buckets: Vec<(String, f64)> = families[h]["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s[0] == "tracewire_export_duration_seconds_bucket")
        .map(|s| {
            (
                s[1]["le"].as_str().unwrap().to_owned(),
                s[2].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(buckets.len(), tracewire::LATENCY_BOUNDS.len() + 1);
    assert_eq!(buckets.last().unwrap(), &("+Inf".to_owned(), count));
    assert!(
        buckets.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative: {buckets:?}"
    );
    assert_eq!(collector.state.requests() as u64, stats.exports);

    // The same figures under OpenTelemetry's SDK self-observability names,
    // as the Prometheus parser reads them: (family, error_type, value).
    let otel = |family: &str, component: &str, error: Option<&str>| -> f64 {
        let f = families
            .get(family)
            .unwrap_or_else(|| panic!("no family {family}\n{text}"));
        let found: Vec<f64> = f["samples"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s[1]["otel_component_type"] == component
                    && s[1]["otel_component_name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(&format!("{component}/")))
                    && s[1].get("error_type").and_then(|e| e.as_str()) == error
                    && s[1].get("le").is_none()
                    && !s[0].as_str().unwrap().ends_with("_sum")
            })
            .map(|s| s[2].as_f64().unwrap())
            .collect();
        assert_eq!(found.len(), 1, "{family} {component} {error:?}: {f}");
        found[0]
    };
    let (exporter, processor) = ("otlp_http_span_exporter", "batching_span_processor");
    for (family, component, error, expected) in [
        (
            "otel_sdk_exporter_span_exported",
            exporter,
            None,
            stats.exported,
        ),
        (
            "otel_sdk_exporter_span_exported",
            exporter,
            Some("rejected"),
            stats.rejected,
        ),
        (
            "otel_sdk_exporter_span_exported",
            exporter,
            Some("failed"),
            stats.failed,
        ),
        (
            "otel_sdk_exporter_span_inflight",
            exporter,
            None,
            stats.exporting,
        ),
        (
            "otel_sdk_processor_span_processed",
            processor,
            None,
            stats.exported + stats.failed + stats.rejected,
        ),
        (
            "otel_sdk_processor_span_processed",
            processor,
            Some("queue_full"),
            stats.dropped,
        ),
        (
            "otel_sdk_processor_span_processed",
            processor,
            Some("shed"),
            stats.shed,
        ),
        (
            "otel_sdk_processor_span_queue_size",
            processor,
            None,
            stats.queued - stats.exporting,
        ),
        (
            "otel_sdk_processor_span_queue_capacity",
            processor,
            None,
            2048,
        ),
        (
            "otel_sdk_exporter_operation_duration_seconds",
            exporter,
            None,
            pipeline.export_latency().count(),
        ),
    ] {
        assert_eq!(
            otel(family, component, error),
            expected as f64,
            "{family} {error:?}\n{text}"
        );
    }
    assert_eq!(
        families["otel_sdk_exporter_span_exported"]["type"],
        "counter"
    );
    assert_eq!(families["otel_sdk_exporter_span_inflight"]["type"], "gauge");
    assert_eq!(
        families["otel_sdk_exporter_operation_duration_seconds"]["type"],
        "histogram"
    );

    pipeline
        .shutdown_async(Duration::from_secs(5))
        .await
        .unwrap();
}

#[test]
fn label_values_and_help_are_escaped_so_the_parser_reads_them_back() {
    use tracewire::metrics::{MetricType, PrometheusWriter};
    let mut text = String::new();
    let mut w = PrometheusWriter::new(&mut text);
    let endpoint = "http://a:4318/v1/traces?x=\"q\"\\n\nz";
    w.family(
        "tracewire_endpoint_spans_exported_total",
        "Spans exported, per endpoint.\nA back\\slash.",
        MetricType::Counter,
    );
    w.sample(
        "tracewire_endpoint_spans_exported_total",
        &[("endpoint", endpoint), ("protocol", "http")],
        42,
    );
    w.sample(
        "tracewire_endpoint_spans_exported_total",
        &[("endpoint", "b:4317"), ("protocol", "grpc")],
        7,
    );
    let families = parse_with_prometheus_client(&text);
    let f = &families["tracewire_endpoint_spans_exported"];
    assert_eq!(f["help"], "Spans exported, per endpoint.\nA back\\slash.");
    let samples = f["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2, "{text}");
    assert_eq!(samples[0][1]["endpoint"], endpoint);
    assert_eq!(samples[0][2], 42.0);
    assert_eq!(samples[1][1]["protocol"], "grpc");
    assert_eq!(samples[1][2], 7.0);
}

/// A fleet's per-member and per-`dns:///`-name families parse, with the
/// values of the statistics they were written from.
#[test]
fn member_and_dns_name_series_parse() {
    use tracewire::export::{DnsStats, EndpointStats};
    let members = [
        {
            let mut c = EndpointStats::default();
            c.endpoint = "10.0.0.1:4317".into();
            c.exported = 10;
            c.state = "up";
            c
        },
        {
            let mut c = EndpointStats::default();
            c.endpoint = "10.0.0.2:4317".into();
            c.failed = 3;
            c.state = "gone";
            c
        },
    ];
    let names = [{
        let mut c = DnsStats::default();
        c.name = "dns:///collectors.internal:4317".into();
        c.resolutions = 9;
        c.failures = 4;
        c.addresses = 1;
        c
    }];
    let mut text = String::new();
    tracewire::metrics::write_prometheus(
        &Stats::default(),
        &tracewire::Histogram::default(),
        &members,
        &names,
        &mut text,
    );
    let families = parse_with_prometheus_client(&text);
    let series = |family: &str, label: &str| -> Vec<(String, f64)> {
        families[family]["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s[1][label].as_str().unwrap().to_owned(),
                    s[2].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let name = "dns:///collectors.internal:4317".to_owned();
    assert_eq!(
        series("tracewire_dns_resolutions", "name"),
        [(name.clone(), 9.0)]
    );
    assert_eq!(
        series("tracewire_dns_resolution_failures", "name"),
        [(name.clone(), 4.0)]
    );
    assert_eq!(series("tracewire_dns_addresses", "name"), [(name, 1.0)]);
    assert_eq!(families["tracewire_dns_addresses"]["type"], "gauge");
    assert_eq!(
        series("tracewire_endpoint_up", "endpoint"),
        [
            ("10.0.0.1:4317".to_owned(), 1.0),
            ("10.0.0.2:4317".to_owned(), 0.0)
        ]
    );
    assert_eq!(
        series("tracewire_endpoint_spans_failed", "endpoint")[1],
        ("10.0.0.2:4317".to_owned(), 3.0)
    );
}

/// With a fleet, each member gets its own labelled series, which
/// prometheus_client reads back, and they add up to the pipeline's totals;
/// the OpenTelemetry SDK exporter routes the same way (feature
/// `opentelemetry`, tested in tests/it/opentelemetry.rs without a fleet).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_has_one_series_per_member() {
    let a = HttpCollector::start(vec![], None).await;
    let b = HttpCollector::start(vec![], None).await;
    let flags = [format!(
        "--tracing.otlp.http.endpoints={},{}",
        a.url(false),
        b.url(false)
    )];
    let config = tracewire::config::load(None, &flags, |_| None).unwrap();
    let pipeline = Pipeline::from_config(&config).unwrap();
    let tracer = pipeline.tracer("metrics-fleet");
    for _ in 0..400 {
        tracer.start("GET /", SpanKind::Server).end();
    }
    tokio::task::block_in_place(|| pipeline.force_flush(Duration::from_secs(10))).unwrap();
    let mut text = String::new();
    pipeline.render_metrics(&mut text);
    let families = parse_with_prometheus_client(&text);
    let series = |family: &str| -> Vec<(String, f64)> {
        families
            .get(family)
            .unwrap_or_else(|| panic!("no {family} in\n{text}"))["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s[1]["endpoint"].as_str().unwrap().to_owned(),
                    s[2].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let exported = series("tracewire_endpoint_spans_exported");
    assert_eq!(exported.len(), 2, "{exported:?}");
    assert_eq!(exported.iter().map(|(_, v)| v).sum::<f64>(), 400.0);
    for (endpoint, v) in &exported {
        let got = if endpoint.contains(&a.addr.port().to_string()) {
            a.state.accepted_spans()
        } else {
            b.state.accepted_spans()
        };
        assert_eq!(*v, got as f64, "{endpoint}");
    }
    let up = series("tracewire_endpoint_up");
    assert!(up.iter().all(|(_, v)| *v == 1.0), "{up:?}");
    assert_eq!(families["tracewire_endpoint_up"]["type"], "gauge");
    pipeline
        .shutdown_async(Duration::from_secs(5))
        .await
        .unwrap();
}
