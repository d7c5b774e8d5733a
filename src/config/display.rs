//! Showing a resolved configuration: what `tracewire config check` prints,
//! in Traefik's layout, with every header value redacted.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::meaning::types::Config;
use crate::sampling::Sampler;
use crate::transport::Protocol;

impl Config {
    /// The resolved configuration as YAML, in Traefik's layout, with every
    /// header value redacted: what `tracewire config check` prints.
    ///
    /// ```
    /// let mut c = tracewire::config::Config::default();
    /// let mut v = http::HeaderValue::from_static("Bearer s3cret");
    /// v.set_sensitive(true);
    /// c.exporter.headers.push(("authorization".parse().unwrap(), v));
    /// let shown = c.to_redacted_yaml();
    /// assert!(shown.contains("authorization: <redacted>"));
    /// assert!(!shown.contains("s3cret"));
    /// ```
    pub fn to_redacted_yaml(&self) -> String {
        let mut s = String::new();
        let q = yaml_quote;
        let _ = writeln!(s, "tracing:");
        let _ = writeln!(s, "  enabled: {}", self.enabled);
        let _ = writeln!(s, "  serviceName: {}", q(&self.service_name));
        let _ = writeln!(s, "  sampler: {}", describe_sampler(&self.sampler));
        let _ = writeln!(s, "  addInternals: {}", self.add_internals);
        let _ = writeln!(
            s,
            "  # propagators (OTEL_PROPAGATORS): {}",
            self.propagators
        );
        let list = |s: &mut String, name: &str, items: &[String]| {
            if items.is_empty() {
                let _ = writeln!(s, "  {name}: []");
            } else {
                let _ = writeln!(s, "  {name}:");
                for i in items {
                    let _ = writeln!(s, "    - {}", q(i));
                }
            }
        };
        if self.resource_attributes.is_empty() {
            let _ = writeln!(s, "  resourceAttributes: {{}}");
        } else {
            let _ = writeln!(s, "  resourceAttributes:");
            for (k, v) in &self.resource_attributes {
                let _ = writeln!(s, "    {}: {}", q(k), q(v));
            }
        }
        list(
            &mut s,
            "capturedRequestHeaders",
            &self.captured_request_headers,
        );
        list(
            &mut s,
            "capturedResponseHeaders",
            &self.captured_response_headers,
        );
        list(&mut s, "safeQueryParams", &self.safe_query_params);
        let e = &self.exporter;
        let _ = writeln!(s, "  otlp:");
        let shown = |ep: &crate::endpoint::Endpoint| match (e.protocol, ep.via()) {
            (Protocol::Grpc, crate::endpoint::Via::Host) => ep.authority(),
            _ => ep.to_string(),
        };
        let _ = match e.protocol {
            Protocol::Http => writeln!(s, "    http:"),
            Protocol::Grpc => writeln!(s, "    grpc:"),
        };
        if e.fleet.is_empty() {
            let _ = writeln!(s, "      endpoint: {}", q(&shown(&e.endpoint)));
        } else {
            let _ = writeln!(s, "      endpoints:");
            for ep in std::iter::once(&e.endpoint).chain(&e.fleet) {
                let _ = writeln!(s, "        - {}", q(&shown(ep)));
            }
        }
        if e.protocol == Protocol::Grpc {
            let _ = writeln!(s, "      insecure: {}", !e.endpoint.is_tls());
            let _ = writeln!(s, "      dnsRefreshInterval: {:?}", e.dns_refresh);
            let _ = writeln!(s, "      keepAliveTime: {:?}", e.keep_alive);
            let _ = writeln!(s, "      keepAliveTimeout: {:?}", e.keep_alive_timeout);
        }
        let _ = writeln!(s, "      maxConnectionAge: {:?}", e.max_connection_age);
        if e.headers.is_empty() {
            let _ = writeln!(s, "      headers: {{}}");
        } else {
            let _ = writeln!(s, "      headers:");
            for (k, _) in &e.headers {
                let _ = writeln!(s, "        {}: <redacted>", k.as_str());
            }
        }
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or("null".to_owned(), |p| q(&p.display().to_string()))
        };
        let _ = writeln!(s, "      tls:");
        let _ = writeln!(s, "        ca: {}", path(&e.tls.ca));
        let _ = writeln!(s, "        cert: {}", path(&e.tls.cert));
        let _ = writeln!(s, "        key: {}", path(&e.tls.key));
        let _ = writeln!(
            s,
            "        insecureSkipVerify: {}",
            e.tls.insecure_skip_verify
        );
        let _ = writeln!(s, "      compression: {}", e.compression.as_str());
        let _ = writeln!(s, "      timeout: {:?}", e.timeout);
        let _ = writeln!(s, "      connectTimeout: {:?}", e.connect_timeout);
        let _ = writeln!(s, "      retry:");
        let _ = writeln!(s, "        enabled: {}", e.retry.enabled);
        let _ = writeln!(s, "        initialInterval: {:?}", e.retry.initial_backoff);
        let _ = writeln!(s, "        maxInterval: {:?}", e.retry.max_backoff);
        let _ = writeln!(s, "        maxElapsedTime: {:?}", e.retry.max_elapsed);
        let b = &self.batch;
        let _ = writeln!(s, "  batch:");
        let _ = writeln!(s, "    maxQueueSize: {}", b.max_queue_size);
        let _ = writeln!(s, "    maxExportBatchSize: {}", b.max_export_batch_size);
        let _ = writeln!(s, "    scheduleDelay: {:?}", b.scheduled_delay);
        let _ = writeln!(s, "    exportTimeout: {:?}", b.export_timeout);
        let _ = writeln!(s, "    maxConcurrentExports: {}", b.max_concurrent_exports);
        let _ = writeln!(s, "    shedding: {}", b.shedding);
        let _ = writeln!(s, "    workerPriority: {}", b.worker_priority);
        match b.max_export_bytes {
            Some(n) => {
                let _ = writeln!(s, "    maxExportBytes: {n}");
            }
            None => {
                let _ = writeln!(s, "    maxExportBytes: null # the transport's default");
            }
        }
        let l = &self.limits;
        let _ = writeln!(s, "  spanLimits:");
        let _ = writeln!(s, "    attributeCountLimit: {}", l.max_attributes_per_span);
        let _ = writeln!(s, "    eventCountLimit: {}", l.max_events_per_span);
        let _ = writeln!(s, "    linkCountLimit: {}", l.max_links_per_span);
        let _ = writeln!(
            s,
            "    eventAttributeCountLimit: {}",
            l.max_attributes_per_event
        );
        let _ = writeln!(
            s,
            "    linkAttributeCountLimit: {}",
            l.max_attributes_per_link
        );
        let _ = writeln!(
            s,
            "    attributeValueLengthLimit: {}",
            l.max_attribute_value_length
                .map_or("null".into(), |v| v.to_string())
        );
        s
    }
}

/// A YAML double-quoted scalar: `"` and `\` escaped, control characters
/// as YAML's `\xNN` / `\uNNNN` escapes (Rust's `{:?}` writes `\u{1b}`, which
/// YAML does not read), everything else as is.
fn yaml_quote(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c == '\u{feff}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn describe_sampler(s: &Sampler) -> String {
    use crate::sampling::RootSampler;
    let root = |r: &RootSampler| match r {
        RootSampler::AlwaysOn => "always_on".to_owned(),
        RootSampler::AlwaysOff => "always_off".to_owned(),
        RootSampler::Ratio(r) => format!("traceidratio({})", r.ratio()),
        RootSampler::Probability(p) => format!(
            "probability({}, th:{})",
            p.probability(),
            p.threshold().th().as_str()
        ),
    };
    match s {
        Sampler::AlwaysOn => "always_on".into(),
        Sampler::AlwaysOff => "always_off".into(),
        Sampler::TraceIdRatio(r) => format!("traceidratio({})", r.ratio()),
        Sampler::Probability(p) => root(&RootSampler::Probability(*p)),
        Sampler::ParentBased { root: r } => format!("parentbased_{}", root(r)),
    }
}

#[cfg(test)]
mod tests {
    use super::yaml_quote;

    #[test]
    fn quoted_values_read_back_as_yaml() {
        for v in [
            "plain",
            "a\"b\\c",
            "esc\u{1b}[31m",
            "nul\0del\u{7f}",
            "line\nnext\ttab",
            "c1\u{85}sep\u{2028}",
            "日本",
        ] {
            let q = yaml_quote(v);
            let back: String = serde_yaml_ng::from_str(&q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(back, v, "{q}");
            // And tracewire's own reader.
            let doc = crate::config::syntax::parse(
                &format!("k: {q}\n"),
                crate::config::syntax::Format::Yaml,
            )
            .unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(
                doc.get("k"),
                Some(&crate::config::syntax::Node::Str(v.into())),
                "{q}"
            );
        }
    }
}
