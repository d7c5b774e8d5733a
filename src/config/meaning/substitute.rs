//! Environment substitution in a declarative configuration file's values,
//! as the OpenTelemetry specification defines it: `${VAR}`, `${env:VAR}`,
//! `${VAR:-default}` (an unset or empty variable takes the default; without
//! one, it is empty), `$$` for a `$`. Only scalar values are substituted,
//! never mapping keys; a value that is one reference alone takes the type
//! its text reads as (`true`, `42`, `0.5`).
//!
//! This module must never panic on the file's content, and never put a
//! variable's value in an error.

use super::read::join;
use crate::config::error::ConfigError;
use crate::config::syntax::{plain_scalar, Node};

/// Replaces `${VAR}`, `${env:VAR}`, `${VAR:-default}` in every scalar of
/// `tree` from `env` (`$$` is `$`); a value that was one reference alone
/// takes the type its text reads as. Keys are left alone.
pub(in crate::config) fn substitute(
    tree: &mut Node,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errs: &mut Vec<ConfigError>,
) {
    match tree {
        Node::Map(entries) => {
            for (k, v) in entries {
                let p = join(path, k);
                substitute(v, &p, env, errs);
            }
        }
        Node::List(items) => {
            for (i, v) in items.iter_mut().enumerate() {
                substitute(v, &format!("{path}[{i}]"), env, errs);
            }
        }
        Node::Str(s) if s.contains('$') => match expand(s, env) {
            Ok((text, whole)) => {
                *tree = if whole { infer(text) } else { Node::Str(text) };
            }
            Err(why) => errs.push(ConfigError::Invalid {
                option: path.to_owned(),
                value: "the value".into(),
                reason: why,
                fix: "write ${NAME}, ${env:NAME} or ${NAME:-default} (NAME: letters, digits, _), and $$ for a $".into(),
            }),
        },
        _ => {}
    }
}

/// The text with references replaced, and whether it was exactly one
/// reference.
fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<(String, bool), String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut refs = 0;
    let mut literal = false;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        literal |= i > 0;
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            literal = true;
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r.find('}').ok_or("has a ${ without its closing }")?;
            let inner = &r[..end];
            let inner = inner.strip_prefix("env:").unwrap_or(inner);
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                let shown: String = name.chars().take(64).flat_map(char::escape_debug).collect();
                return Err(format!(
                    "refers to {shown:?}, which is not an environment variable name"
                ));
            }
            if let Some(v) = env(name)
                .filter(|v| !v.is_empty())
                .or(default.map(str::to_owned))
            {
                out.push_str(&v);
            }
            refs += 1;
            rest = &r[end + 1..];
        } else {
            out.push('$');
            literal = true;
            rest = after;
        }
    }
    literal |= !rest.is_empty();
    out.push_str(rest);
    Ok((out, refs == 1 && !literal))
}

/// A substituted value's YAML type, read as the YAML reader reads a plain
/// scalar (`config::syntax::plain_scalar`): null, a boolean, an integer,
/// a float, or else the string as substituted.
fn infer(text: String) -> Node {
    match plain_scalar(text.trim()) {
        Node::Str(_) => Node::Str(text),
        typed => typed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("collector".into()),
            "RATIO" => Some("0.25".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn substitution_forms() {
        let x = |s: &str| expand(s, &env);
        assert_eq!(
            x("http://${HOST}:4318"),
            Ok(("http://collector:4318".into(), false))
        );
        assert_eq!(x("${env:RATIO}"), Ok(("0.25".into(), true)));
        assert_eq!(
            x("${UNSET:-http://d:4318}"),
            Ok(("http://d:4318".into(), true))
        );
        assert_eq!(x("${EMPTY:-fallback}"), Ok(("fallback".into(), true)));
        assert_eq!(x("${UNSET}"), Ok((String::new(), true)));
        assert_eq!(
            x("$${HOST} costs $5"),
            Ok(("${HOST} costs $5".into(), false))
        );
        assert!(x("${HOST").is_err());
        assert!(x("${1BAD}").is_err());
        assert!(x("${A B}").is_err());
        assert_eq!(infer("0.25".into()), Node::Float(0.25));
        assert_eq!(infer("42".into()), Node::Int(42));
        assert_eq!(infer("false".into()), Node::Bool(false));
        assert_eq!(infer(String::new()), Node::Null);
        assert_eq!(infer("inf".into()), Node::Str("inf".into()));
    }
}
