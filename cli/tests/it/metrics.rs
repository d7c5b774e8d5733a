//! `tracewire load --metrics`: its Prometheus text, parsed by the
//! Prometheus project's Python client.

use serde_json::Value;

use crate::common::collectors::*;
use crate::common::python::{parse_with_prometheus_client, value};

/// `tracewire load --metrics` prints the same figures as its JSON summary,
/// in text prometheus_client parses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_prints_the_metrics() {
    let collector = HttpCollector::start(vec![], None).await;
    let url = collector.url(false);
    let out = tokio::task::spawn_blocking(move || {
        let mut c = crate::tracewire();
        for (k, _) in std::env::vars() {
            if k.starts_with("OTEL_") {
                c.env_remove(k);
            }
        }
        c.args(["load", "--spans", "2000", "--metrics", "--json"])
            .arg(format!("--tracing.otlp.http.endpoint={url}"))
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The JSON summary is the last line; the metrics come before it.
    let (text, summary) = stdout.trim_end().rsplit_once('\n').unwrap();
    let summary: Value = serde_json::from_str(summary).unwrap();
    let start = text.find("# HELP").expect("metrics in the output");
    let families = parse_with_prometheus_client(&text[start..]);
    assert_eq!(summary["exported"], 2000);
    for (family, sample, key) in [
        (
            "tracewire_spans_exported",
            "tracewire_spans_exported_total",
            "exported",
        ),
        (
            "tracewire_spans_recorded",
            "tracewire_spans_recorded_total",
            "recorded",
        ),
        (
            "tracewire_export_requests",
            "tracewire_export_requests_total",
            "requests",
        ),
        (
            "tracewire_export_sent_bytes",
            "tracewire_export_sent_bytes_total",
            "bytes",
        ),
    ] {
        assert_eq!(
            value(&families, family, sample),
            summary[key].as_u64().unwrap() as f64,
            "{family}"
        );
    }
    assert_eq!(collector.state.accepted_spans(), 2000);
}
