//! What the `tracing` section of a file or the flags says, read option by
//! option into plain values (nothing here knows the environment or the
//! defaults): the transport sections, batching and span limits.
//!
//! This module must never panic on user input: every problem is a
//! [`ConfigError`] naming the option.

use std::path::PathBuf;
use std::time::Duration;

use super::read::{
    compression, join, section, section_enabled, want_bool, want_duration, want_f64, want_headers,
    want_list, want_map, want_priority, want_string, want_u32,
};
use crate::batch::BatchConfig;
use crate::config::error::ConfigError;
use crate::config::syntax::Node;
use crate::model::SpanLimits;
use crate::retry::RetryConfig;
use crate::tls::TlsOptions;
use crate::transport::Compression;

pub(in crate::config) const TRACING_KEYS: &[&str] = &[
    "addInternals",
    "serviceName",
    "sampleRate",
    "sampler",
    "resourceAttributes",
    "globalAttributes",
    "capturedRequestHeaders",
    "capturedResponseHeaders",
    "safeQueryParams",
    "otlp",
    "batch",
    "spanLimits",
];
pub(in crate::config) const OTLP_KEYS: &[&str] = &["http", "grpc"];
pub(in crate::config) const HTTP_KEYS: &[&str] = &[
    "enabled",
    "endpoint",
    "endpoints",
    "maxConnectionAge",
    "headers",
    "tls",
    "compression",
    "timeout",
    "connectTimeout",
    "retry",
];
pub(in crate::config) const GRPC_KEYS: &[&str] = &[
    "enabled",
    "endpoint",
    "endpoints",
    "dnsRefreshInterval",
    "keepAliveTime",
    "keepAliveTimeout",
    "maxConnectionAge",
    "headers",
    "insecure",
    "tls",
    "compression",
    "timeout",
    "connectTimeout",
    "retry",
];
pub(in crate::config) const TLS_KEYS: &[&str] = &["ca", "cert", "key", "insecureSkipVerify"];
pub(in crate::config) const RETRY_KEYS: &[&str] = &[
    "enabled",
    "initialInterval",
    "maxInterval",
    "maxElapsedTime",
];
pub(in crate::config) const BATCH_KEYS: &[&str] = &[
    "maxQueueSize",
    "maxExportBatchSize",
    "scheduleDelay",
    "exportTimeout",
    "maxConcurrentExports",
    "maxExportBytes",
    "shedding",
    "workerPriority",
];
pub(in crate::config) const LIMIT_KEYS: &[&str] = &[
    "attributeCountLimit",
    "eventCountLimit",
    "linkCountLimit",
    "eventAttributeCountLimit",
    "linkAttributeCountLimit",
    "attributeValueLengthLimit",
];

/// Everything the `tracing` section sets explicitly.
#[derive(Default, Debug)]
pub(in crate::config) struct TracingSection<'a> {
    pub(in crate::config) service_name: Option<String>,
    pub(in crate::config) sample_rate: Option<f64>,
    /// `tracing.sampler: probability`: ratios sample by consistent
    /// probability (`th`) rather than by the legacy trace-id ratio.
    pub(in crate::config) probability: Option<bool>,
    pub(in crate::config) add_internals: bool,
    pub(in crate::config) resource_attributes: Vec<(String, String)>,
    pub(in crate::config) captured_request_headers: Vec<String>,
    pub(in crate::config) captured_response_headers: Vec<String>,
    pub(in crate::config) safe_query_params: Vec<String>,
    pub(in crate::config) http: TransportSection,
    pub(in crate::config) grpc: TransportSection,
    pub(in crate::config) batch: Option<&'a Node>,
    pub(in crate::config) limits: Option<&'a Node>,
}

/// Reads the `tracing` section (a map, or `true` for defaults).
pub(in crate::config) fn tracing_section<'a>(
    tracing: &'a Node,
    errs: &mut Vec<ConfigError>,
) -> TracingSection<'a> {
    let mut t = TracingSection::default();
    for (key, v) in section(tracing, "tracing", TRACING_KEYS, errs) {
        let option = join("tracing", key);
        match key {
            "addInternals" => t.add_internals = want_bool(v, &option, errs).unwrap_or(false),
            "serviceName" => t.service_name = want_string(v, &option, errs),
            "sampleRate" => {
                if let Some(r) = want_f64(v, &option, errs) {
                    if (0.0..=1.0).contains(&r) {
                        t.sample_rate = Some(r);
                    } else {
                        errs.push(ConfigError::Invalid {
                            option,
                            value: r.to_string(),
                            reason: "is outside [0, 1]".into(),
                            fix: "use a proportion from 0.0 (trace nothing) to 1.0 (trace everything)".into(),
                        });
                    }
                }
            }
            "sampler" => match want_string(v, &option, errs).as_deref() {
                Some("traceidratio") => t.probability = Some(false),
                Some("probability") => t.probability = Some(true),
                Some(other) => errs.push(ConfigError::Invalid {
                    option,
                    value: other.into(),
                    reason: "is not a ratio sampler tracewire knows".into(),
                    fix: "use traceidratio (the OpenTelemetry SDKs' legacy trace-id ratio, as Traefik) or probability (consistent probability sampling with th in tracestate)".into(),
                }),
                None => {}
            },
            "resourceAttributes" | "globalAttributes" => {
                t.resource_attributes.extend(want_map(v, &option, errs))
            }
            "capturedRequestHeaders" => {
                t.captured_request_headers = want_list(v, &option, errs).unwrap_or_default()
            }
            "capturedResponseHeaders" => {
                t.captured_response_headers = want_list(v, &option, errs).unwrap_or_default()
            }
            "safeQueryParams" => {
                t.safe_query_params = want_list(v, &option, errs).unwrap_or_default()
            }
            "otlp" => {
                if section_enabled(v) {
                    for (ok, ov) in section(v, &option, OTLP_KEYS, errs) {
                        let opt = join(&option, ok);
                        if ok == "http" {
                            t.http = transport_section(ov, &opt, false, errs);
                        } else {
                            t.grpc = transport_section(ov, &opt, true, errs);
                        }
                    }
                }
            }
            "batch" => t.batch = Some(v),
            _ => t.limits = Some(v),
        }
    }
    t
}

#[derive(Default, Debug)]
pub(in crate::config) struct TransportSection {
    pub(in crate::config) present: bool,
    pub(in crate::config) enabled: bool,
    pub(in crate::config) endpoint: Option<String>,
    pub(in crate::config) endpoints: Option<Vec<String>>,
    pub(in crate::config) dns_refresh: Option<Duration>,
    pub(in crate::config) keep_alive: Option<Duration>,
    pub(in crate::config) keep_alive_timeout: Option<Duration>,
    pub(in crate::config) max_connection_age: Option<Duration>,
    pub(in crate::config) headers: Vec<(String, String)>,
    pub(in crate::config) insecure: Option<bool>,
    pub(in crate::config) tls: TlsOptions,
    pub(in crate::config) tls_given: bool,
    pub(in crate::config) compression: Option<Compression>,
    pub(in crate::config) timeout: Option<Duration>,
    pub(in crate::config) connect_timeout: Option<Duration>,
    pub(in crate::config) retry: Option<RetryConfig>,
}

pub(in crate::config) fn transport_section(
    node: &Node,
    path: &str,
    grpc: bool,
    errs: &mut Vec<ConfigError>,
) -> TransportSection {
    let mut t = TransportSection {
        present: true,
        enabled: section_enabled(node),
        ..TransportSection::default()
    };
    if !t.enabled {
        return t;
    }
    let keys = if grpc { GRPC_KEYS } else { HTTP_KEYS };
    for (key, v) in section(node, path, keys, errs) {
        let option = join(path, key);
        match key {
            "enabled" => {
                if let Some(b) = want_bool(v, &option, errs) {
                    t.enabled = b;
                }
            }
            "endpoint" => t.endpoint = want_string(v, &option, errs),
            "endpoints" => t.endpoints = want_list(v, &option, errs),
            "dnsRefreshInterval" => t.dns_refresh = want_duration(v, &option, errs),
            "keepAliveTime" => t.keep_alive = want_duration(v, &option, errs),
            "keepAliveTimeout" => t.keep_alive_timeout = want_duration(v, &option, errs),
            "maxConnectionAge" => t.max_connection_age = want_duration(v, &option, errs),
            "headers" => t.headers = want_headers(v, &option, errs),
            "insecure" => t.insecure = want_bool(v, &option, errs),
            "tls" => {
                t.tls_given = section_enabled(v);
                for (tk, tv) in section(v, &option, TLS_KEYS, errs) {
                    let topt = join(&option, tk);
                    match tk {
                        "ca" => t.tls.ca = want_string(tv, &topt, errs).map(PathBuf::from),
                        "cert" => t.tls.cert = want_string(tv, &topt, errs).map(PathBuf::from),
                        "key" => t.tls.key = want_string(tv, &topt, errs).map(PathBuf::from),
                        _ => {
                            t.tls.insecure_skip_verify = want_bool(tv, &topt, errs).unwrap_or(false)
                        }
                    }
                }
            }
            "compression" => {
                t.compression =
                    want_string(v, &option, errs).and_then(|s| compression(&s, &option, errs))
            }
            "timeout" => t.timeout = want_duration(v, &option, errs),
            "connectTimeout" => t.connect_timeout = want_duration(v, &option, errs),
            _ => {
                let mut r = RetryConfig {
                    enabled: section_enabled(v),
                    ..RetryConfig::default()
                };
                for (rk, rv) in section(v, &option, RETRY_KEYS, errs) {
                    let ropt = join(&option, rk);
                    match rk {
                        "enabled" => r.enabled = want_bool(rv, &ropt, errs).unwrap_or(true),
                        "initialInterval" => {
                            if let Some(d) = want_duration(rv, &ropt, errs) {
                                r.initial_backoff = d;
                            }
                        }
                        "maxElapsedTime" => {
                            if let Some(d) = want_duration(rv, &ropt, errs) {
                                r.max_elapsed = d;
                            }
                        }
                        _ => {
                            if let Some(d) = want_duration(rv, &ropt, errs) {
                                r.max_backoff = d;
                            }
                        }
                    }
                }
                t.retry = Some(r);
            }
        }
    }
    t
}

/// Applies `tracing.batch` onto `b` (the defaults, with the environment
/// already applied).
pub(in crate::config) fn apply_batch(
    node: Option<&Node>,
    b: &mut BatchConfig,
    errs: &mut Vec<ConfigError>,
) {
    if let Some(node) = node {
        for (key, v) in section(node, "tracing.batch", BATCH_KEYS, errs) {
            let option = join("tracing.batch", key);
            match key {
                "maxQueueSize" => {
                    if let Some(n) = want_u32(v, &option, errs) {
                        b.max_queue_size = n as usize;
                    }
                }
                "maxExportBatchSize" => {
                    if let Some(n) = want_u32(v, &option, errs) {
                        b.max_export_batch_size = n as usize;
                    }
                }
                "scheduleDelay" => {
                    if let Some(d) = want_duration(v, &option, errs) {
                        b.scheduled_delay = d;
                    }
                }
                "exportTimeout" => {
                    if let Some(d) = want_duration(v, &option, errs) {
                        b.export_timeout = d;
                    }
                }
                "maxExportBytes" => {
                    if let Some(n) = want_u32(v, &option, errs) {
                        b.max_export_bytes = Some(n as usize);
                    }
                }
                "shedding" => {
                    if let Some(on) = want_bool(v, &option, errs) {
                        b.shedding = on;
                    }
                }
                "workerPriority" => {
                    if let Some(p) = want_priority(v, &option, errs) {
                        b.worker_priority = p;
                    }
                }
                _ => {
                    if let Some(n) = want_u32(v, &option, errs) {
                        b.max_concurrent_exports = n as usize;
                    }
                }
            }
        }
    }
}

/// Applies `tracing.spanLimits` onto `l` (the defaults, with the
/// environment already applied).
pub(in crate::config) fn apply_limits(
    node: Option<&Node>,
    l: &mut SpanLimits,
    errs: &mut Vec<ConfigError>,
) {
    if let Some(node) = node {
        for (key, v) in section(node, "tracing.spanLimits", LIMIT_KEYS, errs) {
            let option = join("tracing.spanLimits", key);
            let Some(n) = want_u32(v, &option, errs) else {
                continue;
            };
            match key {
                "attributeCountLimit" => l.max_attributes_per_span = n,
                "eventCountLimit" => l.max_events_per_span = n,
                "linkCountLimit" => l.max_links_per_span = n,
                "eventAttributeCountLimit" => l.max_attributes_per_event = n,
                "linkAttributeCountLimit" => l.max_attributes_per_link = n,
                _ => l.max_attribute_value_length = Some(n),
            }
        }
    }
}
