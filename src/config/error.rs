//! Configuration errors: each names the option, the value (never a header
//! value or a credential; names escaped, see `shown`) and the fix, and
//! where the document says it (line and column) when it is about syntax.

use std::path::PathBuf;

/// One configuration problem, naming the option, the value and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error(
        "cannot read the configuration file {path:?}: {reason}; check the path and its permissions"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is larger than tracewire reads (a tracing section is a few
    /// KB): refused whole, never cut.
    #[error(
        "the configuration file {path:?} is too large: {} (the limit is {limit} bytes); a \
         tracing configuration is a few KB: check that the right file is named, or keep only \
         the tracing section in it",
        size_of(*.size)
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size, when known (a pipe's is not).
        size: Option<u64>,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file is not UTF-8 text.
    #[error(
        "the configuration file {path:?} is not valid UTF-8: the bytes at line {line}, column \
         {column} (byte offset {offset}) are not UTF-8{}; save the file as UTF-8",
        if *.utf16 { " (it looks like UTF-16)" } else { "" }
    )]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// The line of the first bad byte, from 1.
        line: usize,
        /// Its column, in characters from 1.
        column: usize,
        /// Its offset in the file, in bytes from 0.
        offset: usize,
        /// Whether the file starts with a UTF-16 byte order mark.
        utf16: bool,
    },
    /// The document nests deeper than tracewire reads (a tracing section
    /// nests about 5 levels).
    #[error(
        "invalid {format}: nested more than {limit} levels deep at line {line}, column {column}; \
         a tracing configuration nests about 5 levels: close the brackets or fix the indentation \
         there"
    )]
    TooDeep {
        /// `YAML` or `TOML`.
        format: &'static str,
        /// The deepest nesting read.
        limit: usize,
        /// Where the limit was passed: the line, from 1.
        line: usize,
        /// The column, in characters from 1.
        column: usize,
    },
    /// The document is not valid YAML / TOML.
    #[error("invalid {format}: {message}")]
    Syntax {
        /// `YAML` or `TOML`.
        format: &'static str,
        /// The parser's message, with the position (never a line of the
        /// document: it may hold a header value).
        message: String,
    },
    /// A CLI flag is malformed.
    #[error("flag {flag}: {reason}")]
    Flag {
        /// The flag's name (never its value: `--name=...`).
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
    /// An environment variable tracewire reads holds bytes that are not
    /// UTF-8 (its value is never shown: it may be a header or a token).
    #[error(
        "the environment variable {name} is not valid UTF-8; tracewire reads it as text: set it \
         again as UTF-8, or unset it"
    )]
    EnvNotUtf8 {
        /// The variable's name.
        name: String,
    },
    /// A TLS file problem, under the transport section it belongs to.
    #[error("{section}.{message}")]
    Tls {
        /// `tracing.otlp.http` or `tracing.otlp.grpc`.
        section: String,
        /// The TLS problem (it starts with `tls.<option>`).
        message: String,
    },
}

fn size_of(size: Option<u64>) -> String {
    match size {
        Some(n) => format!("{n} bytes"),
        None => "it is not a regular file and holds more than the limit".to_owned(),
    }
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
