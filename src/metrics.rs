//! Self-metrics: a pipeline's [`Stats`] in the Prometheus text exposition
//! format (version 0.0.4), for a `/metrics` endpoint or a log line.
//!
//! This module owns the metric names, their help texts and the text
//! format (escaping, `# HELP` / `# TYPE` lines, cumulative histogram
//! buckets). It reads a [`Stats`] snapshot and writes text; it must never
//! read counters itself, allocate beyond the caller's `String`, or be
//! called on a recording path (it runs when a scraper asks).
//!
//! Names follow Prometheus' conventions and OpenTelemetry's: a `tracewire_`
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

use std::fmt::Write as _;

use crate::export::{DnsStats, EndpointStats};
use crate::shared::stats::{Histogram, Stats, LATENCY_BOUNDS};

/// A Prometheus metric type, as written on its `# TYPE` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetricType {
    /// Only grows (its name ends in `_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Cumulative buckets, a sum and a count.
    Histogram,
}

impl MetricType {
    fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

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

/// Writes metric families in the Prometheus text format into a `String`.
///
/// ```
/// use tracewire::metrics::{MetricType, PrometheusWriter};
/// let mut text = String::new();
/// let mut w = PrometheusWriter::new(&mut text);
/// w.family("tracewire_endpoint_spans_exported_total", "Spans exported, per endpoint.", MetricType::Counter);
/// w.sample("tracewire_endpoint_spans_exported_total", &[("endpoint", "http://a:4318")], 7);
/// assert!(text.ends_with("tracewire_endpoint_spans_exported_total{endpoint=\"http://a:4318\"} 7\n"));
/// ```
#[derive(Debug)]
pub struct PrometheusWriter<'a> {
    out: &'a mut String,
}

impl<'a> PrometheusWriter<'a> {
    /// A writer appending to `out`.
    ///
    /// ```
    /// let mut s = String::new();
    /// let _w = tracewire::metrics::PrometheusWriter::new(&mut s);
    /// ```
    pub fn new(out: &'a mut String) -> Self {
        PrometheusWriter { out }
    }

    /// Starts a metric family: its `# HELP` and `# TYPE` lines. Write each
    /// family once, then all its samples.
    ///
    /// ```
    /// # use tracewire::metrics::{MetricType, PrometheusWriter};
    /// let mut s = String::new();
    /// PrometheusWriter::new(&mut s).family("x_total", "An x.\nTwo lines.", MetricType::Counter);
    /// assert_eq!(s, "# HELP x_total An x.\\nTwo lines.\n# TYPE x_total counter\n");
    /// ```
    pub fn family(&mut self, name: &str, help: &str, kind: MetricType) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        for c in help.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                c => self.out.push(c),
            }
        }
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind.as_str());
        self.out.push('\n');
    }

    /// One sample line: `name{labels} value`. Label values are escaped.
    ///
    /// ```
    /// # use tracewire::metrics::PrometheusWriter;
    /// let mut s = String::new();
    /// PrometheusWriter::new(&mut s).sample("x_total", &[("to", "a\"b")], 3);
    /// assert_eq!(s, "x_total{to=\"a\\\"b\"} 3\n");
    /// ```
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// A whole histogram family (`_bucket` lines with cumulative counts up
    /// to `+Inf`, `_sum` in seconds, `_count`) for one label set. For
    /// several label sets, write the family line yourself and call
    /// [`histogram_samples`](Self::histogram_samples) per set.
    ///
    /// ```
    /// # use tracewire::metrics::PrometheusWriter;
    /// let mut s = String::new();
    /// PrometheusWriter::new(&mut s).histogram("d_seconds", "D.", &[], &Default::default());
    /// assert!(s.contains("d_seconds_bucket{le=\"+Inf\"} 0\n"));
    /// ```
    pub fn histogram(&mut self, name: &str, help: &str, labels: &[(&str, &str)], h: &Histogram) {
        self.family(name, help, MetricType::Histogram);
        self.histogram_samples(name, labels, h);
    }

    /// A histogram's sample lines for one label set (no `# HELP`/`# TYPE`).
    ///
    /// ```
    /// # use tracewire::metrics::PrometheusWriter;
    /// let mut s = String::new();
    /// PrometheusWriter::new(&mut s).histogram_samples("d_seconds", &[("e", "a")], &Default::default());
    /// assert!(s.contains("d_seconds_count{e=\"a\"} 0\n"));
    /// ```
    pub fn histogram_samples(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let mut cumulative = 0u64;
        for (i, count) in h.buckets.iter().enumerate() {
            cumulative += count;
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(LATENCY_BOUNDS.get(i).copied()));
            let _ = writeln!(self.out, " {cumulative}");
        }
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", h.sum_nanos as f64 / 1e9);
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {cumulative}");
    }

    /// `{k="v",...}`, with a last `le` label when `le` is given (`None`
    /// inside for `+Inf`).
    fn labels(&mut self, labels: &[(&str, &str)], le: Option<Option<f64>>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        for (i, (k, v)) in labels.iter().copied().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(k);
            self.out.push_str("=\"");
            for c in v.chars() {
                match c {
                    '\\' => self.out.push_str("\\\\"),
                    '"' => self.out.push_str("\\\""),
                    '\n' => self.out.push_str("\\n"),
                    c => self.out.push(c),
                }
            }
            self.out.push('"');
        }
        if let Some(le) = le {
            if !labels.is_empty() {
                self.out.push(',');
            }
            let _ = match le {
                Some(bound) => write!(self.out, "le=\"{bound}\""),
                None => write!(self.out, "le=\"+Inf\""),
            };
        }
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.buckets[0] = 2;
        h.buckets[3] = 1;
        h.buckets[LATENCY_BOUNDS.len()] = 4;
        h.sum_nanos = 1_500_000_000;
        let mut s = String::new();
        PrometheusWriter::new(&mut s).histogram_samples("d", &[], &h);
        assert!(s.contains("d_bucket{le=\"0.0005\"} 2\n"), "{s}");
        assert!(s.contains("d_bucket{le=\"0.005\"} 3\n"), "{s}");
        assert!(s.contains("d_bucket{le=\"10\"} 3\n"), "{s}");
        assert!(s.contains("d_bucket{le=\"+Inf\"} 7\n"), "{s}");
        assert!(s.contains("d_sum 1.5\n"), "{s}");
        assert!(s.contains("d_count 7\n"), "{s}");
    }

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
