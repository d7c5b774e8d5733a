//! YAML documents into the configuration tree, read event by event
//! (`saphyr-parser`), so every limit is the reader's own and holds while
//! the document streams in: nesting deeper than `MAX_DEPTH` (128) stops the
//! read where it passes the limit (in time linear in what was read), aliases
//! may not expand past [`MAX_ALIAS_NODES`] nodes, a key may not appear twice
//! in one map, and one file holds one document.
//!
//! Scalars are read as YAML 1.2's core schema reads them, as the OpenTelemetry
//! declarative configuration and Traefik expect: `null`/`~`/empty,
//! `true`/`false` (three spellings each), decimal, `0x`, `0o` and `0b`
//! integers, floats with `.inf` and `.nan`; a quoted or block scalar is a
//! string; `!!str`, `!!int`, `!!float`, `!!bool` and `!!null` force a type
//! (a value that does not read as it is an error), `!` makes a string, and
//! other tags are ignored. [`plain_scalar`] is that reading, shared with
//! environment substitution.
//!
//! Errors are typed ([`ConfigError::TooDeep`], [`ConfigError::Syntax`])
//! with the position as a person counts it (line and column from 1); a
//! message never quotes the document (it may hold a header value).
//!
//! This module must never panic on input.

use std::collections::{HashMap, HashSet};

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError, Span, Tag};

use super::tree::{Node, MAX_DEPTH};
use crate::config::error::ConfigError;
use crate::config::shown;

/// The most nodes aliases (`*name`) may add to a document in all: more is
/// an alias bomb, refused before it is built.
pub(in crate::config) const MAX_ALIAS_NODES: usize = 100_000;

/// The scanner's message when flow collections (`[`, `{`) nest past its
/// own limit (255), before any event of them reaches [`parse_yaml`]; a test
/// pins it, so a parser update that rewords it fails loudly.
const SCANNER_DEPTH: &str = "recursion limit exceeded";

/// Parses a YAML document into a tree.
pub(in crate::config) fn parse_yaml(text: &str) -> Result<Node, ConfigError> {
    let mut build = Build::default();
    let mut documents = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(scan_error)?;
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(syntax(
                        "the file holds more than one YAML document (---)",
                        &span,
                        "keep one",
                    ));
                }
            }
            Event::Alias(id) => {
                let Some((node, size, depth)) = build.anchors.get(&id) else {
                    return Err(syntax(
                        "an alias (*name) refers to no anchor (&name) defined before it",
                        &span,
                        "define the anchor first, or write the value out",
                    ));
                };
                build.alias_nodes = build.alias_nodes.saturating_add(*size);
                if build.alias_nodes > MAX_ALIAS_NODES {
                    return Err(syntax(
                        "aliases (*name) expand to too many values",
                        &span,
                        "write the values out",
                    ));
                }
                if build.open.len() + depth > MAX_DEPTH {
                    return Err(too_deep(&span));
                }
                let node = node.clone();
                build.value(node, 0, &span)?;
            }
            Event::Scalar(value, style, anchor, tag) => {
                let node = scalar(&value, style, tag.as_deref(), &span)?;
                if build.expects_key() && node != Node::Null {
                    // A key is a name: kept as written (`0x1f`, `1.`),
                    // whatever type its text would read as.
                    build.value(Node::Str(value.into_owned()), anchor, &span)?;
                } else {
                    build.value(node, anchor, &span)?;
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if build.open.len() >= MAX_DEPTH {
                    return Err(too_deep(&span));
                }
                build.open.push(Open {
                    anchor,
                    span,
                    kind: match event {
                        Event::SequenceStart(..) => Kind::List(Vec::new()),
                        _ => Kind::Map {
                            entries: Vec::new(),
                            keys: HashSet::new(),
                            key: None,
                        },
                    },
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(open) = build.open.pop() else {
                    continue; // The parser pairs them; never trust that.
                };
                let node = match open.kind {
                    Kind::List(items) => Node::List(items),
                    Kind::Map { entries, .. } => Node::Map(entries),
                };
                build.value(node, open.anchor, &open.span)?;
            }
        }
    }
    Ok(build.root.unwrap_or(Node::Null))
}

/// A collection being read.
struct Open {
    anchor: usize,
    span: Span,
    kind: Kind,
}

enum Kind {
    List(Vec<Node>),
    Map {
        entries: Vec<(String, Node)>,
        /// The keys read so far (a key twice is an error).
        keys: HashSet<String>,
        /// The key whose value comes next.
        key: Option<String>,
    },
}

#[derive(Default)]
struct Build {
    open: Vec<Open>,
    root: Option<Node>,
    /// Anchored nodes by id, with their size in nodes and how deeply they
    /// nest.
    anchors: HashMap<usize, (Node, usize, usize)>,
    /// Nodes added by aliases so far.
    alias_nodes: usize,
}

impl Build {
    /// Whether the next node is a key of the map open.
    fn expects_key(&self) -> bool {
        matches!(
            self.open.last().map(|o| &o.kind),
            Some(Kind::Map { key: None, .. })
        )
    }

    /// Places a finished node: in the collection open, or as the document.
    fn value(&mut self, node: Node, anchor: usize, span: &Span) -> Result<(), ConfigError> {
        if anchor != 0 {
            let (size, depth) = (size(&node), depth(&node));
            self.anchors.insert(anchor, (node.clone(), size, depth));
        }
        match self.open.last_mut().map(|o| &mut o.kind) {
            None => self.root = Some(node),
            Some(Kind::List(items)) => items.push(node),
            Some(Kind::Map { entries, keys, key }) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => {
                    let k = key_text(node, span)?;
                    if !keys.insert(k.clone()) {
                        return Err(syntax("a key appears twice in one map", span, "keep one"));
                    }
                    *key = Some(k);
                }
            },
        }
        Ok(())
    }
}

/// A mapping key as the tree keeps it: its text.
fn key_text(node: Node, span: &Span) -> Result<String, ConfigError> {
    let found = match node {
        Node::Str(s) => return Ok(s),
        Node::Bool(b) => return Ok(b.to_string()),
        Node::Int(i) => return Ok(i.to_string()),
        Node::Float(f) => return Ok(f.to_string()),
        Node::Null => "an empty key",
        Node::List(_) => "a list",
        Node::Map(_) => "a map",
    };
    Err(ConfigError::Syntax {
        format: "YAML",
        message: format!(
            "mapping keys must be strings, found {found} as a key at {}; write option names \
             as plain words",
            at(span)
        ),
    })
}

/// How many nodes `node` holds, itself included.
fn size(node: &Node) -> usize {
    match node {
        Node::List(items) => 1 + items.iter().map(size).sum::<usize>(),
        Node::Map(entries) => 1 + entries.iter().map(|(_, v)| size(v)).sum::<usize>(),
        _ => 1,
    }
}

/// How many collections deep `node` nests (a scalar: 0).
fn depth(node: &Node) -> usize {
    match node {
        Node::List(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Node::Map(entries) => 1 + entries.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// A scalar event as a node, by its style and tag.
fn scalar(
    value: &str,
    style: ScalarStyle,
    tag: Option<&Tag>,
    span: &Span,
) -> Result<Node, ConfigError> {
    let plain = matches!(style, ScalarStyle::Plain);
    let Some(tag) = tag else {
        return Ok(if plain {
            plain_scalar(value)
        } else {
            Node::Str(value.to_owned())
        });
    };
    if !tag.is_yaml_core_schema() {
        // `!` is the non-specific tag: a string. Other local tags mean
        // nothing to a configuration: the value as written.
        let non_specific = matches!(
            (tag.handle.as_str(), tag.suffix.as_str()),
            ("", "!") | ("!", "")
        );
        return Ok(if non_specific || !plain {
            Node::Str(value.to_owned())
        } else {
            plain_scalar(value)
        });
    }
    let read = plain_scalar(value);
    let typed = match (tag.suffix.as_str(), read) {
        ("str", _) => Some(Node::Str(value.to_owned())),
        ("int", n @ Node::Int(_)) => Some(n),
        ("float", n @ Node::Float(_)) => Some(n),
        ("float", Node::Int(i)) => Some(Node::Float(i as f64)),
        ("bool", n @ Node::Bool(_)) => Some(n),
        ("null", n @ Node::Null) => Some(n),
        ("int" | "float" | "bool" | "null", _) => None,
        (_, n) => Some(n),
    };
    typed.ok_or_else(|| {
        syntax(
            "a value does not match its tag (such as !!bool or !!int)",
            span,
            "remove the tag or fix the value",
        )
    })
}

/// What a plain (unquoted) scalar means, by YAML 1.2's core schema: null,
/// a boolean, an integer (one too large for 64 bits is a float), a float,
/// or else a string. A number written with leading zeros (`0755`) is a
/// string, as the core schema says.
///
/// ```text
/// "" ~ null Null NULL     -> null
/// true True TRUE ...      -> boolean
/// 42 -7 +3 0x1f 0o17 0b11 -> integer
/// 0.25 1e3 .inf -.inf .nan -> float
/// ```
pub(in crate::config) fn plain_scalar(text: &str) -> Node {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "true" | "True" | "TRUE" => return Node::Bool(true),
        "false" | "False" | "FALSE" => return Node::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Node::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        _ => {}
    }
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let radix = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find_map(|(p, r)| unsigned.strip_prefix(p).map(|digits| (digits, r)));
    if let Some((digits, radix)) = radix {
        if !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix)) {
            if let Ok(v) = u128::from_str_radix(digits, radix) {
                let v = if negative { -(v as i128) } else { v as i128 };
                return match i64::try_from(v) {
                    Ok(i) => Node::Int(i),
                    Err(_) => Node::Float(v as f64),
                };
            }
        }
        return Node::Str(text.to_owned());
    }
    let digits = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit());
    if digits && unsigned.len() > 1 && unsigned.starts_with('0') {
        return Node::Str(text.to_owned());
    }
    if digits {
        return match text.parse::<i64>() {
            Ok(i) => Node::Int(i),
            Err(_) => Node::Float(text.parse::<f64>().unwrap_or(f64::NAN)),
        };
    }
    // A float as the core schema writes one: digits, a point, an exponent;
    // never Rust's own words (`inf`, `NaN`, `infinity`).
    let float_shaped = unsigned.bytes().any(|b| b.is_ascii_digit())
        && unsigned
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    if float_shaped {
        if let Ok(f) = text.parse::<f64>() {
            if f.is_finite() {
                return Node::Float(f);
            }
        }
    }
    Node::Str(text.to_owned())
}

/// "line L, column C" of a span's start, as a person counts them.
fn at(span: &Span) -> String {
    format!(
        "line {}, column {}",
        span.start.line(),
        span.start.col() + 1
    )
}

fn syntax(what: &str, span: &Span, fix: &str) -> ConfigError {
    ConfigError::Syntax {
        format: "YAML",
        message: format!("{what} at {}; {fix}", at(span)),
    }
}

fn too_deep(span: &Span) -> ConfigError {
    ConfigError::TooDeep {
        format: "YAML",
        limit: MAX_DEPTH,
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

/// A scanner or parser error: its own message (which quotes at most one
/// character, escaped here) and position.
fn scan_error(e: ScanError) -> ConfigError {
    let m = e.marker();
    if e.info() == SCANNER_DEPTH {
        return ConfigError::TooDeep {
            format: "YAML",
            limit: MAX_DEPTH,
            line: m.line(),
            column: m.col() + 1,
        };
    }
    ConfigError::Syntax {
        format: "YAML",
        message: format!(
            "{} at line {}, column {}; fix the YAML there",
            shown::escape(e.info()),
            m.line(),
            m.col() + 1
        ),
    }
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Node)]) -> Node {
        Node::Map(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    fn err(text: &str) -> String {
        parse_yaml(text).unwrap_err().to_string()
    }

    #[test]
    fn a_traefik_section_reads_as_a_tree() {
        let t = parse_yaml(
            "tracing:\n  serviceName: edge\n  sampleRate: 0.25\n  addInternals: true\n  \
             otlp:\n    grpc:\n      endpoint: \"c:4317\"\n      headers: {a: '1'}\n  \
             capturedRequestHeaders: [X-A, X-B]\n",
        )
        .unwrap();
        let tracing = t.get("tracing").unwrap();
        assert_eq!(tracing.get("servicename"), Some(&Node::Str("edge".into())));
        assert_eq!(tracing.get("sampleRate"), Some(&Node::Float(0.25)));
        assert_eq!(tracing.get("addInternals"), Some(&Node::Bool(true)));
        let grpc = tracing.get("otlp").unwrap().get("grpc").unwrap();
        assert_eq!(grpc.get("endpoint"), Some(&Node::Str("c:4317".into())));
        assert_eq!(
            grpc.get("headers"),
            Some(&map(&[("a", Node::Str("1".into()))]))
        );
        assert_eq!(
            tracing.get("capturedRequestHeaders"),
            Some(&Node::List(vec![
                Node::Str("X-A".into()),
                Node::Str("X-B".into())
            ]))
        );
        assert_eq!(parse_yaml("").unwrap(), Node::Null);
        assert_eq!(parse_yaml("# only a comment\n").unwrap(), Node::Null);
        assert_eq!(
            parse_yaml("tracing:\n").unwrap(),
            map(&[("tracing", Node::Null)])
        );
    }

    #[test]
    fn plain_scalars_read_as_the_core_schema_says() {
        for (text, node) in [
            ("", Node::Null),
            ("~", Node::Null),
            ("NULL", Node::Null),
            ("True", Node::Bool(true)),
            ("FALSE", Node::Bool(false)),
            ("yes", Node::Str("yes".into())),
            ("42", Node::Int(42)),
            ("-7", Node::Int(-7)),
            ("+3", Node::Int(3)),
            ("0x1f", Node::Int(31)),
            ("-0x10", Node::Int(-16)),
            ("0o17", Node::Int(15)),
            ("0b101", Node::Int(5)),
            ("0", Node::Int(0)),
            ("0755", Node::Str("0755".into())),
            ("0x", Node::Str("0x".into())),
            ("0xZZ", Node::Str("0xZZ".into())),
            ("9223372036854775807", Node::Int(i64::MAX)),
            ("18446744073709551616", Node::Float(18446744073709551616.0)),
            ("0.25", Node::Float(0.25)),
            ("1e3", Node::Float(1000.0)),
            ("-.inf", Node::Float(f64::NEG_INFINITY)),
            (".Inf", Node::Float(f64::INFINITY)),
            ("inf", Node::Str("inf".into())),
            ("NaN", Node::Str("NaN".into())),
            ("infinity", Node::Str("infinity".into())),
            ("1.2.3", Node::Str("1.2.3".into())),
            ("5s", Node::Str("5s".into())),
            ("-", Node::Str("-".into())),
        ] {
            assert_eq!(plain_scalar(text), node, "{text:?}");
        }
        assert!(matches!(plain_scalar(".nan"), Node::Float(f) if f.is_nan()));
    }

    #[test]
    fn quotes_blocks_and_tags_decide_the_type() {
        let t = parse_yaml(
            "a: '42'\nb: \"true\"\nc: !!str 42\nd: !!int \"7\"\ne: !!float 1\nf: ! 12\n\
             g: !custom 5\nh: |\n  x\n",
        )
        .unwrap();
        assert_eq!(t.get("a"), Some(&Node::Str("42".into())));
        assert_eq!(t.get("b"), Some(&Node::Str("true".into())));
        assert_eq!(t.get("c"), Some(&Node::Str("42".into())));
        assert_eq!(t.get("d"), Some(&Node::Int(7)));
        assert_eq!(t.get("e"), Some(&Node::Float(1.0)));
        assert_eq!(t.get("f"), Some(&Node::Str("12".into())));
        assert_eq!(t.get("g"), Some(&Node::Int(5)));
        assert_eq!(t.get("h"), Some(&Node::Str("x\n".into())));
        let e = err("a: 1\nb: !!int often\n");
        assert!(
            e.contains("does not match its tag (such as !!bool or !!int) at line 2, column 4"),
            "{e}"
        );
        assert!(!e.contains("often"), "{e}");
    }

    #[test]
    fn anchors_and_aliases_copy_values_and_a_bomb_is_refused() {
        let t = parse_yaml("h: &h {a: '1'}\nx: *h\nl: &l [1, 2]\ny: *l\n").unwrap();
        assert_eq!(t.get("x"), t.get("h"));
        assert_eq!(
            t.get("y"),
            Some(&Node::List(vec![Node::Int(1), Node::Int(2)]))
        );
        // Nine levels of ten aliases each: 10^9 values if expanded.
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let (p, n) = ((b'a' + i - 1) as char, (b'a' + i) as char);
            bomb.push_str(&format!(
                "{n}: &{n} [{}]\n",
                vec![format!("*{p}"); 10].join(", ")
            ));
        }
        let e = err(&bomb);
        assert!(
            e.contains("aliases (*name) expand to too many values at line"),
            "{e}"
        );
        // Aliases may not nest a value past the depth limit.
        let mut chain = format!("a0: &a0 {}1{}\n", "[".repeat(100), "]".repeat(100));
        chain.push_str("a1: &a1 [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n");
        let e = err(&chain);
        assert!(
            e.contains("nested more than 128 levels deep at line 2"),
            "{e}"
        );
        let e = err("a: *nowhere\n");
        assert!(
            e.contains("unknown anchor") || e.contains("no anchor"),
            "{e}"
        );
    }

    #[test]
    fn a_key_twice_an_odd_key_or_two_documents_are_errors_with_positions() {
        let e = err("tracing:\n  serviceName: a\n  serviceName: b\n");
        assert!(
            e.contains("a key appears twice in one map at line 3, column 3; keep one"),
            "{e}"
        );
        // Case matters to YAML (the resolver reads keys case-insensitively,
        // the last one winning, as Traefik does).
        assert!(parse_yaml("a: 1\nA: 2\n").is_ok());
        let e = err("? [a, b]\n: 1\n");
        assert!(
            e.contains("mapping keys must be strings, found a list as a key"),
            "{e}"
        );
        let e = err("~: 1\n");
        assert!(e.contains("found an empty key"), "{e}");
        let e = err("a: 1\n---\nb: 2\n");
        assert!(
            e.contains("more than one YAML document (---) at line 2"),
            "{e}"
        );
        let e = err("tracing: [unclosed");
        assert!(e.starts_with("invalid YAML: "), "{e}");
        // Where the document ended, the list still open.
        assert!(e.contains("at line 2, column 1"), "{e}");
        assert!(!e.contains("unclosed"), "{e}");
    }

    #[test]
    fn nesting_is_refused_where_it_passes_the_limit_in_linear_time() {
        // Block nesting: the reader's own count stops at depth 129.
        let deep_block: String = (0..100_000).map(|_| "- ").collect::<String>() + "x\n";
        let e = err(&deep_block);
        assert!(
            e.contains("nested more than 128 levels deep at line 1, column 257"),
            "{e}"
        );
        // Flow nesting, closed: the same count.
        let flow = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let e = err(&flow);
        assert!(
            e.contains("nested more than 128 levels deep at line 1, column 129"),
            "{e}"
        );
        // Flow nesting past the scanner's own limit: refused where it stops.
        let e = err(&"[".repeat(100_000));
        assert!(
            e.contains("nested more than 128 levels deep at line 1"),
            "{e}"
        );
        // At the limit, it reads.
        let ok = format!("{}1{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_yaml(&ok).is_ok());
        let ok: String = (0..MAX_DEPTH).map(|_| "- ").collect::<String>() + "x\n";
        assert!(parse_yaml(&ok).is_ok());
    }

    #[test]
    fn the_scanner_still_says_what_its_depth_limit_says() {
        // If a saphyr-parser update rewords it, this fails (the depth error
        // would become a plain syntax error).
        let e = Parser::new_from_str(&"[".repeat(300))
            .find_map(Result::err)
            .expect("the scanner refuses 300 [");
        assert_eq!(e.info(), SCANNER_DEPTH);
    }

    #[test]
    fn no_input_panics() {
        for text in [
            "\u{0}",
            "[",
            "]",
            "{",
            "}",
            ":",
            "- - -",
            "&a",
            "*a",
            "!!",
            "? ",
            "|",
            ">",
            "a: &a\n  b: *a\n",
            "%YAML 1.2\n---\na: 1\n",
            "'",
            "\"\\",
            "\t",
            "a:\tb",
            "a: b: c",
            "@",
            "`",
            "--- |\n x",
            "... ",
        ] {
            let _ = parse_yaml(text);
        }
    }
}
