//! Self-metrics: a pipeline's [`Stats`] in the Prometheus text exposition
//! format (version 0.0.4), for a `/metrics` endpoint or a log line.
//!
//! This module owns the metric names, their help texts and the text
//! format (escaping, `# HELP` / `# TYPE` lines, cumulative histogram
//! buckets). It reads a [`Stats`] snapshot and writes text; it must never
//! read counters itself, allocate beyond the caller's `String`, or be
//! called on a recording path (it runs when a scraper asks).
//!
//! [`Pipeline::render_metrics`](crate::Pipeline::render_metrics) writes
//! two sets: tracewire's own (below) and the same figures under
//! OpenTelemetry's SDK self-observability names (`otel_sdk_*`, see
//! [`write_otel_prometheus`] for the mapping).
//!
//! tracewire's names follow Prometheus' conventions and OpenTelemetry's: a `tracewire_`
//! prefix, the unit in the name (`_seconds`, `_bytes`), `_total` on
//! counters. Adding a counter is one entry in the `COUNTERS` table, a
//! per-endpoint series one entry in `PER_ENDPOINT`; other labelled series
//! are a [`PrometheusWriter::family`] followed by one
//! [`PrometheusWriter::sample`] per label set.
//!
//! ```
//! let mut text = String::new();
//! let (stats, latency) = (tracewire::Stats::default(), tracewire::Histogram::default());
//! tracewire::metrics::write_prometheus(&stats, &latency, &[], &[], &mut text);
//! assert!(text.contains("# TYPE tracewire_spans_exported_total counter\n"));
//! assert!(text.contains("tracewire_spans_exported_total 0\n"));
//! ```

mod otel;
mod prometheus;

pub use otel::{write_otel_prometheus, Components};
pub use prometheus::{MetricType, PrometheusWriter};

use crate::export::{DnsStats, EndpointStats};
use crate::stats::{Histogram, Stats};

/// One unlabelled metric read from a [`Stats`] snapshot.
struct Scalar {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    read: fn(&Stats) -> u64,
}

const fn counter(name: &'static str, help: &'static str, read: fn(&Stats) -> u64) -> Scalar {
    Scalar {
        name,
        help,
        kind: MetricType::Counter,
        read,
    }
}

const fn gauge(name: &'static str, help: &'static str, read: fn(&Stats) -> u64) -> Scalar {
    Scalar {
        name,
        help,
        kind: MetricType::Gauge,
        read,
    }
}

/// Every unlabelled metric, one entry each (adding one is one entry).
const COUNTERS: &[Scalar] = &[
    counter(
        "tracewire_spans_recorded_total",
        "Sampled spans that ended, and spans shed under overload.",
        |s| s.recorded,
    ),
    counter(
        "tracewire_spans_sampled_out_total",
        "Spans the sampler left out (never encoded).",
        |s| s.sampled_out,
    ),
    counter(
        "tracewire_spans_exported_total",
        "Spans the collector accepted.",
        |s| s.exported,
    ),
    counter(
        "tracewire_spans_dropped_total",
        "Spans dropped: no room in the queue, or the pipeline shut down.",
        |s| s.dropped,
    ),
    counter(
        "tracewire_spans_shed_total",
        "Spans of traces shed whole under overload (tracing.batch.shedding).",
        |s| s.shed,
    ),
    counter(
        "tracewire_spans_failed_total",
        "Spans whose export failed for good.",
        |s| s.failed,
    ),
    counter(
        "tracewire_spans_rejected_total",
        "Spans the collector refused (partial success).",
        |s| s.rejected,
    ),
    counter(
        "tracewire_spans_retried_total",
        "Span sends repeated after a retryable failure.",
        |s| s.retried,
    ),
    gauge(
        "tracewire_spans_queued",
        "Spans recorded and not yet resolved (queued, batching or in flight).",
        |s| s.queued,
    ),
    counter(
        "tracewire_export_sent_bytes_total",
        "Request bytes written to the collector (after compression, retries included).",
        |s| s.bytes_sent,
    ),
    counter(
        "tracewire_export_requests_total",
        "Export requests sent, retries included.",
        |s| s.exports,
    ),
    gauge(
        "tracewire_exports_in_flight",
        "Export calls in progress.",
        |s| s.exports_in_flight,
    ),
];

/// Writes `stats`, `export_latency` (see
/// [`Pipeline::export_latency`](crate::Pipeline::export_latency)) and
/// `endpoints` (see [`Pipeline::endpoint_stats`](crate::Pipeline::endpoint_stats):
/// empty with one collector) to `out` in the Prometheus text exposition
/// format: every counter and gauge, the export latency histogram
/// (`tracewire_export_duration_seconds`), then, with a fleet, one series
/// per member of each `tracewire_endpoint_*` family, labelled
/// `endpoint="host:port"`, and one series per `dns:///` name of each
/// `tracewire_dns_*` family (see
/// [`Pipeline::dns_stats`](crate::Pipeline::dns_stats)), labelled
/// `name="dns:///host:port"`.
/// [`Pipeline::render_metrics`](crate::Pipeline::render_metrics) is this
/// with the pipeline's figures now.
///
/// ```
/// let mut text = String::new();
/// let (stats, latency) = (tracewire::Stats::default(), tracewire::Histogram::default());
/// tracewire::metrics::write_prometheus(&stats, &latency, &[], &[], &mut text);
/// assert!(text.contains("tracewire_export_duration_seconds_count 0\n"));
/// ```
pub fn write_prometheus(
    stats: &Stats,
    export_latency: &Histogram,
    endpoints: &[EndpointStats],
    dns: &[DnsStats],
    out: &mut String,
) {
    let mut w = PrometheusWriter::new(out);
    for m in COUNTERS {
        w.family(m.name, m.help, m.kind);
        w.sample(m.name, &[], (m.read)(stats));
    }
    w.histogram(
        "tracewire_export_duration_seconds",
        "How long export calls took, retries and backoff included.",
        &[],
        export_latency,
    );
    labelled(&mut w, PER_ENDPOINT, "endpoint", endpoints, |e| &e.endpoint);
    labelled(&mut w, PER_DNS_NAME, "name", dns, |d| &d.name);
}

/// Writes each family of `families` with one series per item of `items`,
/// labelled `label="..."` (nothing when `items` is empty).
fn labelled<T>(
    w: &mut PrometheusWriter<'_>,
    families: &[Labelled<T>],
    label: &str,
    items: &[T],
    value: fn(&T) -> &str,
) {
    if items.is_empty() {
        return;
    }
    for m in families {
        w.family(m.name, m.help, m.kind);
        for item in items {
            w.sample(m.name, &[(label, value(item))], (m.read)(item));
        }
    }
}

/// A family with one labelled series per fleet member or `dns:///` name,
/// read from its [`EndpointStats`] or [`DnsStats`].
struct Labelled<T> {
    name: &'static str,
    help: &'static str,
    kind: MetricType,
    read: fn(&T) -> u64,
}

const fn endpoint_counter(
    name: &'static str,
    help: &'static str,
    read: fn(&EndpointStats) -> u64,
) -> Labelled<EndpointStats> {
    Labelled {
        name,
        help,
        kind: MetricType::Counter,
        read,
    }
}

/// Every per-name family of a fleet's `dns:///` names.
const PER_DNS_NAME: &[Labelled<DnsStats>] = &[
    Labelled {
        name: "tracewire_dns_resolutions_total",
        help: "Re-resolutions of a dns:/// fleet name since start.",
        kind: MetricType::Counter,
        read: |d| d.resolutions,
    },
    Labelled {
        name: "tracewire_dns_resolution_failures_total",
        help: "Re-resolutions of a dns:/// fleet name that failed (members kept, retried).",
        kind: MetricType::Counter,
        read: |d| d.failures,
    },
    Labelled {
        name: "tracewire_dns_addresses",
        help: "Addresses a dns:/// fleet name resolved to the last time it resolved.",
        kind: MetricType::Gauge,
        read: |d| d.addresses,
    },
];

/// Every per-member family, one entry each (adding one is one entry).
const PER_ENDPOINT: &[Labelled<EndpointStats>] = &[
    endpoint_counter(
        "tracewire_endpoint_spans_exported_total",
        "Spans a fleet member accepted.",
        |e| e.exported,
    ),
    endpoint_counter(
        "tracewire_endpoint_spans_failed_total",
        "Spans whose export to a fleet member failed (failed-over ones included).",
        |e| e.failed,
    ),
    endpoint_counter(
        "tracewire_endpoint_spans_rejected_total",
        "Spans a fleet member refused (partial success).",
        |e| e.rejected,
    ),
    endpoint_counter(
        "tracewire_endpoint_spans_retried_total",
        "Span sends to a fleet member repeated after a retryable failure.",
        |e| e.retried,
    ),
    endpoint_counter(
        "tracewire_endpoint_sent_bytes_total",
        "Request bytes written to a fleet member.",
        |e| e.bytes_sent,
    ),
    Labelled {
        name: "tracewire_endpoint_up",
        help: "1 while a fleet member takes exports, 0 while it is down or gone.",
        kind: MetricType::Gauge,
        read: |e| u64::from(e.state == "up"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_name_is_unique_and_conventional() {
        for (i, m) in COUNTERS.iter().enumerate() {
            assert!(m.name.starts_with("tracewire_"), "{}", m.name);
            assert_eq!(
                m.kind == MetricType::Counter,
                m.name.ends_with("_total"),
                "{}",
                m.name
            );
            assert!(
                COUNTERS[i + 1..].iter().all(|o| o.name != m.name),
                "{}",
                m.name
            );
        }
    }
}
