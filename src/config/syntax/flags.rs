//! Traefik-style CLI flags (`--tracing.otlp.http.endpoint=URL`) into the
//! configuration tree.
//!
//! This module must never panic on input: a malformed flag is a
//! [`ConfigError::Flag`] naming it (escaped, cut before any value).

use super::tree::{Node, MAX_DEPTH};
use crate::config::error::ConfigError;
use crate::config::shown;

/// The options whose value is a free-form map: in flag form, everything
/// after their own name is one key (`--tracing.resourceAttributes.deployment.environment=prod`).
const MAP_OPTIONS: &[&[&str]] = &[
    &["tracing", "resourceattributes"],
    &["tracing", "globalattributes"],
    &["tracing", "otlp", "http", "headers"],
    &["tracing", "otlp", "grpc", "headers"],
];

/// Parses Traefik-style flags (`--tracing.otlp.http.endpoint=URL`) into a
/// tree. Flags not starting with `--tracing` are refused (the caller
/// separates its own flags first).
///
/// - `--a.b` alone is `true`;
/// - `--a.b=x,y` and `--a.b[0]=x --a.b[1]=y` are both lists where a list is
///   expected (the resolver splits on commas);
/// - map options take the rest of the name as the key.
pub(in crate::config) fn parse_flags<S: AsRef<str>>(flags: &[S]) -> Result<Node, ConfigError> {
    let mut root = Node::Map(Vec::new());
    for flag in flags {
        let flag = flag.as_ref();
        let Some(body) = flag.strip_prefix("--") else {
            return Err(ConfigError::Flag {
                flag: shown::flag(flag),
                reason: "flags start with --, as in --tracing.serviceName=edge".into(),
            });
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Node::Str(v.to_owned())),
            None => (body, Node::Bool(true)),
        };
        if name.is_empty() || name.starts_with('.') || name.ends_with('.') || name.contains("..") {
            return Err(ConfigError::Flag {
                flag: shown::flag(flag),
                reason: "the option name is malformed: write --tracing.<option>=<value>, with \
                         one dot between names"
                    .into(),
            });
        }
        let mut segments: Vec<String> = Vec::new();
        let mut rest = name;
        loop {
            if segments.len() >= MAX_DEPTH {
                return Err(ConfigError::Flag {
                    flag: shown::flag(flag),
                    reason: format!(
                        "the option name has more than {MAX_DEPTH} parts; tracing options have \
                         at most 5, as in --tracing.otlp.grpc.tls.ca=<file>"
                    ),
                });
            }
            if MAP_OPTIONS.iter().any(|m| {
                m.len() == segments.len()
                    && m.iter()
                        .zip(&segments)
                        .all(|(a, b)| b.eq_ignore_ascii_case(a))
            }) {
                // Everything left is one key of the map.
                segments.push(rest.to_owned());
                break;
            }
            match rest.split_once('.') {
                Some((head, tail)) => {
                    segments.push(head.to_owned());
                    rest = tail;
                }
                None => {
                    segments.push(rest.to_owned());
                    break;
                }
            }
        }
        insert_flag(&mut root, &segments, value, flag)?;
    }
    Ok(root)
}

/// Splits `name[3]` into `("name", Some(3))`.
fn indexed(segment: &str) -> Result<(&str, Option<usize>), ()> {
    match segment.strip_suffix(']').and_then(|s| s.split_once('[')) {
        Some((name, idx)) => idx
            .parse::<usize>()
            .map(|i| (name, Some(i)))
            .map_err(|_| ()),
        None if segment.contains('[') || segment.contains(']') => Err(()),
        None => Ok((segment, None)),
    }
}

fn insert_flag(
    root: &mut Node,
    segments: &[String],
    value: Node,
    flag: &str,
) -> Result<(), ConfigError> {
    let bad = |reason: &str| ConfigError::Flag {
        flag: shown::flag(flag),
        reason: reason.to_owned(),
    };
    let mut node = root;
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let (key, index) = indexed(seg).map_err(|_| bad("a list index must look like name[0]"))?;
        if !matches!(node, Node::Map(_)) {
            // `--tracing=true --tracing.serviceName=x`: the section wins.
            *node = Node::Map(Vec::new());
        }
        let Node::Map(entries) = node else {
            return Err(bad("internal: expected a section"));
        };
        let pos = match entries
            .iter()
            .position(|(k, _)| k.eq_ignore_ascii_case(key))
        {
            Some(p) => p,
            None => {
                entries.push((
                    key.to_owned(),
                    if last && index.is_none() {
                        Node::Null
                    } else {
                        Node::Map(Vec::new())
                    },
                ));
                entries.len() - 1
            }
        };
        let slot = &mut entries[pos].1;
        match index {
            Some(idx) => {
                if !matches!(slot, Node::List(_)) {
                    *slot = Node::List(Vec::new());
                }
                let Node::List(items) = slot else {
                    return Err(bad("internal: expected a list"));
                };
                if idx > 1024 {
                    return Err(bad("list indexes above 1024 are not supported"));
                }
                if items.len() <= idx {
                    items.resize(idx + 1, Node::Null);
                }
                if last {
                    items[idx] = value;
                    return Ok(());
                }
                node = &mut items[idx];
            }
            None => {
                if last {
                    slot.merge(value);
                    return Ok(());
                }
                node = slot;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_build_the_same_tree_as_yaml() {
        let flags = parse_flags(&[
            "--tracing.serviceName=edge",
            "--tracing.sampleRate=0.5",
            "--tracing.otlp.http.headers.X-Tenant=abc",
            "--tracing.resourceAttributes.deployment.environment=prod",
            "--tracing.capturedRequestHeaders[0]=X-A",
            "--tracing.capturedRequestHeaders[1]=X-B",
            "--tracing.otlp.grpc.insecure",
        ])
        .unwrap();
        let t = flags.get("tracing").unwrap();
        assert_eq!(t.get("serviceName"), Some(&Node::Str("edge".into())));
        let h = t
            .get("otlp")
            .unwrap()
            .get("http")
            .unwrap()
            .get("headers")
            .unwrap();
        assert_eq!(h.get("x-tenant"), Some(&Node::Str("abc".into())));
        let ra = t.get("resourceattributes").unwrap();
        assert_eq!(
            ra.get("deployment.environment"),
            Some(&Node::Str("prod".into()))
        );
        assert_eq!(
            t.get("capturedRequestHeaders"),
            Some(&Node::List(vec![
                Node::Str("X-A".into()),
                Node::Str("X-B".into())
            ]))
        );
        assert_eq!(
            t.get("otlp").unwrap().get("grpc").unwrap().get("insecure"),
            Some(&Node::Bool(true))
        );
    }

    #[test]
    fn section_flags_and_values_combine() {
        let t = parse_flags(&["--tracing=true", "--tracing.serviceName=x"]).unwrap();
        assert_eq!(
            t.get("tracing").unwrap().get("servicename"),
            Some(&Node::Str("x".into()))
        );
        let t = parse_flags(&["--tracing.serviceName=x", "--tracing=true"]).unwrap();
        assert_eq!(
            t.get("tracing").unwrap().get("servicename"),
            Some(&Node::Str("x".into()))
        );
    }

    #[test]
    fn malformed_flags_are_errors() {
        for f in [
            "tracing",
            "--",
            "--tracing..x",
            "--tracing.a[x]=1",
            "--tracing.a]=1",
        ] {
            assert!(parse_flags(&[f]).is_err(), "{f}");
        }
    }

    #[test]
    fn long_flag_names_are_refused_quickly() {
        let long = format!("--tracing.{}=1", vec!["a"; 100_000].join("."));
        let e = parse_flags(&[long]).unwrap_err().to_string();
        assert!(e.contains("more than 128 parts"), "{e}");
        assert!(!e.contains("=1"), "{e}");
        // A map's key may hold any number of dots.
        let key = vec!["a"; 1000].join(".");
        let t = parse_flags(&[format!("--tracing.resourceAttributes.{key}=1")]).unwrap();
        let attrs = t.get("tracing").unwrap().get("resourceAttributes").unwrap();
        assert_eq!(attrs.get(&key), Some(&Node::Str("1".into())));
    }
}
