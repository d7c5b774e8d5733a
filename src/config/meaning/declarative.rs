//! The OpenTelemetry declarative configuration file (`OTEL_CONFIG_FILE`,
//! schema `file_format: "1.x"`), mapped onto the same [`Config`] as
//! Traefik's `tracing` section.
//!
//! Read: `disabled`; `resource` (`attributes` as `name`/`value` pairs,
//! `attributes_list`); `attribute_limits`; `propagator` (`composite`,
//! `composite_list`); `tracer_provider` with one `batch` processor
//! (`schedule_delay`, `export_timeout`, `max_queue_size`,
//! `max_export_batch_size`) and its `otlp_http` or `otlp_grpc` exporter
//! (`endpoint`, `headers`, `headers_list`, `tls` {`ca_file`, `cert_file`,
//! `key_file`, and `insecure` for gRPC}, `compression`, `timeout`,
//! `encoding: protobuf`), `limits`, and `sampler` (`always_on`,
//! `always_off`, `trace_id_ratio_based`, `parent_based` with its `root`).
//! Durations are milliseconds, as the schema says.
//!
//! `${VAR}`, `${env:VAR}` and `${VAR:-default}` in a scalar value are
//! replaced from the environment (an unset variable without a default is
//! empty); `$$` is a `$`. A value that is one reference alone takes the
//! type its text reads as (`true`, `42`, `0.5`), as the specification's
//! type inference says; mapping keys are never substituted. As the
//! specification says, with a file, the other `OTEL_*` variables are not
//! read.
//!
//! Anything else is an error naming the key: a key the schema does not
//! have (with a suggestion), or one tracewire does not support (other
//! processors or exporters, `meter_provider`, `logger_provider`, other
//! samplers). This module must never panic on the file's content, and never
//! put a header value in an error.

use std::time::Duration;

use super::read::{
    compression, headers, join, section, want_bool, want_f64, want_string, want_u32,
};
use super::types::Config;
use crate::config::error::{ConfigError, ConfigErrors};
use crate::config::syntax::Node;
use crate::endpoint::Endpoint;
use crate::propagation::Propagators;
use crate::sampling::Sampler;
use crate::transport::{ExporterConfig, Protocol};

/// Whether a parsed YAML file is a declarative configuration file (it has
/// `file_format` at the top).
pub(in crate::config) fn is_declarative(tree: &Node) -> bool {
    matches!(tree, Node::Map(entries) if entries.iter().any(|(k, _)| k == "file_format"))
}

const TOP: &[&str] = &[
    "file_format",
    "disabled",
    "resource",
    "attribute_limits",
    "propagator",
    "tracer_provider",
    "log_level",
    "meter_provider",
    "logger_provider",
    "instrumentation/development",
];

/// The file's tree (already substituted by [`substitute`]) to a `Config`.
pub(in crate::config) fn resolve_declarative(tree: &Node) -> Result<Config, ConfigErrors> {
    let mut errs = Vec::new();
    // The schema's default sampler (Traefik's section defaults to a ratio).
    let mut c = Config {
        sampler: Sampler::default(),
        ..Config::default()
    };
    let mut tracer = None;
    let mut general_limits = None;
    for (key, v) in section(tree, "", TOP, &mut errs) {
        match key {
            "file_format" => file_format(v, &mut errs),
            "disabled" => {
                if let Some(d) = want_bool(v, key, &mut errs) {
                    c.enabled = !d;
                }
            }
            "resource" => resource(v, &mut c, &mut errs),
            "attribute_limits" => general_limits = Some(v),
            "propagator" => c.propagators = propagator(v, &mut errs),
            "tracer_provider" => tracer = Some(v),
            other => unsupported(other, "tracewire exports traces only: remove it, or keep it in the file your metrics and logs SDK reads", &mut errs),
        }
    }
    if let Some(v) = general_limits {
        limits(v, "attribute_limits", &mut c, LIMIT_KEYS_GENERAL, &mut errs);
    }
    match tracer {
        Some(v) => tracer_provider(v, &mut c, &mut errs),
        None => errs.push(ConfigError::Conflict(
            "the configuration file has no tracer_provider: add tracer_provider.processors with \
             one batch processor and its otlp_http or otlp_grpc exporter"
                .into(),
        )),
    }
    if errs.is_empty() {
        Ok(c)
    } else {
        Err(ConfigErrors(errs))
    }
}

fn unsupported(option: &str, fix: &str, errs: &mut Vec<ConfigError>) {
    errs.push(ConfigError::Invalid {
        option: option.to_owned(),
        value: "this key".into(),
        reason: "is not supported by tracewire".into(),
        fix: fix.to_owned(),
    });
}

fn file_format(v: &Node, errs: &mut Vec<ConfigError>) {
    let Some(f) = want_string(v, "file_format", errs) else {
        return;
    };
    let major = f.trim().split('.').next().unwrap_or("");
    if major != "1" {
        errs.push(ConfigError::Invalid {
            option: "file_format".into(),
            value: format!("{f:?}"),
            reason: "is not a schema version tracewire reads".into(),
            fix: "write the file in schema 1.x (file_format: \"1.0\"); 0.x files need the \
                  renames of the 1.0 migration"
                .into(),
        });
    }
}

fn resource(v: &Node, c: &mut Config, errs: &mut Vec<ConfigError>) {
    let mut listed = Vec::new();
    let mut attributes = Vec::new();
    for (key, v) in section(
        v,
        "resource",
        &[
            "attributes",
            "attributes_list",
            "schema_url",
            "detection/development",
        ],
        errs,
    ) {
        let option = join("resource", key);
        match key {
            "attributes" => attributes = name_values(v, &option, errs),
            "attributes_list" => {
                if let Some(s) = want_string(v, &option, errs) {
                    listed = key_value_list(&s, &option, errs);
                }
            }
            "schema_url" => {
                let _ = want_string(v, &option, errs);
            }
            _ => unsupported(
                &option,
                "tracewire detects no resource: list the attributes under resource.attributes",
                errs,
            ),
        }
    }
    // `attributes` wins over `attributes_list`, per name.
    for (k, v) in listed.into_iter().chain(attributes) {
        if k == "service.name" {
            c.service_name = v;
            continue;
        }
        c.resource_attributes.retain(|(ek, _)| *ek != k);
        c.resource_attributes.push((k, v));
    }
}

/// A list of `{name, value}` maps (attributes, headers).
fn name_values(v: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Vec<(String, String)> {
    let Node::List(items) = v else {
        errs.push(ConfigError::WrongType {
            option: option.to_owned(),
            expected: "a list of {name, value}",
            value: v.describe(),
        });
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{option}[{i}]");
        let (mut name, mut value) = (None, None);
        for (key, v) in section(item, &path, &["name", "value", "type"], errs) {
            match key {
                "name" => name = want_string(v, &join(&path, key), errs),
                "value" => value = want_string(v, &join(&path, key), errs),
                _ => {
                    let _ = want_string(v, &join(&path, key), errs);
                }
            }
        }
        match (name, value) {
            (Some(n), Some(v)) => out.push((n, v)),
            _ => errs.push(ConfigError::Invalid {
                option: path,
                value: "the entry".into(),
                reason: "needs both a name and a value".into(),
                fix: "write it as {name: ..., value: ...}".into(),
            }),
        }
    }
    out
}

/// `k=v,k2=v2` (values percent-decoded).
fn key_value_list(s: &str, option: &str, errs: &mut Vec<ConfigError>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for member in s.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        match member.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => out.push((
                k.trim().to_owned(),
                percent_encoding::percent_decode_str(v.trim())
                    .decode_utf8_lossy()
                    .into_owned(),
            )),
            _ => errs.push(ConfigError::Invalid {
                option: option.to_owned(),
                value: "a member".into(),
                reason: "is not key=value".into(),
                fix: "write key1=value1,key2=value2".into(),
            }),
        }
    }
    out
}

fn propagator(v: &Node, errs: &mut Vec<ConfigError>) -> Propagators {
    let mut names: Vec<String> = Vec::new();
    for (key, v) in section(v, "propagator", &["composite", "composite_list"], errs) {
        let option = join("propagator", key);
        match key {
            "composite" => match v {
                Node::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            Node::Map(e) if e.len() == 1 => names.push(e[0].0.clone()),
                            other => errs.push(ConfigError::WrongType {
                                option: format!("{option}[{i}]"),
                                expected: "one propagator name as a key, such as tracecontext:",
                                value: other.describe(),
                            }),
                        }
                    }
                }
                other => errs.push(ConfigError::WrongType {
                    option,
                    expected: "a list of propagators",
                    value: other.describe(),
                }),
            },
            _ => {
                if let Some(s) = want_string(v, &option, errs) {
                    names.extend(s.split(',').map(|n| n.trim().to_owned()));
                }
            }
        }
    }
    match names.join(",").parse::<Propagators>() {
        Ok(p) => p,
        Err(e) => {
            errs.push(ConfigError::Invalid {
                option: "propagator".into(),
                value: "a propagator".into(),
                reason: "is not supported".into(),
                fix: e.to_string(),
            });
            Propagators::default()
        }
    }
}

const LIMIT_KEYS_GENERAL: &[&str] = &["attribute_value_length_limit", "attribute_count_limit"];
const LIMIT_KEYS: &[&str] = &[
    "attribute_value_length_limit",
    "attribute_count_limit",
    "event_count_limit",
    "link_count_limit",
    "event_attribute_count_limit",
    "link_attribute_count_limit",
];

fn limits(
    v: &Node,
    path: &str,
    c: &mut Config,
    known: &[&'static str],
    errs: &mut Vec<ConfigError>,
) {
    for (key, v) in section(v, path, known, errs) {
        let Some(n) = want_u32(v, &join(path, key), errs) else {
            continue;
        };
        let l = &mut c.limits;
        match key {
            "attribute_value_length_limit" => l.max_attribute_value_length = Some(n),
            "attribute_count_limit" => l.max_attributes_per_span = n,
            "event_count_limit" => l.max_events_per_span = n,
            "link_count_limit" => l.max_links_per_span = n,
            "event_attribute_count_limit" => l.max_attributes_per_event = n,
            _ => l.max_attributes_per_link = n,
        }
    }
}

fn tracer_provider(v: &Node, c: &mut Config, errs: &mut Vec<ConfigError>) {
    let mut exporter = None;
    for (key, v) in section(
        v,
        "tracer_provider",
        &[
            "processors",
            "limits",
            "sampler",
            "tracer_configurator/development",
        ],
        errs,
    ) {
        let option = join("tracer_provider", key);
        match key {
            "processors" => exporter = processors(v, &option, c, errs),
            "limits" => limits(v, &option, c, LIMIT_KEYS, errs),
            "sampler" => {
                if let Some(s) = sampler(v, &option, errs) {
                    c.sampler = s;
                }
            }
            _ => unsupported(
                &option,
                "remove it: tracewire has one tracer configuration",
                errs,
            ),
        }
    }
    match exporter {
        Some(e) => c.exporter = e,
        None if errs.is_empty() => errs.push(ConfigError::Conflict(
            "tracer_provider.processors names no exporter: add one batch processor with an \
             otlp_http or otlp_grpc exporter"
                .into(),
        )),
        None => {}
    }
}

fn processors(
    v: &Node,
    option: &str,
    c: &mut Config,
    errs: &mut Vec<ConfigError>,
) -> Option<ExporterConfig> {
    let items = match v {
        Node::List(items) if items.len() == 1 => items,
        Node::List(items) => {
            errs.push(ConfigError::Invalid {
                option: option.to_owned(),
                value: format!("{} processors", items.len()),
                reason: "is not what tracewire runs (one batching pipeline)".into(),
                fix: "list exactly one batch processor".into(),
            });
            return None;
        }
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "a list with one batch processor",
                value: other.describe(),
            });
            return None;
        }
    };
    let path = format!("{option}[0]");
    let mut exporter = None;
    for (key, v) in section(&items[0], &path, &["batch", "simple"], errs) {
        let option = join(&path, key);
        if key == "simple" {
            unsupported(
                &option,
                "use batch: tracewire always batches, and never blocks the caller",
                errs,
            );
            continue;
        }
        for (key, v) in section(
            v,
            &option,
            &[
                "schedule_delay",
                "export_timeout",
                "max_queue_size",
                "max_export_batch_size",
                "exporter",
            ],
            errs,
        ) {
            let o = join(&option, key);
            let ms = |errs: &mut Vec<ConfigError>| {
                want_u32(v, &o, errs).map(|n| Duration::from_millis(n.into()))
            };
            match key {
                "schedule_delay" => {
                    if let Some(d) = ms(errs) {
                        c.batch.scheduled_delay = d;
                    }
                }
                "export_timeout" => {
                    if let Some(d) = ms(errs) {
                        c.batch.export_timeout = d;
                    }
                }
                "max_queue_size" => {
                    if let Some(n) = want_u32(v, &o, errs).filter(|n| *n > 0) {
                        c.batch.max_queue_size = n as usize;
                    }
                }
                "max_export_batch_size" => {
                    if let Some(n) = want_u32(v, &o, errs).filter(|n| *n > 0) {
                        c.batch.max_export_batch_size = n as usize;
                    }
                }
                _ => exporter = exporter_of(v, &o, errs),
            }
        }
    }
    if c.batch.max_export_batch_size > c.batch.max_queue_size {
        errs.push(ConfigError::Conflict(format!(
            "{path}.batch.max_export_batch_size ({}) is larger than max_queue_size ({}): lower it or raise the queue",
            c.batch.max_export_batch_size, c.batch.max_queue_size
        )));
    }
    exporter
}

fn exporter_of(v: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Option<ExporterConfig> {
    let known = [
        "otlp_http",
        "otlp_grpc",
        "otlp_file/development",
        "console",
        "zipkin",
    ];
    let mut out = None;
    for (key, v) in section(v, option, &known, errs) {
        let o = join(option, key);
        match key {
            "otlp_http" => out = otlp(v, &o, Protocol::Http, errs),
            "otlp_grpc" => out = otlp(v, &o, Protocol::Grpc, errs),
            _ => unsupported(
                &o,
                "use otlp_http or otlp_grpc (to a Collector, which can write files or Zipkin)",
                errs,
            ),
        }
    }
    out
}

fn otlp(
    v: &Node,
    option: &str,
    protocol: Protocol,
    errs: &mut Vec<ConfigError>,
) -> Option<ExporterConfig> {
    let mut endpoint = None;
    let (mut listed, mut header_pairs) = (Vec::new(), Vec::new());
    let mut tls = crate::tls::TlsOptions::default();
    let mut insecure = false;
    let mut comp = None;
    let mut timeout = None;
    let known: &[&str] = match protocol {
        Protocol::Grpc => &[
            "endpoint",
            "headers",
            "headers_list",
            "tls",
            "compression",
            "timeout",
        ],
        _ => &[
            "endpoint",
            "headers",
            "headers_list",
            "tls",
            "compression",
            "timeout",
            "encoding",
        ],
    };
    for (key, v) in section(v, option, known, errs) {
        let o = join(option, key);
        match key {
            "endpoint" => endpoint = want_string(v, &o, errs),
            "headers" => header_pairs = name_values(v, &o, errs),
            "headers_list" => {
                if let Some(s) = want_string(v, &o, errs) {
                    listed = key_value_list(&s, &o, errs);
                }
            }
            "tls" => {
                let keys: &[&str] = match protocol {
                    Protocol::Grpc => &["ca_file", "cert_file", "key_file", "insecure"],
                    _ => &["ca_file", "cert_file", "key_file"],
                };
                for (key, v) in section(v, &o, keys, errs) {
                    let o = join(&o, key);
                    match key {
                        "insecure" => insecure = want_bool(v, &o, errs).unwrap_or(false),
                        _ => {
                            let path = want_string(v, &o, errs).map(std::path::PathBuf::from);
                            match key {
                                "ca_file" => tls.ca = path,
                                "cert_file" => tls.cert = path,
                                _ => tls.key = path,
                            }
                        }
                    }
                }
            }
            "compression" => {
                comp = want_string(v, &o, errs).and_then(|s| compression(&s, &o, errs))
            }
            "timeout" => timeout = want_u32(v, &o, errs).map(|n| Duration::from_millis(n.into())),
            _ => {
                if let Some(e) = want_string(v, &o, errs) {
                    if e.trim() != "protobuf" {
                        errs.push(ConfigError::Invalid {
                            option: o,
                            value: format!("{e:?}"),
                            reason: "is not supported (tracewire sends binary protobuf)".into(),
                            fix: "use encoding: protobuf, or leave it out".into(),
                        });
                    }
                }
            }
        }
    }
    let endpoint_text = endpoint.unwrap_or_else(|| match protocol {
        Protocol::Grpc => "http://localhost:4317".into(),
        _ => "http://localhost:4318/v1/traces".into(),
    });
    let parsed = match protocol {
        Protocol::Grpc => Endpoint::parse_grpc(&endpoint_text, insecure),
        _ => Endpoint::parse_http(&endpoint_text),
    };
    let endpoint = match parsed {
        Ok(e) => e,
        Err(e) => {
            errs.push(ConfigError::Invalid {
                option: join(option, "endpoint"),
                value: "the endpoint".into(),
                reason: format!("is not usable ({e})"),
                fix: "write the collector's URL, such as http://collector:4318/v1/traces (otlp_http) or http://collector:4317 (otlp_grpc)".into(),
            });
            return None;
        }
    };
    // `headers` wins over `headers_list`, per name.
    let mut pairs = listed;
    for (k, v) in header_pairs {
        pairs.retain(|(ek, _): &(String, String)| !ek.eq_ignore_ascii_case(&k));
        pairs.push((k, v));
    }
    let mut e = ExporterConfig::new(protocol, endpoint);
    e.headers = headers(&pairs, &join(option, "headers"), errs);
    if e.endpoint.is_tls() || tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() {
        if let Err(err) = crate::tls::validate(&tls) {
            errs.push(ConfigError::Tls {
                section: option.to_owned(),
                message: err.to_string(),
            });
        }
    }
    e.tls = tls;
    e.compression = comp.unwrap_or_default();
    if let Some(t) = timeout.filter(|t| !t.is_zero()) {
        e.timeout = t;
    }
    Some(e)
}

fn sampler(v: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Option<Sampler> {
    let known = [
        "always_on",
        "always_off",
        "trace_id_ratio_based",
        "parent_based",
        "jaeger_remote/development",
        "probability/development",
        "composite/development",
    ];
    let entries = section(v, option, &known, errs);
    if entries.len() != 1 {
        if errs.is_empty() {
            errs.push(ConfigError::Invalid {
                option: option.to_owned(),
                value: format!("{} samplers", entries.len()),
                reason: "is not one sampler".into(),
                fix:
                    "name exactly one: always_on, always_off, trace_id_ratio_based or parent_based"
                        .into(),
            });
        }
        return None;
    }
    let (key, v) = entries[0];
    let o = join(option, key);
    match key {
        "always_on" => Some(Sampler::AlwaysOn),
        "always_off" => Some(Sampler::AlwaysOff),
        "trace_id_ratio_based" => {
            let mut ratio = 1.0;
            for (k, v) in section(v, &o, &["ratio"], errs) {
                if let Some(r) = want_f64(v, &join(&o, k), errs) {
                    if (0.0..=1.0).contains(&r) {
                        ratio = r;
                    } else {
                        errs.push(ConfigError::Invalid {
                            option: join(&o, k),
                            value: r.to_string(),
                            reason: "is not between 0 and 1".into(),
                            fix: "write a ratio such as 0.25".into(),
                        });
                    }
                }
            }
            Some(Sampler::ratio(ratio))
        }
        "parent_based" => {
            let mut root = Sampler::AlwaysOn;
            let keys = [
                "root",
                "remote_parent_sampled",
                "remote_parent_not_sampled",
                "local_parent_sampled",
                "local_parent_not_sampled",
            ];
            for (k, v) in section(v, &o, &keys, errs) {
                let ko = join(&o, k);
                let s = sampler(v, &ko, errs)?;
                // tracewire follows the parent's flag: only the defaults of
                // the four parent cases are honoured.
                let default_ok = match k {
                    "root" => {
                        root = s;
                        true
                    }
                    "remote_parent_sampled" | "local_parent_sampled" => s == Sampler::AlwaysOn,
                    _ => s == Sampler::AlwaysOff,
                };
                if !default_ok {
                    unsupported(&ko, "leave it out: tracewire's parent_based follows the parent's sampled flag (always_on when sampled, always_off when not)", errs);
                }
            }
            if matches!(root, Sampler::ParentBased { .. }) {
                unsupported(
                    &join(&o, "root"),
                    "use always_on, always_off or trace_id_ratio_based as the root",
                    errs,
                );
                return None;
            }
            Some(Sampler::parent_based(root))
        }
        _ => {
            unsupported(
                &o,
                "use always_on, always_off, trace_id_ratio_based or parent_based",
                errs,
            );
            None
        }
    }
}
