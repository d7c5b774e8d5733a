//! The same statistics under OpenTelemetry's SDK self-observability names
//! (semantic conventions `otel.sdk.*`), in their Prometheus form: dots
//! become underscores, counters end in `_total`, `s` becomes `_seconds`,
//! and the attributes `otel.component.type`, `otel.component.name` and
//! `error.type` become the labels `otel_component_type`,
//! `otel_component_name` and `error_type`.
//!
//! A pipeline is two components in that convention: a
//! `batching_span_processor` (the span logs and the worker) and an exporter
//! (`otlp_grpc_span_exporter`, `otlp_http_span_exporter`, or a custom
//! exporter's [`component_type`](crate::export::Exporter::component_type)), each
//! named `TYPE/N` with the pipeline's number `N`.
//!
//! The mapping is in [`write_otel_prometheus`]'s documentation.
//!
//! This module, like its parent, only formats a snapshot: it never reads
//! counters itself and never runs on a recording path.

use super::prometheus::{MetricType, PrometheusWriter};
use crate::stats::{Histogram, Stats};

/// `otel.component.type` of the span logs and their batching worker.
const PROCESSOR_TYPE: &str = "batching_span_processor";

/// What the OpenTelemetry names say about a pipeline's parts, for
/// [`write_otel_prometheus`].
///
/// ```
/// let c = tracewire::metrics::Components::new("otlp_grpc_span_exporter", 0, 2048);
/// assert_eq!(c.exporter_type, "otlp_grpc_span_exporter");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Components {
    /// `otel.component.type` of the exporter.
    pub exporter_type: &'static str,
    /// The pipeline's number in this process: `otel.component.name` is
    /// `TYPE/N`.
    pub instance: u64,
    /// The span queue's capacity (`tracing.batch.maxQueueSize`).
    pub queue_capacity: u64,
}

impl Components {
    /// Components of pipeline number `instance` with an exporter of type
    /// `exporter_type` and a queue of `queue_capacity` spans.
    pub fn new(exporter_type: &'static str, instance: u64, queue_capacity: u64) -> Self {
        Components {
            exporter_type,
            instance,
            queue_capacity,
        }
    }
}

/// Writes `stats` and `export_latency` under OpenTelemetry's SDK
/// self-observability names to `out`, in the Prometheus text format: dots
/// become underscores, counters end in `_total`, `s` becomes `_seconds`;
/// the labels are `otel_component_type` (`batching_span_processor`, or the
/// exporter's [`component_type`](crate::export::Exporter::component_type)),
/// `otel_component_name` (`TYPE/N`, `N` the pipeline's number) and
/// `error_type`.
///
/// | OpenTelemetry name | Prometheus family | from |
/// |---|---|---|
/// | `otel.sdk.processor.span.processed` | `otel_sdk_processor_span_processed_total` | handed to the exporter and resolved: `exported + failed + rejected`; `error_type="queue_full"`: `dropped`; `error_type="shed"`: `shed` |
/// | `otel.sdk.processor.span.queue.size` | `otel_sdk_processor_span_queue_size` | `queued - exporting` (spans in the logs) |
/// | `otel.sdk.processor.span.queue.capacity` | `otel_sdk_processor_span_queue_capacity` | `tracing.batch.maxQueueSize` |
/// | `otel.sdk.exporter.span.inflight` | `otel_sdk_exporter_span_inflight` | `exporting` |
/// | `otel.sdk.exporter.span.exported` | `otel_sdk_exporter_span_exported_total` | `exported`; `error_type="rejected"`: `rejected`; `error_type="failed"`: `failed` |
/// | `otel.sdk.exporter.operation.duration` | `otel_sdk_exporter_operation_duration_seconds` | the export latency histogram (one observation per batch, retries included) |
///
/// Not written: `otel.sdk.span.started` and `otel.sdk.span.live`, which
/// need a count of open spans; tracewire counts a span when it ends (or is
/// sampled out or shed) and keeps no shared counter a recording thread
/// would touch per span.
///
///
/// [`Pipeline::render_metrics`](crate::Pipeline::render_metrics) writes
/// these after the `tracewire_*` families.
///
/// ```
/// use tracewire::metrics::{write_otel_prometheus, Components};
/// let mut text = String::new();
/// let c = Components::new("otlp_http_span_exporter", 0, 2048);
/// write_otel_prometheus(&Default::default(), &Default::default(), &c, &mut text);
/// assert!(text.contains(
///     "otel_sdk_exporter_span_exported_total{otel_component_type=\"otlp_http_span_exporter\",\
///      otel_component_name=\"otlp_http_span_exporter/0\"} 0\n"
/// ));
/// assert!(text.contains("otel_sdk_processor_span_queue_capacity{otel_component_type=\"batching_span_processor\",otel_component_name=\"batching_span_processor/0\"} 2048\n"));
/// ```
pub fn write_otel_prometheus(
    stats: &Stats,
    export_latency: &Histogram,
    components: &Components,
    out: &mut String,
) {
    let processor_name = format!("{PROCESSOR_TYPE}/{}", components.instance);
    let exporter_name = format!("{}/{}", components.exporter_type, components.instance);
    let processor = [
        ("otel_component_type", PROCESSOR_TYPE),
        ("otel_component_name", processor_name.as_str()),
    ];
    let exporter = [
        ("otel_component_type", components.exporter_type),
        ("otel_component_name", exporter_name.as_str()),
    ];
    fn with_error<'l>(
        labels: &[(&'static str, &'l str); 2],
        error: &'l str,
    ) -> [(&'static str, &'l str); 3] {
        [labels[0], labels[1], ("error_type", error)]
    }
    let mut w = PrometheusWriter::new(out);

    let name = "otel_sdk_processor_span_processed_total";
    w.family(
        name,
        "Spans the batching processor finished with: handed to the exporter and resolved, \
         or dropped (error_type queue_full) or shed under overload (error_type shed).",
        MetricType::Counter,
    );
    w.sample(
        name,
        &processor,
        stats.exported + stats.failed + stats.rejected,
    );
    w.sample(name, &with_error(&processor, "queue_full"), stats.dropped);
    w.sample(name, &with_error(&processor, "shed"), stats.shed);

    let in_logs = stats.queued.saturating_sub(stats.exporting);
    let name = "otel_sdk_processor_span_queue_size";
    w.family(
        name,
        "Spans waiting in the batching processor's queue (the span logs).",
        MetricType::Gauge,
    );
    w.sample(name, &processor, in_logs);
    let name = "otel_sdk_processor_span_queue_capacity";
    w.family(
        name,
        "Spans the batching processor's queue holds at most (tracing.batch.maxQueueSize).",
        MetricType::Gauge,
    );
    w.sample(name, &processor, components.queue_capacity);

    let name = "otel_sdk_exporter_span_inflight";
    w.family(
        name,
        "Spans taken for export and not yet resolved (being batched or in a request).",
        MetricType::Gauge,
    );
    w.sample(name, &exporter, stats.exporting);
    let name = "otel_sdk_exporter_span_exported_total";
    w.family(
        name,
        "Spans the exporter finished with: accepted, refused by the collector \
         (error_type rejected) or lost after retries (error_type failed).",
        MetricType::Counter,
    );
    w.sample(name, &exporter, stats.exported);
    w.sample(name, &with_error(&exporter, "rejected"), stats.rejected);
    w.sample(name, &with_error(&exporter, "failed"), stats.failed);

    w.histogram(
        "otel_sdk_exporter_operation_duration_seconds",
        "How long exporting a batch took, retries and backoff included.",
        &exporter,
        export_latency,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_written_once_with_both_components() {
        let s = Stats {
            exported: 7,
            failed: 2,
            rejected: 1,
            dropped: 3,
            shed: 4,
            queued: 10,
            exporting: 6,
            ..Stats::default()
        };
        let mut text = String::new();
        let c = Components::new("otlp_grpc_span_exporter", 3, 100);
        write_otel_prometheus(&s, &Histogram::default(), &c, &mut text);
        let p = "{otel_component_type=\"batching_span_processor\",otel_component_name=\"batching_span_processor/3\"";
        let e = "{otel_component_type=\"otlp_grpc_span_exporter\",otel_component_name=\"otlp_grpc_span_exporter/3\"";
        for line in [
            format!("otel_sdk_processor_span_processed_total{p}}} 10"),
            format!("otel_sdk_processor_span_processed_total{p},error_type=\"queue_full\"}} 3"),
            format!("otel_sdk_processor_span_processed_total{p},error_type=\"shed\"}} 4"),
            format!("otel_sdk_processor_span_queue_size{p}}} 4"),
            format!("otel_sdk_processor_span_queue_capacity{p}}} 100"),
            format!("otel_sdk_exporter_span_inflight{e}}} 6"),
            format!("otel_sdk_exporter_span_exported_total{e}}} 7"),
            format!("otel_sdk_exporter_span_exported_total{e},error_type=\"rejected\"}} 1"),
            format!("otel_sdk_exporter_span_exported_total{e},error_type=\"failed\"}} 2"),
            format!("otel_sdk_exporter_operation_duration_seconds_count{e}}} 0"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert_eq!(text.matches("# TYPE ").count(), 6, "{text}");
    }
}
