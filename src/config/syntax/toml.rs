//! TOML documents into the configuration tree, through the `toml` crate's
//! parser (linear, with its own nesting limit). Its errors are shown with
//! their message and position, never the line of the document its
//! `Display` quotes (it may hold a header value); a dotted key too long,
//! which the parser reports without a position, is found by a scan here.
//!
//! This module must never panic on input.

use super::source::line_column;
use super::tree::Node;
use crate::config::error::ConfigError;
use crate::config::shown;

/// Parses a TOML document.
pub(in crate::config) fn parse_toml(text: &str) -> Result<Node, ConfigError> {
    let table: ::toml::Table = text
        .parse()
        .map_err(|e: ::toml::de::Error| toml_error(text, &e))?;
    Ok(from_toml(::toml::Value::Table(table)))
}

/// A TOML parser error as a message may show it: the message and the
/// position, never the line of the document that `Display` quotes (it may
/// hold a header value).
fn toml_error(text: &str, e: &::toml::de::Error) -> ConfigError {
    let message = shown::escape(e.message().trim_end());
    let at = e.span().map(|span| span.start);
    if message == "recursion limit" || message.starts_with("cannot recurse further") {
        // A dotted key too long comes without a position: find it.
        let at = at.or_else(|| toml_dotted_key(text, TOML_KEY_PARTS_LIMIT));
        if let Some(at) = at {
            let (line, column) = line_column(text, at);
            return ConfigError::TooDeep {
                format: "TOML",
                limit: TOML_KEY_PARTS_LIMIT - 1,
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

fn from_toml(v: ::toml::Value) -> Node {
    use ::toml::Value as T;
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

/// The number of parts at which the TOML parser refuses a dotted key (its
/// own limit: 80 tables above the key).
pub(in crate::config) const TOML_KEY_PARTS_LIMIT: usize = 81;

/// Where a TOML document first writes a dotted key of `limit` parts or
/// more (the TOML parser refuses it without saying where): the byte offset
/// of the dot that reaches the limit.
pub(in crate::config) fn toml_dotted_key(text: &str, limit: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut parts = 1;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                parts += 1;
                if parts >= limit {
                    return Some(i);
                }
            }
            b'\n' | b'=' | b'[' | b']' | b'{' | b'}' | b',' => parts = 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            q @ (b'"' | b'\'') => {
                let triple = b.get(i..i + 3) == Some(&[q, q, q][..]);
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                    } else if b[i] == q && (!triple || b.get(i..i + 3) == Some(&[q, q, q][..])) {
                        i += if triple { 3 } else { 1 };
                        break;
                    } else if b[i] == b'\n' && !triple {
                        break;
                    } else {
                        i += 1;
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_documents_are_refused_with_the_position() {
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
    fn dotted_keys_are_located() {
        let key = vec!["a"; 100].join(".");
        let text = format!("[x]\nb = \"{key}\" # {key}\n{key} = 1\n");
        let at = toml_dotted_key(&text, TOML_KEY_PARTS_LIMIT).unwrap();
        assert_eq!(text[..at].matches('\n').count(), 2, "on the third line");
        assert_eq!(toml_dotted_key("a.b.c = 1.5\n[x.y]\n", 80), None);
    }
}
