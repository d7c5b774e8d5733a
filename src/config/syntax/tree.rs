//! The one tree every syntax is read into: a configuration value as
//! written, before anything knows what it means.
//!
//! Plain data: this module must never read input itself.

/// The deepest nesting read, of every syntax: YAML maps and lists, parts
/// of a flag's name (the TOML parser has its own, lower limit).
pub(in crate::config) const MAX_DEPTH: usize = 128;

/// A configuration value, as parsed.
#[derive(Clone, Debug, PartialEq)]
pub(in crate::config) enum Node {
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
    pub(in crate::config) fn describe(&self) -> String {
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
    pub(in crate::config) fn get(&self, key: &str) -> Option<&Node> {
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
    pub(in crate::config) fn merge(&mut self, other: Node) {
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
