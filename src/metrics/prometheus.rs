//! The Prometheus text exposition format (version 0.0.4): `# HELP` /
//! `# TYPE` lines, label escaping, cumulative histogram buckets. Knows no
//! metric names; it must never allocate beyond the caller's `String`.

use std::fmt::Write as _;

use crate::stats::{Histogram, LATENCY_BOUNDS};

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
    /// A writer appending to `out` (what it holds stays in front).
    ///
    /// ```
    /// let mut s = String::from("# from the application\n");
    /// tracewire::metrics::PrometheusWriter::new(&mut s).sample("x_total", &[], 1);
    /// assert_eq!(s, "# from the application\nx_total 1\n");
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
}
