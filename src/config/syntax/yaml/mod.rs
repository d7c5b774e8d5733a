//! YAML documents into the configuration tree, read with serde_yaml_ng:
//! libyaml's grammar, which go-yaml (Traefik's own reader) shares, so a
//! Traefik configuration that Traefik reads, tracewire reads, the lenient
//! corners included (a flow list continued on a line no deeper than its
//! key, a trailing comma before a `]` at the key's indentation).
//!
//! Two limits are tracewire's own: nesting deeper than `MAX_DEPTH` (128) is
//! refused by `depth`'s scan before the parser reads the document (the
//! parser is quadratic in depth), and an error's message is rebuilt from
//! what serde's says it means (serde's own quotes the document: keys,
//! values, which may be a header value). Which serde messages mean what is
//! matched by marker; a test pins every marker to the message it matches
//! today, so a serde_yaml_ng update that rewords one fails loudly, not
//! silently.
//!
//! Event parsers that would make both limits the reader's own were tried
//! (2026-12-04): saphyr-parser 0.3.4 and yaml-rust2 0.13 follow YAML 1.2
//! strictly and refuse documents Traefik reads (`[\n    "X-A",\n  ]` under
//! a key: "invalid indentation"); libyaml-safer 0.3.0 has libyaml's grammar
//! but panics on some truncated input (`"\\` at the end).
//!
//! [`plain_scalar`] is how the reader reads an unquoted scalar (null, a
//! boolean, a number, or a string), for environment substitution.
//!
//! This module must never panic on input.

mod depth;

use super::source::line_column;
use super::tree::{Node, MAX_DEPTH};
use crate::config::error::ConfigError;
use crate::config::shown;

/// Parses a YAML document, refusing one that nests deeper than
/// [`MAX_DEPTH`] before the YAML parser reads it (that parser takes time
/// quadratic in the depth).
pub(in crate::config) fn parse_yaml(text: &str) -> Result<Node, ConfigError> {
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

/// What serde says (a marker), what it means, and the fix. The test
/// `every_serde_marker_is_what_serde_says` pins each reachable marker to the
/// message serde_yaml_ng gives today, so an update that rewords one fails
/// there, not silently here.
const SERDE: &[(&str, &str, &str)] = &[
    (
        "invalid value",
        "a value does not match its tag (such as !!bool or !!int)",
        "remove the tag or fix the value",
    ),
    (
        "invalid type",
        "a number too large for 64 bits",
        "quote it, or write a smaller one",
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

/// A YAML parser error as a message may show it: with its position, and
/// nothing of the document. The scanner's own messages (libyaml's) quote
/// nothing; serde's do (the path of keys to the value, the value itself:
/// `a.Authorization: Bearer ...: invalid value: string "..."`), so those
/// are replaced by what they mean.
fn yaml_message(e: &serde_yaml_ng::Error) -> String {
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

/// What a plain (unquoted) scalar means, as the YAML reader reads one
/// (YAML 1.2's core schema, as serde_yaml_ng resolves it; a test holds the
/// two together): null, a boolean, an integer (one too large for 64 bits is
/// a float), a float, or else a string. A number written with leading
/// zeros (`0755`) is a string, as the core schema says.
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
    fn plain_scalar_reads_as_the_reader_reads_a_value() {
        for text in [
            "",
            "~",
            "NULL",
            "True",
            "FALSE",
            "yes",
            "42",
            "-7",
            "+3",
            "0x1f",
            "-0x10",
            "0o17",
            "0b101",
            "0",
            "0755",
            "0x",
            "0xZZ",
            "9223372036854775807",
            "18446744073709551615",
            "0.25",
            "1e3",
            "-.inf",
            ".Inf",
            ".nan",
            "inf",
            "NaN",
            "infinity",
            "1.2.3",
            "5s",
            "1_000",
            ".5",
            "1.",
        ] {
            let doc =
                parse_yaml(&format!("k: {text}\n")).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            let read = doc.get("k").unwrap();
            let mine = plain_scalar(text);
            let same = match (read, &mine) {
                (Node::Float(a), Node::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
                (a, b) => a == b,
            };
            assert!(same, "{text:?}: the reader {read:?}, plain_scalar {mine:?}");
        }
    }

    #[test]
    fn a_tag_that_does_not_fit_is_an_error_that_shows_nothing_of_the_value() {
        let t = parse_yaml("c: !!str 42\n").unwrap();
        assert_eq!(t.get("c"), Some(&Node::Str("42".into())));
        let e = err("a: 1\nb: !!int often\n");
        assert!(e.contains("a value does not match its tag"), "{e}");
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
            e.contains("aliases (*name) expand to too many values; write the values out"),
            "{e}"
        );
        // Aliases may not nest a value past the depth limit.
        let mut chain = format!("a0: &a0 {}1{}\n", "[".repeat(100), "]".repeat(100));
        chain.push_str("a1: &a1 [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n");
        let e = err(&chain);
        assert!(
            e.contains("nested more than 128 levels deep at line"),
            "{e}"
        );
        let e = err("a: *nowhere\n");
        assert!(
            e.contains("unknown anchor") || e.contains("no anchor"),
            "{e}"
        );
    }

    #[test]
    fn a_key_twice_an_odd_key_or_two_documents_are_errors() {
        let e = err("tracing:\n  serviceName: a\n  serviceName: b\n");
        assert!(
            e.contains("a key appears twice in one map at line 2, column 3; keep one"),
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
            e.contains("more than one YAML document (---); keep one"),
            "{e}"
        );
        let e = err("tracing: [unclosed");
        assert!(e.starts_with("invalid YAML: "), "{e}");
        // Where the document ended, the list still open.
        assert!(e.contains("at line 2 column 1"), "{e}");
        assert!(!e.contains("unclosed"), "{e}");
    }

    #[test]
    fn nesting_is_refused_where_it_passes_the_limit() {
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

    /// Every marker of [`SERDE`] that an input can reach, with the input:
    /// serde_yaml_ng says the marker (pinned), and the message says what it
    /// means. Four markers are kept as a net without an input: no document
    /// found makes serde_yaml_ng 0.10 say them ("merg", "empty YAML tag",
    /// "failed to parse YAML number", "EOF while parsing").
    #[test]
    fn every_serde_marker_is_what_serde_says() {
        let bomb = {
            let mut b = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
            for i in 1..9u8 {
                let (p, n) = ((b'a' + i - 1) as char, (b'a' + i) as char);
                b.push_str(&format!(
                    "{n}: &{n} [{}]\n",
                    vec![format!("*{p}"); 10].join(", ")
                ));
            }
            b
        };
        let chain = format!(
            "a0: &a0 {}1{}\na1: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[*a0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
            "[".repeat(100),
            "]".repeat(100)
        );
        let reachable: &[(&str, &str)] = &[
            ("invalid value", "a: !!bool often\n"),
            ("invalid type", "a: 18446744073709551616\n"),
            ("duplicate entry", "a: 1\na: 2\n"),
            ("unknown anchor", "a: *nowhere\n"),
            ("repetition limit exceeded", &bomb),
            ("more than one document", "a: 1\n---\nb: 2\n"),
            ("recursion limit exceeded", &chain),
        ];
        for (marker, what, _) in SERDE {
            let Some((_, input)) = reachable.iter().find(|(m, _)| m == marker) else {
                continue;
            };
            let theirs = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(input)
                .expect_err(marker)
                .to_string();
            assert!(theirs.contains(marker), "serde_yaml_ng now says: {theirs}");
            let ours = err(input);
            let means = if *marker == "recursion limit exceeded" {
                "nested more than 128 levels deep"
            } else {
                what
            };
            assert!(ours.contains(means), "{marker}: {ours}");
            assert!(
                !ours.contains("often") && !ours.contains("nowhere"),
                "{ours}"
            );
        }
        assert!(reachable
            .iter()
            .all(|(m, _)| SERDE.iter().any(|(s, _, _)| s == m)));
    }

    /// Forms go-yaml (Traefik) and libyaml read, which YAML 1.2 parsers
    /// such as saphyr-parser refuse: a Traefik file that Traefik reads must
    /// read here.
    #[test]
    fn lenient_flow_forms_traefik_reads_are_read() {
        let headers = Node::List(vec![Node::Str("X-A".into()), Node::Str("X-B".into())]);
        for doc in [
            "tracing:\n  capturedRequestHeaders: [\n    \"X-A\", \"X-B\",\n  ]\n",
            "tracing:\n  capturedRequestHeaders: [X-A,\n  X-B]\n",
            "tracing:\n  capturedRequestHeaders: [\n  X-A, X-B\n  ]\n",
        ] {
            let t = parse_yaml(doc).unwrap_or_else(|e| panic!("{doc:?}: {e}"));
            let got = t
                .get("tracing")
                .and_then(|t| t.get("capturedRequestHeaders"));
            assert_eq!(got, Some(&headers), "{doc:?}");
        }
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
