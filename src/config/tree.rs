//! One generic tree for all three syntaxes (YAML, TOML, Traefik-style CLI
//! flags), so every option is resolved by the same code whichever way it
//! was written, and means the same thing.
//!
//! This module must never panic on input: malformed documents and flags
//! become [`ConfigError`]s.

use super::depth::{self, MAX_DEPTH};
use super::error::ConfigError;
use super::shown;
use super::source::line_column;

/// A configuration value, as parsed.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Node {
    /// A mapping, keys in document order (duplicates keep the last).
    Map(Vec<(String, Node)>),
    /// A sequence.
    List(Vec<Node>),
    /// A string (every CLI flag value is one).
    Str(String),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// An empty value (`tracing:` in YAML), meaning "enabled with defaults"
    /// for a section.
    Null,
}

impl Node {
    /// A short description of the value, for error messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Node::Map(_) => "a map".into(),
            Node::List(_) => "a list".into(),
            Node::Str(s) => match s.char_indices().nth(64) {
                Some((cut, _)) => format!("{:?}... ({} bytes)", &s[..cut], s.len()),
                None => format!("{s:?}"),
            },
            Node::Bool(b) => b.to_string(),
            Node::Int(i) => i.to_string(),
            Node::Float(f) => f.to_string(),
            Node::Null => "an empty value".into(),
        }
    }

    /// Looks a key up case-insensitively.
    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Overlays `other` onto `self`: maps merge key by key
    /// (case-insensitively), anything else is replaced.
    pub(super) fn merge(&mut self, other: Node) {
        match (self, other) {
            (Node::Map(mine), Node::Map(theirs)) => {
                for (k, v) in theirs {
                    match mine.iter_mut().find(|(mk, _)| mk.eq_ignore_ascii_case(&k)) {
                        Some((_, existing)) => existing.merge(v),
                        None => mine.push((k, v)),
                    }
                }
            }
            // `--tracing=true` on top of a file's `tracing:` section keeps
            // the section.
            (Node::Map(_), Node::Bool(true) | Node::Null) => {}
            (Node::Map(_), Node::Str(s)) if s.eq_ignore_ascii_case("true") => {}
            (this, other) => *this = other,
        }
    }
}

/// Parses a YAML document, refusing one that nests deeper than
/// [`MAX_DEPTH`] before the YAML parser reads it (that parser takes time
/// quadratic in the depth).
pub(super) fn parse_yaml(text: &str) -> Result<Node, ConfigError> {
    let too_deep = |(line, column)| ConfigError::TooDeep {
        format: "YAML",
        limit: MAX_DEPTH,
        line,
        column,
    };
    depth::yaml(text, MAX_DEPTH).map_err(|at| too_deep(line_column(text, at)))?;
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| {
        match e.location() {
            // The parser's own limit (the same), where the scan counted less.
            Some(at) if e.to_string().starts_with("recursion limit exceeded") => {
                too_deep((at.line(), at.column()))
            }
            _ => ConfigError::Syntax {
                format: "YAML",
                message: yaml_message(&e),
            },
        }
    })?;
    from_yaml(value)
}

/// A YAML parser error as a message may show it: with its position, and
/// nothing of the document. The scanner's own messages (libyaml's) quote
/// nothing; serde's do (the path of keys to the value, the value itself:
/// `a.Authorization: Bearer ...: invalid value: string "..."`), so those
/// are replaced by what they mean.
fn yaml_message(e: &serde_yaml_ng::Error) -> String {
    /// What serde says (a marker), what it means, and the fix.
    const SERDE: &[(&str, &str, &str)] = &[
        (
            "invalid value",
            "a value does not match its tag (such as !!bool or !!int)",
            "remove the tag or fix the value",
        ),
        (
            "invalid type",
            "a value does not match its tag",
            "remove the tag or fix the value",
        ),
        (
            "duplicate entry",
            "a key appears twice in one map",
            "keep one",
        ),
        (
            "unknown anchor",
            "an alias (*name) refers to no anchor (&name) defined before it",
            "define the anchor first, or write the value out",
        ),
        (
            "repetition limit exceeded",
            "aliases (*name) expand to too many values",
            "write the values out",
        ),
        (
            "more than one document",
            "the file holds more than one YAML document (---)",
            "keep one",
        ),
        (
            "merg",
            "a merge key (<<) does not name a map or a list of maps",
            "fix what it names",
        ),
        ("empty YAML tag", "an empty tag (!)", "remove it"),
        (
            "failed to parse YAML number",
            "a number that cannot be read",
            "fix it",
        ),
        (
            "EOF while parsing",
            "the document ends before its value",
            "complete it",
        ),
        (
            "recursion limit exceeded",
            "it nests too deeply",
            "nest less",
        ),
    ];
    let full = e.to_string();
    let Some((_, what, fix)) = SERDE.iter().find(|(marker, _, _)| full.contains(marker)) else {
        // The scanner's message, which has its position.
        return format!("{}; fix the YAML there", shown::escape(&unquoted(&full)));
    };
    match e.location() {
        Some(at) => format!(
            "{what} at line {}, column {}; {fix}",
            at.line(),
            at.column()
        ),
        None => format!("{what}; {fix}"),
    }
}

/// `s` with the inside of every double-quoted piece replaced by `...`.
fn unquoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '"' {
            out.push_str("...");
            let mut escaped = false;
            for q in chars.by_ref() {
                if q == '"' && !escaped {
                    out.push('"');
                    break;
                }
                escaped = q == '\\' && !escaped;
            }
        }
    }
    out
}

fn from_yaml(v: serde_yaml_ng::Value) -> Result<Node, ConfigError> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Node::Null,
        Y::Bool(b) => Node::Bool(b),
        Y::Number(n) => match n.as_i64() {
            Some(i) => Node::Int(i),
            None => Node::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Y::String(s) => Node::Str(s),
        Y::Sequence(items) => {
            Node::List(items.into_iter().map(from_yaml).collect::<Result<_, _>>()?)
        }
        Y::Mapping(m) => {
            let mut entries = Vec::with_capacity(m.len());
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    other => {
                        let found = match other {
                            Y::Null => "an empty key",
                            Y::Sequence(_) => "a list",
                            Y::Mapping(_) => "a map",
                            _ => "a tagged value",
                        };
                        return Err(ConfigError::Syntax {
                            format: "YAML",
                            message: format!(
                                "mapping keys must be strings, found {found} as a key; write \
                                 option names as plain words"
                            ),
                        });
                    }
                };
                entries.push((key, from_yaml(v)?));
            }
            Node::Map(entries)
        }
        Y::Tagged(t) => from_yaml(t.value)?,
    })
}

/// Parses a TOML document.
pub(super) fn parse_toml(text: &str) -> Result<Node, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| toml_error(text, &e))?;
    Ok(from_toml(toml::Value::Table(table)))
}

/// A TOML parser error as a message may show it: the message and the
/// position, never the line of the document that `Display` quotes (it may
/// hold a header value).
fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = shown::escape(e.message().trim_end());
    let at = e.span().map(|span| span.start);
    if message == "recursion limit" || message.starts_with("cannot recurse further") {
        // A dotted key too long comes without a position: find it.
        let at = at.or_else(|| depth::toml_dotted_key(text, depth::TOML_KEY_PARTS_LIMIT));
        if let Some(at) = at {
            let (line, column) = line_column(text, at);
            return ConfigError::TooDeep {
                format: "TOML",
                limit: depth::TOML_KEY_PARTS_LIMIT - 1,
                line,
                column,
            };
        }
    }
    let message = match at {
        Some(at) => {
            let (line, column) = line_column(text, at);
            format!("{message} at line {line}, column {column}; fix the TOML there")
        }
        None => format!("{message}; fix the TOML"),
    };
    ConfigError::Syntax {
        format: "TOML",
        message,
    }
}

fn from_toml(v: toml::Value) -> Node {
    use toml::Value as T;
    match v {
        T::String(s) => Node::Str(s),
        T::Integer(i) => Node::Int(i),
        T::Float(f) => Node::Float(f),
        T::Boolean(b) => Node::Bool(b),
        T::Datetime(d) => Node::Str(d.to_string()),
        T::Array(a) => Node::List(a.into_iter().map(from_toml).collect()),
        T::Table(t) => Node::Map(t.into_iter().map(|(k, v)| (k, from_toml(v))).collect()),
    }
}

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
pub(super) fn parse_flags<S: AsRef<str>>(flags: &[S]) -> Result<Node, ConfigError> {
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

    #[test]
    fn deep_documents_are_refused_with_the_position() {
        let e = parse_yaml(&"[".repeat(100_000)).unwrap_err().to_string();
        assert!(
            e.contains("nested more than 128 levels deep at line 1, column 129"),
            "{e}"
        );
        let e = parse_toml(&format!("a = {}", "[".repeat(1000)))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid TOML: nested more than 80 levels deep at line 1"),
            "{e}"
        );
        let key = vec!["a"; 100].join(".");
        let e = parse_toml(&format!("x = 1\n[{key}]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("nested more than 80 levels deep at line 2, column"),
            "{e}"
        );
        let e = parse_toml(&format!("x = 1\n{key} = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at line 2, column"), "{e}");
    }

    #[test]
    fn yaml_and_toml_parse() {
        let y = parse_yaml("tracing:\n  serviceName: edge\n  sampleRate: 0.25\n").unwrap();
        let t = parse_toml("[tracing]\nserviceName = \"edge\"\nsampleRate = 0.25\n").unwrap();
        assert_eq!(y, t);
        assert!(parse_yaml("tracing: [unclosed").is_err());
        assert!(parse_toml("[tracing\n").is_err());
    }
}
