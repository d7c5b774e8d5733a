//! Reading typed values out of the configuration tree: sections with known
//! keys (case-insensitive, typos answered with a suggestion), booleans,
//! strings, numbers, durations, lists and maps, each problem recorded as a
//! [`ConfigError`] naming the option.
//!
//! This module must never panic on user input.

use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::config::error::ConfigError;
use crate::config::shown;
use crate::config::syntax::Node;
use crate::priority::WorkerPriority;
use crate::transport::Compression;

/// The closest known key, if close enough to be a typo.
pub(in crate::config) fn suggest(key: &str, known: &[&str], path: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| join(path, k))
}

pub(in crate::config) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The entries of a section, keyed by their canonical names; unknown keys
/// are reported with a suggestion. `Null` and `true` are an empty section.
pub(in crate::config) fn section<'a>(
    node: &'a Node,
    path: &str,
    known: &[&'static str],
    errs: &mut Vec<ConfigError>,
) -> Vec<(&'static str, &'a Node)> {
    let mut out = Vec::new();
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                match known.iter().find(|c| c.eq_ignore_ascii_case(k)) {
                    Some(canonical) => out.push((*canonical, v)),
                    None => errs.push(ConfigError::UnknownOption {
                        option: join(path, &shown::key(k)),
                        suggestion: suggest(k, known, path),
                    }),
                }
            }
        }
        Node::Null | Node::Bool(true) => {}
        Node::Str(s) if s.eq_ignore_ascii_case("true") => {}
        other => errs.push(ConfigError::WrongType {
            option: path.to_owned(),
            expected: "a section (a map, or true to enable it with defaults)",
            value: other.describe(),
        }),
    }
    out
}

/// Whether a section node is switched on (`false` switches it off).
pub(in crate::config) fn section_enabled(node: &Node) -> bool {
    !matches!(node, Node::Bool(false))
        && !matches!(node, Node::Str(s) if s.eq_ignore_ascii_case("false"))
}

pub(in crate::config) fn want_bool(
    node: &Node,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Option<bool> {
    match node {
        Node::Bool(b) => Some(*b),
        Node::Null => Some(true),
        Node::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Node::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "true or false",
                value: other.describe(),
            });
            None
        }
    }
}

pub(in crate::config) fn want_string(
    node: &Node,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Option<String> {
    match node {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(f.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "a string",
                value: other.describe(),
            });
            None
        }
    }
}

pub(in crate::config) fn want_f64(
    node: &Node,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Option<f64> {
    let v = match node {
        Node::Float(f) => Some(*f),
        Node::Int(i) => Some(*i as f64),
        Node::Str(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if v.is_none() {
        errs.push(ConfigError::WrongType {
            option: option.to_owned(),
            expected: "a number",
            value: node.describe(),
        });
    }
    v
}

pub(in crate::config) fn want_u32(
    node: &Node,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Option<u32> {
    let v = match node {
        Node::Int(i) => u32::try_from(*i).ok(),
        Node::Str(s) => s.trim().parse::<u32>().ok(),
        _ => None,
    };
    if v.is_none() {
        errs.push(ConfigError::WrongType {
            option: option.to_owned(),
            expected: "a whole number from 0 to 4294967295",
            value: node.describe(),
        });
    }
    v
}

/// The longest duration read (100 years): anything longer is surely a
/// mistake, and a deadline that far out overflows a clock.
pub(in crate::config) const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Parses a duration: Go-style (`500ms`, `5s`, `1m30s`, `1h`), or a bare
/// number of seconds as Traefik reads durations. `None` for anything else,
/// for a negative or non-finite number, and for more than 100 years.
pub fn parse_duration(s: &str) -> Option<Duration> {
    parse_any_duration(s).filter(|d| *d <= MAX_DURATION)
}

fn parse_any_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        // Not `from_secs_f64`: it panics on what does not fit (`1e300`).
        return Duration::try_from_secs_f64(secs).ok();
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let per_unit = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        let d = value * per_unit;
        if !d.is_finite() || d > 1e12 {
            return None;
        }
        total = total.checked_add(Duration::try_from_secs_f64(d).ok()?)?;
    }
    Some(total)
}

pub(in crate::config) fn want_duration(
    node: &Node,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Option<Duration> {
    let v = match node {
        Node::Int(i) => u64::try_from(*i).ok().map(Duration::from_secs),
        Node::Float(f) => Duration::try_from_secs_f64(*f).ok(),
        Node::Str(s) => parse_duration(s),
        _ => None,
    }
    .filter(|d| *d <= MAX_DURATION);
    if v.is_none() {
        errs.push(ConfigError::WrongType {
            option: option.to_owned(),
            expected: "a duration such as 500ms, 5s or 1m (a bare number is seconds), at most \
                       100 years",
            value: node.describe(),
        });
    }
    v
}

pub(in crate::config) fn want_list(
    node: &Node,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Option<Vec<String>> {
    match node {
        Node::List(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if matches!(item, Node::Null) {
                    continue;
                }
                out.push(want_string(item, &format!("{option}[{i}]"), errs)?);
            }
            Some(out)
        }
        // CLI: `--tracing.capturedRequestHeaders=X-A,X-B`.
        Node::Str(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Node::Null => Some(Vec::new()),
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "a list of strings",
                value: other.describe(),
            });
            None
        }
    }
}

pub(in crate::config) fn want_map(
    node: &Node,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Vec<(String, String)> {
    match node {
        Node::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| {
                want_string(v, &join(option, &shown::key(k)), errs).map(|v| (k.clone(), v))
            })
            .collect(),
        Node::Null => Vec::new(),
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "a map of names to values",
                value: other.describe(),
            });
            Vec::new()
        }
    }
}

/// A `headers` map. Anything else is refused without showing it: a string
/// there is usually `Name: value` written on one line, and the value a
/// secret.
pub(in crate::config) fn want_headers(
    node: &Node,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Vec<(String, String)> {
    match node {
        Node::Map(_) | Node::Null => want_map(node, option, errs),
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "a map of header names to values (in YAML one `Name: value` per line \
                           under headers:, in TOML a [tracing.otlp.<http|grpc>.headers] table, \
                           as flags one --tracing.otlp.<http|grpc>.headers.<Name>=<value> per \
                           header)",
                value: match other {
                    Node::Str(_) => "a string (not shown: it may hold a header value)".into(),
                    other => other.describe(),
                },
            });
            Vec::new()
        }
    }
}

pub(in crate::config) fn compression(
    s: &str,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Option<Compression> {
    match s.trim().to_ascii_lowercase().as_str() {
        "gzip" => Some(Compression::Gzip),
        "none" | "" => Some(Compression::None),
        "zstd" if cfg!(feature = "zstd") => Some(Compression::Zstd),
        "zstd" => {
            errs.push(ConfigError::Invalid {
                option: option.to_owned(),
                value: format!("{s:?}"),
                reason: "needs tracewire's `zstd` feature, which this build does not have".into(),
                fix: "add features = [\"zstd\"] to the tracewire dependency, or use gzip".into(),
            });
            None
        }
        _ => {
            errs.push(ConfigError::Invalid {
                option: option.to_owned(),
                value: format!("{s:?}"),
                reason: "is not a supported compression".into(),
                fix: "use gzip, zstd or none".into(),
            });
            None
        }
    }
}

/// `tracing.batch.workerPriority`: `idle`, `low` or `normal`.
pub(in crate::config) fn want_priority(
    node: &Node,
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Option<WorkerPriority> {
    let s = want_string(node, option, errs)?;
    match s.trim().parse() {
        Ok(p) => Some(p),
        Err(_) => {
            errs.push(ConfigError::Invalid {
                option: option.to_owned(),
                value: format!("{s:?}"),
                reason: "is not a worker priority".into(),
                fix: "use idle (the default: the worker runs only when the CPU is otherwise idle), low (nice 19) or normal".into(),
            });
            None
        }
    }
}

/// Validates header names and values; values become sensitive (never shown).
pub(in crate::config) fn headers(
    pairs: &[(String, String)],
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (name, value) in pairs {
        let opt = join(option, &shown::key(name));
        let trimmed = name.trim();
        let Ok(n) = HeaderName::from_bytes(trimmed.as_bytes()) else {
            errs.push(ConfigError::Invalid {
                option: opt,
                value: "the header name".into(),
                reason: format!(
                    "is not a valid HTTP header name ({})",
                    shown::header_name_problem(trimmed)
                ),
                fix: "use letters, digits and - only (no spaces, colons or control characters), \
                      and put the value after the name, not in it"
                    .into(),
            });
            continue;
        };
        match HeaderValue::from_str(value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                out.retain(|(existing, _)| *existing != n);
                out.push((n, v));
            }
            Err(_) => errs.push(ConfigError::Invalid {
                option: opt,
                value: "the value (not shown)".into(),
                reason: "contains characters HTTP headers cannot carry (CR, LF or other control characters)".into(),
                fix: "remove line breaks and control characters from the header value".into(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("3153600000"), Some(MAX_DURATION));
        for bad in [
            "",
            "5 parsecs",
            "ms",
            "-1",
            "1x",
            "NaN",
            "inf",
            "-0.5",
            "1e300",
            "1e20",
            "3153600001",
            "876001h",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
