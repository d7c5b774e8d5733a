//! Resolution: what the `tracing` section says, over the `OTEL_*`
//! environment, over the defaults, into one validated [`Config`]. Every
//! problem is collected (resolution does not stop at the first one).
//!
//! This module must never panic on user input, and never put a header
//! value or a credential in an error.

use std::time::Duration;

use super::env::{self, Env};
use super::read::{headers, section_enabled};
use super::sections::{self, TracingSection, TransportSection};
use super::types::{Config, DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, DEFAULT_SERVICE_NAME};
use crate::batch::BatchConfig;
use crate::config::error::{ConfigError, ConfigErrors};
use crate::config::syntax::Node;
use crate::endpoint::{has_userinfo, redact_userinfo, Endpoint, EndpointError};
use crate::model::SpanLimits;
use crate::sampling::Sampler;
use crate::tls::TlsOptions;
use crate::transport::{ExporterConfig, Protocol};

/// Resolves a parsed tree (file and flags merged) against an environment.
pub(in crate::config) fn resolve<E: Fn(&str) -> Option<String>>(
    tree: &Node,
    env: &E,
) -> Result<Config, ConfigErrors> {
    let mut errs = Vec::new();
    let env = env::read(env, &mut errs);
    let (enabled, tracing) = tracing_node(tree, &mut errs);
    let t = sections::tracing_section(tracing, &mut errs);

    let (protocol, section_path) = transport_choice(&t, &env, &mut errs);
    let section = if protocol == Protocol::Grpc {
        &t.grpc
    } else {
        &t.http
    };
    let (endpoint, fleet) = endpoints(protocol, section, section_path, &env, &mut errs);
    let header_list = {
        // The environment's headers, then the section's (which win per name).
        let mut pairs = env.headers.clone();
        for (k, v) in &section.headers {
            pairs.retain(|(ek, _): &(String, String)| !ek.eq_ignore_ascii_case(k));
            pairs.push((k.clone(), v.clone()));
        }
        headers(&pairs, &format!("{section_path}.headers"), &mut errs)
    };
    let tls = tls(section, section_path, endpoint.as_ref(), &env, &mut errs);
    let batch = batch(t.batch, &env, &mut errs);
    let limits = limits(t.limits, &env, &mut errs);
    let (service_name, resource_attributes) =
        resource(t.service_name.clone(), &t.resource_attributes, &env);
    let mut sampler = match t.sample_rate {
        Some(r) => Sampler::traefik(r),
        None => env.sampler.unwrap_or_else(|| Sampler::traefik(1.0)),
    };
    if t.probability == Some(true) {
        sampler = sampler.with_probability();
    }

    if !errs.is_empty() {
        return Err(ConfigErrors(errs));
    }
    let Some(endpoint) = endpoint else {
        return Err(ConfigErrors(vec![ConfigError::Conflict(
            "no usable endpoint".into(),
        )]));
    };
    let mut exporter = ExporterConfig::new(protocol, endpoint);
    exporter.fleet = fleet;
    if let Some(d) = section.dns_refresh.filter(|d| !d.is_zero()) {
        exporter.dns_refresh = d;
    }
    if let Some(d) = section.keep_alive {
        exporter.keep_alive = d;
    }
    if let Some(d) = section.keep_alive_timeout.filter(|d| !d.is_zero()) {
        exporter.keep_alive_timeout = d;
    }
    if let Some(d) = section.max_connection_age {
        exporter.max_connection_age = d;
    }
    exporter.headers = header_list;
    exporter.tls = tls;
    exporter.compression = section.compression.or(env.compression).unwrap_or_default();
    exporter.timeout = section
        .timeout
        .or(env.timeout)
        .filter(|t| !t.is_zero())
        .unwrap_or(Duration::from_secs(10));
    if let Some(ct) = section.connect_timeout {
        exporter.connect_timeout = ct;
    }
    if let Some(r) = section.retry {
        exporter.retry = r;
    }
    Ok(Config {
        enabled: enabled && !env.sdk_disabled,
        service_name,
        resource_attributes,
        sampler,
        add_internals: t.add_internals,
        captured_request_headers: t.captured_request_headers,
        captured_response_headers: t.captured_response_headers,
        safe_query_params: t.safe_query_params,
        propagators: env.propagators.clone().unwrap_or_default(),
        exporter,
        batch,
        limits,
    })
}

/// The `tracing` section and whether it enables tracing. Other top-level
/// sections (a whole Traefik static configuration) are not ours and are
/// ignored, except a near miss of `tracing`, which is reported.
fn tracing_node<'a>(tree: &'a Node, errs: &mut Vec<ConfigError>) -> (bool, &'a Node) {
    static EMPTY: Node = Node::Map(Vec::new());
    let tracing = tree.get("tracing");
    if tracing.is_none() {
        if let Node::Map(entries) = tree {
            for (k, _) in entries {
                if !k.eq_ignore_ascii_case("tracing")
                    && strsim::jaro_winkler(&k.to_ascii_lowercase(), "tracing") >= 0.85
                {
                    errs.push(ConfigError::UnknownOption {
                        option: crate::config::shown::key(k),
                        suggestion: Some("tracing".into()),
                    });
                }
            }
        }
    }
    let enabled = tracing.is_some_and(section_enabled);
    (
        enabled,
        tracing.filter(|n| section_enabled(n)).unwrap_or(&EMPTY),
    )
}

/// Which transport the configuration chooses, and its section's path.
fn transport_choice(
    t: &TracingSection<'_>,
    env: &Env,
    errs: &mut Vec<ConfigError>,
) -> (Protocol, &'static str) {
    let http_on = t.http.present && t.http.enabled;
    let grpc_on = t.grpc.present && t.grpc.enabled;
    let protocol = match (http_on, grpc_on) {
        (true, true) => {
            errs.push(ConfigError::Conflict(
                "tracing.otlp.http and tracing.otlp.grpc are both enabled; tracewire sends to one collector: \
                 keep one section, or set enabled: false on the other (Traefik would silently use gRPC)"
                    .into(),
            ));
            Protocol::Http
        }
        (true, false) => Protocol::Http,
        (false, true) => Protocol::Grpc,
        (false, false) => env.protocol.unwrap_or(Protocol::Http),
    };
    let path = match protocol {
        Protocol::Grpc => "tracing.otlp.grpc",
        Protocol::Http => "tracing.otlp.http",
    };
    (protocol, path)
}

/// The collectors: `endpoints` (a fleet: the first, then the others), or
/// `endpoint` (a list of one, unless it is a `dns:///` name), else the
/// environment's, else the default for the protocol.
fn endpoints(
    protocol: Protocol,
    section: &TransportSection,
    section_path: &str,
    env: &Env,
    errs: &mut Vec<ConfigError>,
) -> (Option<Endpoint>, Vec<Endpoint>) {
    let Some(list) = &section.endpoints else {
        let given = section
            .endpoint
            .as_ref()
            .map(|e| (e.clone(), format!("{section_path}.endpoint")));
        return (endpoint(protocol, section, given, env, errs), Vec::new());
    };
    if section.endpoint.is_some() {
        errs.push(ConfigError::Conflict(format!(
            "{section_path}.endpoint and {section_path}.endpoints are both given; \
             use endpoints alone (a list; one collector is a list of one)"
        )));
        return (None, Vec::new());
    }
    if list.is_empty() {
        errs.push(ConfigError::Invalid {
            option: format!("{section_path}.endpoints"),
            value: "[]".into(),
            reason: "is empty".into(),
            fix: "list at least one collector, or remove the key to use the default".into(),
        });
        return (None, Vec::new());
    }
    let mut all = Vec::new();
    for (i, value) in list.iter().enumerate() {
        let given = Some((value.clone(), format!("{section_path}.endpoints[{i}]")));
        if let Some(e) = endpoint(protocol, section, given, env, errs) {
            all.push(e);
        }
    }
    if all.len() != list.len() {
        return (None, Vec::new());
    }
    let first = all.remove(0);
    (Some(first), all)
}

/// One collector's endpoint: `given` (value, option), else the
/// environment's, else the default for the protocol.
fn endpoint(
    protocol: Protocol,
    section: &TransportSection,
    given: Option<(String, String)>,
    env: &Env,
    errs: &mut Vec<ConfigError>,
) -> Option<Endpoint> {
    let section_path = if protocol == Protocol::Grpc {
        "tracing.otlp.grpc"
    } else {
        "tracing.otlp.http"
    };
    let parsed = match protocol {
        Protocol::Http => {
            let (value, option) =
                given.unwrap_or_else(|| match (&env.traces_endpoint, &env.endpoint) {
                    (Some(t), _) => (t.clone(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into()),
                    (None, Some(base)) => (
                        format!("{}/v1/traces", base.trim_end_matches('/')),
                        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                    ),
                    (None, None) => (DEFAULT_HTTP_ENDPOINT.into(), "default".into()),
                });
            match Endpoint::parse_http(&value) {
                Ok(e) => Ok((e, option, value)),
                Err(e) => Err((option, value, e)),
            }
        }
        Protocol::Grpc => {
            let insecure = section.insecure.or(env.insecure).unwrap_or(false);
            let (value, option) =
                given.unwrap_or_else(|| match (&env.traces_endpoint, &env.endpoint) {
                    (Some(t), _) => (t.clone(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into()),
                    (None, Some(base)) => (base.clone(), "OTEL_EXPORTER_OTLP_ENDPOINT".into()),
                    (None, None) => (DEFAULT_GRPC_ENDPOINT.into(), "default".into()),
                });
            match Endpoint::parse_grpc(&value, insecure) {
                Ok(e) if section.insecure == Some(true) => Ok((e.with_tls(false), option, value)),
                Ok(e) => Ok((e, option, value)),
                Err(e) => Err((option, value, e)),
            }
        }
    };
    match parsed {
        Ok((e, option, value)) => {
            if has_userinfo(&value) {
                let header = if option.starts_with("OTEL_") {
                    "OTEL_EXPORTER_OTLP_HEADERS=Authorization=Basic%20<base64 of user:password>"
                        .to_owned()
                } else {
                    format!("{section_path}.headers.Authorization: Basic <base64 of user:password>")
                };
                log::warn!(
                    "{option}: the user:password in the endpoint (not shown) is ignored: \
                     tracewire sends no URL credentials; remove them from the endpoint and \
                     send them in a header instead, such as {header}"
                );
            }
            Some(e)
        }
        Err((
            option,
            value,
            EndpointError::Invalid {
                reason, expected, ..
            },
        )) => {
            errs.push(ConfigError::Invalid {
                option,
                value: format!("{:?}", redact_userinfo(&value)),
                reason: format!("is not a valid endpoint ({reason})"),
                fix: format!("write it as {expected}"),
            });
            None
        }
    }
}

/// TLS: the section's files, else the environment's; checked when they will
/// be used (or were given).
fn tls(
    section: &TransportSection,
    section_path: &str,
    endpoint: Option<&Endpoint>,
    env: &Env,
    errs: &mut Vec<ConfigError>,
) -> TlsOptions {
    let mut tls = section.tls.clone();
    if tls.ca.is_none() {
        tls.ca = env.certificate.clone();
    }
    if tls.cert.is_none() && tls.key.is_none() {
        tls.cert = env.client_certificate.clone();
        tls.key = env.client_key.clone();
    }
    let uses_tls = endpoint.is_some_and(Endpoint::is_tls);
    if uses_tls || tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() {
        if let Err(e) = crate::tls::validate(&tls) {
            errs.push(ConfigError::Tls {
                section: section_path.into(),
                message: e.to_string(),
            });
        }
    }
    tls
}

/// `tracing.batch`, over `OTEL_BSP_*`, over defaults; checked.
fn batch(node: Option<&Node>, env: &Env, errs: &mut Vec<ConfigError>) -> BatchConfig {
    let mut b = BatchConfig::default();
    env.apply_batch(&mut b);
    sections::apply_batch(node, &mut b, errs);
    let mut check = |ok: bool, option: &str, value: String, reason: &str, fix: &str| {
        if !ok {
            errs.push(ConfigError::Invalid {
                option: option.into(),
                value,
                reason: reason.into(),
                fix: fix.into(),
            });
        }
    };
    check(
        b.max_queue_size >= 1 && b.max_queue_size <= 1 << 24,
        "tracing.batch.maxQueueSize",
        b.max_queue_size.to_string(),
        "is out of range",
        "use 1 to 16777216 (default 2048)",
    );
    check(
        b.max_export_batch_size >= 1 && b.max_export_batch_size <= b.max_queue_size,
        "tracing.batch.maxExportBatchSize",
        b.max_export_batch_size.to_string(),
        "must be from 1 to maxQueueSize",
        "lower it, or raise maxQueueSize (defaults 512 and 2048)",
    );
    check(
        b.max_concurrent_exports >= 1 && b.max_concurrent_exports <= 64,
        "tracing.batch.maxConcurrentExports",
        b.max_concurrent_exports.to_string(),
        "is out of range",
        "use 1 to 64 (default 4)",
    );
    check(
        b.max_export_bytes.is_none_or(|n| n >= 1024),
        "tracing.batch.maxExportBytes",
        b.max_export_bytes.unwrap_or(0).to_string(),
        "is too small",
        "use at least 1024 bytes, or leave it unset for the collector's defaults (4 MiB gRPC, 20 MiB HTTP)",
    );
    check(
        !b.scheduled_delay.is_zero(),
        "tracing.batch.scheduleDelay",
        format!("{:?}", b.scheduled_delay),
        "must be positive",
        "use a delay such as 5s (default)",
    );
    check(
        !b.export_timeout.is_zero(),
        "tracing.batch.exportTimeout",
        format!("{:?}", b.export_timeout),
        "must be positive",
        "use a timeout such as 30s (default)",
    );
    b
}

/// `tracing.spanLimits`, over `OTEL_*_LIMIT`, over defaults.
fn limits(node: Option<&Node>, env: &Env, errs: &mut Vec<ConfigError>) -> SpanLimits {
    let mut l = SpanLimits::default();
    env.apply_limits(&mut l);
    sections::apply_limits(node, &mut l, errs);
    l
}

/// The service name and the other resource attributes: the section's over
/// the environment's; `service.name` from `serviceName`, else
/// `OTEL_SERVICE_NAME`, else a `service.name` resource attribute, else the
/// default.
fn resource(
    service_name: Option<String>,
    section_attributes: &[(String, String)],
    env: &Env,
) -> (String, Vec<(String, String)>) {
    let mut attributes = env.resource_attributes.clone();
    for (k, v) in section_attributes {
        attributes.retain(|(ek, _)| ek != k);
        attributes.push((k.clone(), v.clone()));
    }
    let service_name = service_name
        .or_else(|| env.service_name.clone())
        .or_else(|| {
            attributes
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    attributes.retain(|(k, _)| k != "service.name");
    (service_name, attributes)
}

#[cfg(test)]
mod tests {
    use super::super::read::suggest;
    use super::super::sections::TRACING_KEYS;

    #[test]
    fn suggestions_are_for_typos_only() {
        assert_eq!(
            suggest("sampelRate", TRACING_KEYS, "tracing"),
            Some("tracing.sampleRate".into())
        );
        assert_eq!(suggest("zzz", TRACING_KEYS, "tracing"), None);
    }
}
