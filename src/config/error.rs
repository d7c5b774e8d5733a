//! Configuration errors: each names the option, the value (never a header
//! value or a credential) and the fix.

use std::path::PathBuf;

/// One configuration problem, naming the option, the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path:?}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The document is not valid YAML / TOML.
    #[error("invalid {format}: {message}")]
    Syntax {
        /// `YAML` or `TOML`.
        format: &'static str,
        /// The parser's message, with the position.
        message: String,
    },
    /// A CLI flag is malformed.
    #[error("flag {flag:?}: {reason}")]
    Flag {
        /// The flag.
        flag: String,
        /// What is wrong.
        reason: String,
    },
    /// An option tracewire does not know.
    #[error("unknown option {option}{}", suggestion.as_ref().map(|s| format!("; did you mean {s}?")).unwrap_or_else(|| "; see the README for the supported options".into()))]
    UnknownOption {
        /// The option, as written.
        option: String,
        /// The closest known option.
        suggestion: Option<String>,
    },
    /// A value of the wrong type.
    #[error("{option}: expected {expected}, got {value}")]
    WrongType {
        /// The option.
        option: String,
        /// What it takes.
        expected: &'static str,
        /// What it got.
        value: String,
    },
    /// A value of the right type that cannot be used.
    #[error("{option}: {value} {reason}; {fix}")]
    Invalid {
        /// The option.
        option: String,
        /// The value (redacted for header values).
        value: String,
        /// What is wrong.
        reason: String,
        /// How to fix it.
        fix: String,
    },
    /// Options that contradict each other.
    #[error("{0}")]
    Conflict(String),
    /// A TLS file problem, under the transport section it belongs to.
    #[error("{section}.{message}")]
    Tls {
        /// `tracing.otlp.http` or `tracing.otlp.grpc`.
        section: String,
        /// The TLS problem (it starts with `tls.<option>`).
        message: String,
    },
}

/// Every problem found in a configuration (resolution does not stop at the
/// first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
