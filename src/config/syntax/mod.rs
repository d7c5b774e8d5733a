//! The syntax front end: a configuration as written (a YAML or TOML
//! document, Traefik-style CLI flags) into one generic tree, so every
//! option is resolved by the same code whichever way it was written, and
//! means the same thing.
//!
//! - `source`: a file read whole and checked to be UTF-8; positions as a
//!   person counts them;
//! - `yaml`: YAML, libyaml's grammar (Traefik's), nesting limited first;
//! - `toml`: TOML, through the `toml` crate's parser;
//! - `flags`: `--tracing.a.b=value` flags.
//!
//! What an option means is not known here (`config::meaning` reads the
//! tree); nothing here reads the environment or files other than the one
//! it is given. This module must never panic on input: malformed
//! documents and flags become [`ConfigError`]s with their position.

mod flags;
pub(in crate::config) mod source;
mod toml;
mod tree;
mod yaml;

pub(in crate::config) use flags::parse_flags;
pub(in crate::config) use tree::Node;
pub(in crate::config) use yaml::plain_scalar;

use crate::config::error::ConfigError;
use std::path::Path;

/// A configuration file's syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// YAML (`.yml`, `.yaml`).
    Yaml,
    /// TOML (`.toml`).
    Toml,
}

impl Format {
    /// The format for a file name: `.toml` is TOML, anything else YAML.
    pub fn for_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => Format::Toml,
            _ => Format::Yaml,
        }
    }
}

/// Parses a document of `format` into a tree.
pub(in crate::config) fn parse(text: &str, format: Format) -> Result<Node, ConfigError> {
    match format {
        Format::Yaml => yaml::parse_yaml(text),
        Format::Toml => toml::parse_toml(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_toml_parse() {
        let y = yaml::parse_yaml("tracing:\n  serviceName: edge\n  sampleRate: 0.25\n").unwrap();
        let t = toml::parse_toml("[tracing]\nserviceName = \"edge\"\nsampleRate = 0.25\n").unwrap();
        assert_eq!(y, t);
        assert!(toml::parse_toml("[tracing\n").is_err());
    }
}
