//! The OpenTelemetry SDK environment variables tracewire reads (and only
//! those: files and flags are read elsewhere), with
//! OpenTelemetry's formats: endpoints, `key=value` lists with percent-encoded
//! values, millisecond timeouts, sampler names.
//!
//! Trace-specific variables (`OTEL_EXPORTER_OTLP_TRACES_*`) win over the
//! generic ones. An invalid value is an error naming the variable, never a
//! silent default.

use std::path::PathBuf;
use std::time::Duration;

use super::read::{compression, MAX_DURATION};
use crate::batch::BatchConfig;
use crate::config::error::ConfigError;
use crate::config::shown;
use crate::model::SpanLimits;
use crate::propagation::Propagators;
use crate::sampling::Sampler;
use crate::transport::{Compression, Protocol};

/// What the environment says (only what is set).
#[derive(Default, Debug)]
pub(in crate::config) struct Env {
    pub(in crate::config) endpoint: Option<String>,
    pub(in crate::config) traces_endpoint: Option<String>,
    pub(in crate::config) headers: Vec<(String, String)>,
    pub(in crate::config) timeout: Option<Duration>,
    pub(in crate::config) compression: Option<Compression>,
    pub(in crate::config) protocol: Option<Protocol>,
    pub(in crate::config) certificate: Option<PathBuf>,
    pub(in crate::config) client_certificate: Option<PathBuf>,
    pub(in crate::config) client_key: Option<PathBuf>,
    pub(in crate::config) insecure: Option<bool>,
    pub(in crate::config) service_name: Option<String>,
    pub(in crate::config) resource_attributes: Vec<(String, String)>,
    pub(in crate::config) sampler: Option<Sampler>,
    pub(in crate::config) sdk_disabled: bool,
    pub(in crate::config) propagators: Option<Propagators>,
    bsp_max_queue_size: Option<usize>,
    bsp_max_export_batch_size: Option<usize>,
    bsp_schedule_delay: Option<Duration>,
    bsp_export_timeout: Option<Duration>,
    bsp_max_concurrent_exports: Option<usize>,
    span_attribute_count: Option<u32>,
    span_event_count: Option<u32>,
    span_link_count: Option<u32>,
    event_attribute_count: Option<u32>,
    link_attribute_count: Option<u32>,
    attribute_value_length: Option<u32>,
}

fn invalid(var: &str, value: &str, reason: &str, fix: &str) -> ConfigError {
    ConfigError::Invalid {
        option: var.to_owned(),
        value: format!("{value:?}"),
        reason: reason.to_owned(),
        fix: fix.to_owned(),
    }
}

/// `OTEL_EXPORTER_OTLP_TRACES_<name>`, else `OTEL_EXPORTER_OTLP_<name>`.
fn otlp<E: Fn(&str) -> Option<String>>(env: &E, name: &str) -> Option<(String, String)> {
    let traces = format!("OTEL_EXPORTER_OTLP_TRACES_{name}");
    if let Some(v) = env(&traces).filter(|v| !v.trim().is_empty()) {
        return Some((traces, v));
    }
    let generic = format!("OTEL_EXPORTER_OTLP_{name}");
    env(&generic)
        .filter(|v| !v.trim().is_empty())
        .map(|v| (generic, v))
}

/// A `key1=value1,key2=value2` list, keys and values percent-decoded (W3C
/// Baggage format, as `OTEL_EXPORTER_OTLP_HEADERS` and
/// `OTEL_RESOURCE_ATTRIBUTES`). A problem names the item by number and its
/// key, never its value (a header value may be a secret).
pub(in crate::config) fn key_values(
    var: &str,
    value: &str,
    errs: &mut Vec<ConfigError>,
) -> Vec<(String, String)> {
    const FIX: &str = "write key1=value1,key2=value2, percent-encoding commas, = and % in \
                       values as %2C, %3D and %25 (UTF-8)";
    let mut out = Vec::new();
    let items = value.split(',').map(str::trim).filter(|i| !i.is_empty());
    for (n, item) in items.enumerate() {
        let bad = |which: String, reason: String| ConfigError::Invalid {
            option: var.to_owned(),
            value: which,
            reason,
            fix: FIX.into(),
        };
        let Some((k, v)) = item.split_once('=') else {
            errs.push(bad(
                format!("item {}", n + 1),
                "is not a key=value pair: it has no = (the item is not shown: it may hold a \
                 header value)"
                    .into(),
            ));
            continue;
        };
        let key = match percent_decode(k.trim()) {
            Ok(key) if !key.is_empty() => key,
            Ok(_) => {
                errs.push(bad(
                    format!("item {}", n + 1),
                    "has an empty key before its =".into(),
                ));
                continue;
            }
            Err(problem) => {
                errs.push(bad(
                    format!("the key of item {}", n + 1),
                    format!("is not valid percent-encoding ({problem})"),
                ));
                continue;
            }
        };
        match percent_decode(v.trim()) {
            Ok(v) => out.push((key, v)),
            Err(problem) => errs.push(bad(
                format!("the value of item {} ({})", n + 1, shown::key(&key)),
                format!("is not valid percent-encoding ({problem}; the value is not shown)"),
            )),
        }
    }
    out
}

/// Percent-decodes `s` into UTF-8 (with the `percent-encoding` crate), or
/// says where and why it cannot (by position, never by content).
fn percent_decode(s: &str) -> Result<String, String> {
    let raw = s.as_bytes();
    // The crate passes a malformed escape through: refuse it first, saying
    // where it is.
    for (i, _) in s.match_indices('%') {
        if !raw
            .get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        {
            return Err(format!(
                "the % at character {} is not followed by two hex digits",
                s[..i].chars().count() + 1
            ));
        }
    }
    match percent_encoding::percent_decode_str(s).decode_utf8() {
        Ok(text) => Ok(text.into_owned()),
        Err(e) => {
            // Where the first decoded byte that is not UTF-8 came from.
            let bad = e.valid_up_to();
            let (mut at, mut decoded) = (0, 0);
            while at < raw.len() && decoded < bad {
                at += if raw[at] == b'%' { 3 } else { 1 };
                decoded += 1;
            }
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            Err(format!(
                "the bytes from character {} decode to something that is not UTF-8",
                s[..at].chars().count() + 1
            ))
        }
    }
}

fn millis(var: &str, value: &str, errs: &mut Vec<ConfigError>) -> Option<Duration> {
    match value.trim().parse::<u64>().map(Duration::from_millis) {
        Ok(d) if d <= MAX_DURATION => Some(d),
        Ok(_) => {
            errs.push(invalid(
                var,
                value,
                "is more than 100 years",
                "write it in milliseconds, such as 10000",
            ));
            None
        }
        Err(_) => {
            errs.push(invalid(
                var,
                value,
                "is not a whole number of milliseconds",
                "write it in milliseconds, such as 10000",
            ));
            None
        }
    }
}

fn count<T: std::str::FromStr>(var: &str, value: &str, errs: &mut Vec<ConfigError>) -> Option<T> {
    match value.trim().parse::<T>() {
        Ok(n) => Some(n),
        Err(_) => {
            errs.push(invalid(
                var,
                value,
                "is not a whole number",
                "use a non-negative integer",
            ));
            None
        }
    }
}

fn boolean(var: &str, value: &str, errs: &mut Vec<ConfigError>) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => {
            errs.push(invalid(var, value, "is not a boolean", "use true or false"));
            None
        }
    }
}

fn sampler(name: &str, arg: Option<&str>, errs: &mut Vec<ConfigError>) -> Option<Sampler> {
    let ratio = |errs: &mut Vec<ConfigError>| -> Option<f64> {
        match arg.map(str::trim) {
            None | Some("") => Some(1.0),
            Some(a) => match a.parse::<f64>() {
                Ok(r) if (0.0..=1.0).contains(&r) => Some(r),
                _ => {
                    errs.push(invalid(
                        "OTEL_TRACES_SAMPLER_ARG",
                        a,
                        "is not a ratio in [0, 1]",
                        "use a number from 0.0 to 1.0",
                    ));
                    None
                }
            },
        }
    };
    match name.trim().to_ascii_lowercase().as_str() {
        "always_on" => Some(Sampler::AlwaysOn),
        "always_off" => Some(Sampler::AlwaysOff),
        "traceidratio" => ratio(errs).map(Sampler::ratio),
        "parentbased_always_on" => Some(Sampler::parent_based(Sampler::AlwaysOn)),
        "parentbased_always_off" => Some(Sampler::parent_based(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => ratio(errs).map(Sampler::traefik),
        other => {
            errs.push(invalid(
                "OTEL_TRACES_SAMPLER",
                other,
                "is not a sampler tracewire supports",
                "use always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
            ));
            None
        }
    }
}

/// Reads every variable tracewire understands.
pub(in crate::config) fn read<E: Fn(&str) -> Option<String>>(
    env: &E,
    errs: &mut Vec<ConfigError>,
) -> Env {
    let mut e = Env::default();
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());

    e.endpoint = var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|v| v.trim().to_owned());
    e.traces_endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").map(|v| v.trim().to_owned());
    // Generic headers first, trace-specific ones override them per name.
    if let Some(v) = var("OTEL_EXPORTER_OTLP_HEADERS") {
        e.headers = key_values("OTEL_EXPORTER_OTLP_HEADERS", &v, errs);
    }
    if let Some(v) = var("OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
        for (k, val) in key_values("OTEL_EXPORTER_OTLP_TRACES_HEADERS", &v, errs) {
            e.headers.retain(|(ek, _)| !ek.eq_ignore_ascii_case(&k));
            e.headers.push((k, val));
        }
    }
    if let Some((name, v)) = otlp(env, "TIMEOUT") {
        e.timeout = millis(&name, &v, errs);
    }
    if let Some((name, v)) = otlp(env, "COMPRESSION") {
        e.compression = compression(&v, &name, errs);
    }
    if let Some((name, v)) = otlp(env, "PROTOCOL") {
        e.protocol = match v.trim() {
            "grpc" => Some(Protocol::Grpc),
            "http/protobuf" => Some(Protocol::Http),
            "http/json" => {
                errs.push(invalid(
                    &name,
                    &v,
                    "is not supported (tracewire sends binary protobuf)",
                    "use http/protobuf or grpc",
                ));
                None
            }
            _ => {
                errs.push(invalid(
                    &name,
                    &v,
                    "is not an OTLP protocol",
                    "use grpc or http/protobuf",
                ));
                None
            }
        };
    }
    e.certificate = otlp(env, "CERTIFICATE").map(|(_, v)| PathBuf::from(v.trim()));
    e.client_certificate = otlp(env, "CLIENT_CERTIFICATE").map(|(_, v)| PathBuf::from(v.trim()));
    e.client_key = otlp(env, "CLIENT_KEY").map(|(_, v)| PathBuf::from(v.trim()));
    if let Some((name, v)) = otlp(env, "INSECURE") {
        e.insecure = boolean(&name, &v, errs);
    }
    e.service_name = var("OTEL_SERVICE_NAME").map(|v| v.trim().to_owned());
    if let Some(v) = var("OTEL_RESOURCE_ATTRIBUTES") {
        e.resource_attributes = key_values("OTEL_RESOURCE_ATTRIBUTES", &v, errs);
    }
    if let Some(v) = var("OTEL_TRACES_SAMPLER") {
        e.sampler = sampler(&v, var("OTEL_TRACES_SAMPLER_ARG").as_deref(), errs);
    }
    if let Some(v) = var("OTEL_PROPAGATORS") {
        match v.parse::<Propagators>() {
            Ok(p) => e.propagators = Some(p),
            Err(err) => errs.push(invalid(
                "OTEL_PROPAGATORS",
                &v,
                "names a propagator tracewire does not support",
                &err.to_string(),
            )),
        }
    }
    if let Some(v) = var("OTEL_SDK_DISABLED") {
        e.sdk_disabled = boolean("OTEL_SDK_DISABLED", &v, errs).unwrap_or(false);
    }
    let n = |name: &str, errs: &mut Vec<ConfigError>| {
        var(name).and_then(|v| count::<usize>(name, &v, errs))
    };
    e.bsp_max_queue_size = n("OTEL_BSP_MAX_QUEUE_SIZE", errs);
    e.bsp_max_export_batch_size = n("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", errs);
    e.bsp_max_concurrent_exports = n("OTEL_BSP_MAX_CONCURRENT_EXPORTS", errs);
    e.bsp_schedule_delay =
        var("OTEL_BSP_SCHEDULE_DELAY").and_then(|v| millis("OTEL_BSP_SCHEDULE_DELAY", &v, errs));
    e.bsp_export_timeout =
        var("OTEL_BSP_EXPORT_TIMEOUT").and_then(|v| millis("OTEL_BSP_EXPORT_TIMEOUT", &v, errs));
    let c = |name: &str, errs: &mut Vec<ConfigError>| {
        var(name).and_then(|v| count::<u32>(name, &v, errs))
    };
    e.span_attribute_count = c("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", errs)
        .or_else(|| c("OTEL_ATTRIBUTE_COUNT_LIMIT", errs));
    e.span_event_count = c("OTEL_SPAN_EVENT_COUNT_LIMIT", errs);
    e.span_link_count = c("OTEL_SPAN_LINK_COUNT_LIMIT", errs);
    e.event_attribute_count = c("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", errs);
    e.link_attribute_count = c("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", errs);
    e.attribute_value_length = c("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", errs)
        .or_else(|| c("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", errs));
    e
}

impl Env {
    /// Applies `OTEL_BSP_*` onto `b`.
    pub(in crate::config) fn apply_batch(&self, b: &mut BatchConfig) {
        if let Some(v) = self.bsp_max_queue_size {
            b.max_queue_size = v;
        }
        if let Some(v) = self.bsp_max_export_batch_size {
            b.max_export_batch_size = v;
        }
        if let Some(v) = self.bsp_schedule_delay {
            b.scheduled_delay = v;
        }
        if let Some(v) = self.bsp_export_timeout {
            b.export_timeout = v;
        }
        if let Some(v) = self.bsp_max_concurrent_exports {
            b.max_concurrent_exports = v;
        }
    }

    /// Applies the `OTEL_*_LIMIT` variables onto `l`.
    pub(in crate::config) fn apply_limits(&self, l: &mut SpanLimits) {
        let apply = |slot: &mut u32, v: Option<u32>| {
            if let Some(v) = v {
                *slot = v;
            }
        };
        apply(&mut l.max_attributes_per_span, self.span_attribute_count);
        apply(&mut l.max_events_per_span, self.span_event_count);
        apply(&mut l.max_links_per_span, self.span_link_count);
        apply(&mut l.max_attributes_per_event, self.event_attribute_count);
        apply(&mut l.max_attributes_per_link, self.link_attribute_count);
        if self.attribute_value_length.is_some() {
            l.max_attribute_value_length = self.attribute_value_length;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_says_where_it_fails_never_what() {
        assert_eq!(percent_decode("%E6%97%A5 x%2Cy").as_deref(), Ok("日 x,y"));
        let e = percent_decode("ab%zzsecret").unwrap_err();
        assert!(e.contains("character 3") && !e.contains("secret"), "{e}");
        assert!(percent_decode("trailing%4")
            .unwrap_err()
            .contains("character 9"));
        let e = percent_decode("ok%FFsecret").unwrap_err();
        assert!(
            e.contains("from character 3") && !e.contains("secret"),
            "{e}"
        );
        let e = percent_decode("é%E6%97").unwrap_err();
        assert!(e.contains("from character 2"), "{e}");
    }
}
