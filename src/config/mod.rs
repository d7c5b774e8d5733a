//! Configuration: Traefik's `tracing` section, written as YAML, TOML or CLI
//! flags, plus the OpenTelemetry SDK environment (`OTEL_*`), resolved into
//! one validated [`Config`].
//!
//! # Precedence
//!
//! CLI flags, then the configuration file, then the `OTEL_*` environment,
//! then defaults: an option set explicitly always wins over the
//! environment.
//!
//! # Traefik compatibility
//!
//! Every option of Traefik's `tracing` section is read under the same name,
//! case-insensitively (`insecureskipverify` == `insecureSkipVerify`), in all
//! three syntaxes. Where tracewire differs, it says so:
//!
//! - the default OTLP/HTTP endpoint is `http://localhost:4318/v1/traces`,
//!   the standard OTLP path (Traefik's reference table prints `/v1/tracing`);
//! - with no transport chosen, OTLP/HTTP is used, as in Traefik;
//! - enabling both `http` and `grpc` is an error (Traefik silently uses
//!   gRPC);
//! - the default `serviceName` is `tracewire` (Traefik's is `traefik`);
//! - compression is off by default, as in the OpenTelemetry SDKs (Traefik
//!   always gzips): set `compression: gzip` to match Traefik.
//!
//! Options Traefik does not have live under keys of their own:
//! `tracing.otlp.{http,grpc}.{compression,timeout,connectTimeout,retry}`,
//! `tracing.batch` and `tracing.spanLimits`.
//!
//! This module must never panic on user input: every problem is a
//! [`ConfigError`] naming the option, the value and the fix.
//!
//! ```
//! use tracewire::config::{load_str, Format, Protocol};
//! let config = load_str(
//!     "tracing:\n  serviceName: edge\n  otlp:\n    grpc:\n      endpoint: collector:4317\n      insecure: true\n",
//!     Format::Yaml,
//!     &[] as &[&str],
//!     |_| None,
//! )
//! .unwrap();
//! assert_eq!(config.service_name, "edge");
//! assert_eq!(config.exporter.protocol, Protocol::Grpc);
//! assert!(!config.exporter.endpoint.is_tls());
//! ```

mod env;
pub mod tree;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::batch::BatchConfig;
use crate::retry::RetryConfig;
use crate::sampling::Sampler;
use crate::span::SpanLimits;
use crate::transport::Endpoint;
use tree::Node;

/// Which OTLP transport to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/HTTP with binary protobuf bodies, over HTTP/1.1.
    Http,
    /// OTLP/gRPC over HTTP/2.
    Grpc,
}

/// Request compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// None (OpenTelemetry's default).
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip` / `grpc-encoding: gzip`).
    Gzip,
}

/// Client TLS options (Traefik's `tls` block).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// CA certificates (PEM) to verify the collector with, instead of the
    /// bundled Mozilla roots (webpki-roots).
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS; needs `key`.
    pub cert: Option<PathBuf>,
    /// Client private key (PEM: PKCS#1, PKCS#8 or SEC1) for mutual TLS;
    /// needs `cert`.
    pub key: Option<PathBuf>,
    /// Accept any server certificate. Dangerous; logged once as a warning.
    pub insecure_skip_verify: bool,
}

/// Where and how spans are sent.
#[derive(Clone, Debug)]
pub struct ExporterConfig {
    /// HTTP or gRPC.
    pub protocol: Protocol,
    /// The collector.
    pub endpoint: Endpoint,
    /// Extra headers on every request (authorization, tenant ids). Values
    /// are marked sensitive: never logged, redacted by `config check`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// TLS options (used when the endpoint uses TLS).
    pub tls: TlsOptions,
    /// Compression.
    pub compression: Compression,
    /// Longest a single request may take (`OTEL_EXPORTER_OTLP_TIMEOUT`,
    /// default 10 s); retries continue until the batch's export timeout.
    pub timeout: Duration,
    /// Longest a connection (TCP + TLS) may take to establish (default 5 s).
    pub connect_timeout: Duration,
    /// Retry policy.
    pub retry: RetryConfig,
}

impl ExporterConfig {
    /// An exporter configuration with defaults for `protocol` and `endpoint`.
    ///
    /// ```
    /// use tracewire::config::{ExporterConfig, Protocol};
    /// use tracewire::transport::Endpoint;
    /// let c = ExporterConfig::new(Protocol::Http, Endpoint::parse_http("http://127.0.0.1:4318/v1/traces").unwrap());
    /// assert_eq!(c.endpoint.port(), 4318);
    /// ```
    pub fn new(protocol: Protocol, endpoint: Endpoint) -> Self {
        ExporterConfig {
            protocol,
            endpoint,
            headers: Vec::new(),
            tls: TlsOptions::default(),
            compression: Compression::None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryConfig::default(),
        }
    }
}

/// The default OTLP/HTTP endpoint (the standard path, `/v1/traces`).
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318/v1/traces";
/// The default OTLP/gRPC endpoint (TLS unless `insecure`, as in Traefik).
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:4317";
/// The default `serviceName`.
pub const DEFAULT_SERVICE_NAME: &str = "tracewire";

/// A complete, validated tracewire configuration. Build it in code
/// ([`Config::default`], then set fields) or load it with [`load`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Whether the configuration enables tracing (a `tracing` section or
    /// `--tracing` was present). [`Config::default`] is enabled.
    pub enabled: bool,
    /// `service.name`.
    pub service_name: String,
    /// Extra resource attributes, in order.
    pub resource_attributes: Vec<(String, String)>,
    /// Head sampling.
    pub sampler: Sampler,
    /// Trace internal endpoints such as `/ping` (Traefik's `addInternals`).
    pub add_internals: bool,
    /// Request headers recorded as span attributes.
    pub captured_request_headers: Vec<String>,
    /// Response headers recorded as span attributes.
    pub captured_response_headers: Vec<String>,
    /// Query parameters recorded unredacted; all others are redacted.
    pub safe_query_params: Vec<String>,
    /// The transport.
    pub exporter: ExporterConfig,
    /// Batching.
    pub batch: BatchConfig,
    /// Span limits.
    pub limits: SpanLimits,
}

impl Default for Config {
    /// Enabled, OTLP/HTTP to `http://localhost:4318/v1/traces`, everything
    /// else at its default; no environment is read.
    fn default() -> Self {
        Config {
            enabled: true,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            resource_attributes: Vec::new(),
            sampler: Sampler::traefik(1.0),
            add_internals: false,
            captured_request_headers: Vec::new(),
            captured_response_headers: Vec::new(),
            safe_query_params: Vec::new(),
            exporter: ExporterConfig::new(Protocol::Http, Endpoint::default_http()),
            batch: BatchConfig::default(),
            limits: SpanLimits::default(),
        }
    }
}

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

/// A configuration file's syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// The largest configuration file read.
const MAX_CONFIG_FILE: u64 = 4 * 1024 * 1024;

/// Loads the configuration from an optional file, Traefik-style flags
/// (`--tracing...`), and an environment (usually [`std::env::var`]).
///
/// ```
/// let config = tracewire::config::load(
///     None,
///     &["--tracing.otlp.grpc.endpoint=collector:4317", "--tracing.otlp.grpc.insecure=true"],
///     |_| None,
/// )
/// .unwrap();
/// assert_eq!(config.exporter.endpoint.authority(), "collector:4317");
/// ```
pub fn load<S, E>(file: Option<&Path>, flags: &[S], env: E) -> Result<Config, ConfigErrors>
where
    S: AsRef<str>,
    E: Fn(&str) -> Option<String>,
{
    let mut tree = match file {
        Some(path) => {
            use std::io::Read as _;
            let read = std::fs::File::open(path).and_then(|f| {
                let mut s = String::new();
                f.take(MAX_CONFIG_FILE).read_to_string(&mut s).map(|_| s)
            });
            let text = read.map_err(|e| ConfigError::Read {
                path: path.to_owned(),
                reason: e.to_string(),
            })?;
            parse(&text, Format::for_path(path))?
        }
        None => Node::Map(Vec::new()),
    };
    tree.merge(tree::parse_flags(flags)?);
    resolve(&tree, &env)
}

/// [`load`] from a string instead of a file.
pub fn load_str<S, E>(
    text: &str,
    format: Format,
    flags: &[S],
    env: E,
) -> Result<Config, ConfigErrors>
where
    S: AsRef<str>,
    E: Fn(&str) -> Option<String>,
{
    let mut tree = parse(text, format)?;
    tree.merge(tree::parse_flags(flags)?);
    resolve(&tree, &env)
}

/// Defaults plus this process's `OTEL_*` environment (for embedding without
/// a file).
pub fn load_from_env() -> Result<Config, ConfigErrors> {
    let mut c = load(None, &[] as &[&str], |k| std::env::var(k).ok())?;
    c.enabled = true;
    Ok(c)
}

fn parse(text: &str, format: Format) -> Result<Node, ConfigError> {
    match format {
        Format::Yaml => tree::parse_yaml(text),
        Format::Toml => tree::parse_toml(text),
    }
}

// ---------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------

const TRACING_KEYS: &[&str] = &[
    "addInternals",
    "serviceName",
    "sampleRate",
    "resourceAttributes",
    "globalAttributes",
    "capturedRequestHeaders",
    "capturedResponseHeaders",
    "safeQueryParams",
    "otlp",
    "batch",
    "spanLimits",
];
const OTLP_KEYS: &[&str] = &["http", "grpc"];
const HTTP_KEYS: &[&str] = &[
    "enabled",
    "endpoint",
    "headers",
    "tls",
    "compression",
    "timeout",
    "connectTimeout",
    "retry",
];
const GRPC_KEYS: &[&str] = &[
    "enabled",
    "endpoint",
    "headers",
    "insecure",
    "tls",
    "compression",
    "timeout",
    "connectTimeout",
    "retry",
];
const TLS_KEYS: &[&str] = &["ca", "cert", "key", "insecureSkipVerify"];
const RETRY_KEYS: &[&str] = &["enabled", "initialInterval", "maxInterval"];
const BATCH_KEYS: &[&str] = &[
    "maxQueueSize",
    "maxExportBatchSize",
    "scheduleDelay",
    "exportTimeout",
    "maxConcurrentExports",
];
const LIMIT_KEYS: &[&str] = &[
    "attributeCountLimit",
    "eventCountLimit",
    "linkCountLimit",
    "eventAttributeCountLimit",
    "linkAttributeCountLimit",
    "attributeValueLengthLimit",
];

/// The closest known key, if close enough to be a typo.
fn suggest(key: &str, known: &[&str], path: &str) -> Option<String> {
    let lower = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&lower, &k.to_ascii_lowercase()), *k))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| join(path, k))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The entries of a section, keyed by their canonical names; unknown keys
/// are reported with a suggestion. `Null` and `true` are an empty section.
fn section<'a>(
    node: &'a Node,
    path: &str,
    known: &[&'static str],
    errs: &mut Vec<ConfigError>,
) -> Vec<(&'static str, &'a Node)> {
    let mut out = Vec::new();
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                match known.iter().find(|c| c.eq_ignore_ascii_case(k)) {
                    Some(canonical) => out.push((*canonical, v)),
                    None => errs.push(ConfigError::UnknownOption {
                        option: join(path, k),
                        suggestion: suggest(k, known, path),
                    }),
                }
            }
        }
        Node::Null | Node::Bool(true) => {}
        Node::Str(s) if s.eq_ignore_ascii_case("true") => {}
        other => errs.push(ConfigError::WrongType {
            option: path.to_owned(),
            expected: "a section (a map, or true to enable it with defaults)",
            value: other.describe(),
        }),
    }
    out
}

/// Whether a section node is switched on (`false` switches it off).
fn section_enabled(node: &Node) -> bool {
    !matches!(node, Node::Bool(false))
        && !matches!(node, Node::Str(s) if s.eq_ignore_ascii_case("false"))
}

fn want_bool(node: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Option<bool> {
    match node {
        Node::Bool(b) => Some(*b),
        Node::Null => Some(true),
        Node::Str(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Node::Str(s) if s.eq_ignore_ascii_case("false") => Some(false),
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "true or false",
                value: other.describe(),
            });
            None
        }
    }
}

fn want_string(node: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Option<String> {
    match node {
        Node::Str(s) => Some(s.clone()),
        Node::Int(i) => Some(i.to_string()),
        Node::Float(f) => Some(f.to_string()),
        Node::Bool(b) => Some(b.to_string()),
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "a string",
                value: other.describe(),
            });
            None
        }
    }
}

fn want_f64(node: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Option<f64> {
    let v = match node {
        Node::Float(f) => Some(*f),
        Node::Int(i) => Some(*i as f64),
        Node::Str(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if v.is_none() {
        errs.push(ConfigError::WrongType {
            option: option.to_owned(),
            expected: "a number",
            value: node.describe(),
        });
    }
    v
}

fn want_u32(node: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Option<u32> {
    let v = match node {
        Node::Int(i) => u32::try_from(*i).ok(),
        Node::Str(s) => s.trim().parse::<u32>().ok(),
        _ => None,
    };
    if v.is_none() {
        errs.push(ConfigError::WrongType {
            option: option.to_owned(),
            expected: "a whole number from 0 to 4294967295",
            value: node.describe(),
        });
    }
    v
}

/// Parses a duration: Go-style (`500ms`, `5s`, `1m30s`, `1h`), or a bare
/// number of seconds as Traefik reads durations.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        if num_end == 0 {
            return None;
        }
        let value: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let per_unit = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        let d = value * per_unit;
        if !d.is_finite() || d > 1e12 {
            return None;
        }
        total += Duration::from_secs_f64(d);
    }
    Some(total)
}

fn want_duration(node: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Option<Duration> {
    let v = match node {
        Node::Int(i) if *i >= 0 => Some(Duration::from_secs(*i as u64)),
        Node::Float(f) if f.is_finite() && *f >= 0.0 => Some(Duration::from_secs_f64(*f)),
        Node::Str(s) => parse_duration(s),
        _ => None,
    };
    if v.is_none() {
        errs.push(ConfigError::WrongType {
            option: option.to_owned(),
            expected: "a duration such as 500ms, 5s or 1m (a bare number is seconds)",
            value: node.describe(),
        });
    }
    v
}

fn want_list(node: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Option<Vec<String>> {
    match node {
        Node::List(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if matches!(item, Node::Null) {
                    continue;
                }
                out.push(want_string(item, &format!("{option}[{i}]"), errs)?);
            }
            Some(out)
        }
        // CLI: `--tracing.capturedRequestHeaders=X-A,X-B`.
        Node::Str(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Node::Null => Some(Vec::new()),
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "a list of strings",
                value: other.describe(),
            });
            None
        }
    }
}

fn want_map(node: &Node, option: &str, errs: &mut Vec<ConfigError>) -> Vec<(String, String)> {
    match node {
        Node::Map(entries) => entries
            .iter()
            .filter_map(|(k, v)| want_string(v, &join(option, k), errs).map(|v| (k.clone(), v)))
            .collect(),
        Node::Null => Vec::new(),
        other => {
            errs.push(ConfigError::WrongType {
                option: option.to_owned(),
                expected: "a map of names to values",
                value: other.describe(),
            });
            Vec::new()
        }
    }
}

/// Everything one transport section sets explicitly.
#[derive(Default, Debug)]
struct TransportSection {
    present: bool,
    enabled: bool,
    endpoint: Option<String>,
    headers: Vec<(String, String)>,
    insecure: Option<bool>,
    tls: TlsOptions,
    tls_given: bool,
    compression: Option<Compression>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    retry: Option<RetryConfig>,
}

fn transport_section(
    node: &Node,
    path: &str,
    grpc: bool,
    errs: &mut Vec<ConfigError>,
) -> TransportSection {
    let mut t = TransportSection {
        present: true,
        enabled: section_enabled(node),
        ..TransportSection::default()
    };
    if !t.enabled {
        return t;
    }
    let keys = if grpc { GRPC_KEYS } else { HTTP_KEYS };
    for (key, v) in section(node, path, keys, errs) {
        let option = join(path, key);
        match key {
            "enabled" => {
                if let Some(b) = want_bool(v, &option, errs) {
                    t.enabled = b;
                }
            }
            "endpoint" => t.endpoint = want_string(v, &option, errs),
            "headers" => t.headers = want_map(v, &option, errs),
            "insecure" => t.insecure = want_bool(v, &option, errs),
            "tls" => {
                t.tls_given = section_enabled(v);
                for (tk, tv) in section(v, &option, TLS_KEYS, errs) {
                    let topt = join(&option, tk);
                    match tk {
                        "ca" => t.tls.ca = want_string(tv, &topt, errs).map(PathBuf::from),
                        "cert" => t.tls.cert = want_string(tv, &topt, errs).map(PathBuf::from),
                        "key" => t.tls.key = want_string(tv, &topt, errs).map(PathBuf::from),
                        _ => {
                            t.tls.insecure_skip_verify = want_bool(tv, &topt, errs).unwrap_or(false)
                        }
                    }
                }
            }
            "compression" => {
                t.compression =
                    want_string(v, &option, errs).and_then(|s| compression(&s, &option, errs))
            }
            "timeout" => t.timeout = want_duration(v, &option, errs),
            "connectTimeout" => t.connect_timeout = want_duration(v, &option, errs),
            _ => {
                let mut r = RetryConfig {
                    enabled: section_enabled(v),
                    ..RetryConfig::default()
                };
                for (rk, rv) in section(v, &option, RETRY_KEYS, errs) {
                    let ropt = join(&option, rk);
                    match rk {
                        "enabled" => r.enabled = want_bool(rv, &ropt, errs).unwrap_or(true),
                        "initialInterval" => {
                            if let Some(d) = want_duration(rv, &ropt, errs) {
                                r.initial_backoff = d;
                            }
                        }
                        _ => {
                            if let Some(d) = want_duration(rv, &ropt, errs) {
                                r.max_backoff = d;
                            }
                        }
                    }
                }
                t.retry = Some(r);
            }
        }
    }
    t
}

fn compression(s: &str, option: &str, errs: &mut Vec<ConfigError>) -> Option<Compression> {
    match s.trim().to_ascii_lowercase().as_str() {
        "gzip" => Some(Compression::Gzip),
        "none" | "" => Some(Compression::None),
        _ => {
            errs.push(ConfigError::Invalid {
                option: option.to_owned(),
                value: format!("{s:?}"),
                reason: "is not a supported compression".into(),
                fix: "use gzip or none".into(),
            });
            None
        }
    }
}

/// Validates header names and values; values become sensitive (never shown).
fn headers(
    pairs: &[(String, String)],
    option: &str,
    errs: &mut Vec<ConfigError>,
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out: Vec<(HeaderName, HeaderValue)> = Vec::new();
    for (name, value) in pairs {
        let opt = join(option, name);
        let Ok(n) = HeaderName::from_bytes(name.trim().as_bytes()) else {
            errs.push(ConfigError::Invalid {
                option: opt,
                value: format!("header name {name:?}"),
                reason: "is not a valid HTTP header name".into(),
                fix: "use letters, digits and - only (no spaces, colons or control characters)"
                    .into(),
            });
            continue;
        };
        match HeaderValue::from_str(value) {
            Ok(mut v) => {
                v.set_sensitive(true);
                out.retain(|(existing, _)| *existing != n);
                out.push((n, v));
            }
            Err(_) => errs.push(ConfigError::Invalid {
                option: opt,
                value: "the value (not shown)".into(),
                reason: "contains characters HTTP headers cannot carry (CR, LF or other control characters)".into(),
                fix: "remove line breaks and control characters from the header value".into(),
            }),
        }
    }
    out
}

fn resolve<E: Fn(&str) -> Option<String>>(tree: &Node, env: &E) -> Result<Config, ConfigErrors> {
    let mut errs = Vec::new();
    let env = env::read(env, &mut errs);

    // The `tracing` section; other top-level sections (a whole Traefik
    // static configuration) are not ours and are ignored.
    let tracing = tree.get("tracing");
    if tracing.is_none() {
        if let Node::Map(entries) = tree {
            for (k, _) in entries {
                if !k.eq_ignore_ascii_case("tracing")
                    && strsim::jaro_winkler(&k.to_ascii_lowercase(), "tracing") >= 0.85
                {
                    errs.push(ConfigError::UnknownOption {
                        option: k.clone(),
                        suggestion: Some("tracing".into()),
                    });
                }
            }
        }
    }
    let enabled = tracing.is_some_and(section_enabled);
    let empty = Node::Map(Vec::new());
    let tracing = tracing.filter(|n| section_enabled(n)).unwrap_or(&empty);

    let mut service_name = None;
    let mut sample_rate = None;
    let mut add_internals = false;
    let mut resource_attributes: Vec<(String, String)> = Vec::new();
    let mut captured_request_headers = Vec::new();
    let mut captured_response_headers = Vec::new();
    let mut safe_query_params = Vec::new();
    let mut http = TransportSection::default();
    let mut grpc = TransportSection::default();
    let mut batch_node = None;
    let mut limits_node = None;

    for (key, v) in section(tracing, "tracing", TRACING_KEYS, &mut errs) {
        let option = join("tracing", key);
        match key {
            "addInternals" => add_internals = want_bool(v, &option, &mut errs).unwrap_or(false),
            "serviceName" => service_name = want_string(v, &option, &mut errs),
            "sampleRate" => {
                if let Some(r) = want_f64(v, &option, &mut errs) {
                    if (0.0..=1.0).contains(&r) {
                        sample_rate = Some(r);
                    } else {
                        errs.push(ConfigError::Invalid {
                            option,
                            value: r.to_string(),
                            reason: "is outside [0, 1]".into(),
                            fix: "use a proportion from 0.0 (trace nothing) to 1.0 (trace everything)".into(),
                        });
                    }
                }
            }
            "resourceAttributes" | "globalAttributes" => {
                resource_attributes.extend(want_map(v, &option, &mut errs))
            }
            "capturedRequestHeaders" => {
                captured_request_headers = want_list(v, &option, &mut errs).unwrap_or_default()
            }
            "capturedResponseHeaders" => {
                captured_response_headers = want_list(v, &option, &mut errs).unwrap_or_default()
            }
            "safeQueryParams" => {
                safe_query_params = want_list(v, &option, &mut errs).unwrap_or_default()
            }
            "otlp" => {
                if section_enabled(v) {
                    for (ok, ov) in section(v, &option, OTLP_KEYS, &mut errs) {
                        let opt = join(&option, ok);
                        if ok == "http" {
                            http = transport_section(ov, &opt, false, &mut errs);
                        } else {
                            grpc = transport_section(ov, &opt, true, &mut errs);
                        }
                    }
                }
            }
            "batch" => batch_node = Some(v),
            _ => limits_node = Some(v),
        }
    }

    // Transport choice.
    let http_on = http.present && http.enabled;
    let grpc_on = grpc.present && grpc.enabled;
    let protocol = match (http_on, grpc_on) {
        (true, true) => {
            errs.push(ConfigError::Conflict(
                "tracing.otlp.http and tracing.otlp.grpc are both enabled; tracewire sends to one collector: \
                 keep one section, or set enabled: false on the other (Traefik would silently use gRPC)"
                    .into(),
            ));
            Protocol::Http
        }
        (true, false) => Protocol::Http,
        (false, true) => Protocol::Grpc,
        (false, false) => env.protocol.unwrap_or(Protocol::Http),
    };
    let section = if protocol == Protocol::Grpc {
        grpc
    } else {
        http
    };
    let section_path = if protocol == Protocol::Grpc {
        "tracing.otlp.grpc"
    } else {
        "tracing.otlp.http"
    };

    // Endpoint.
    let endpoint = match protocol {
        Protocol::Http => {
            let (value, option) = match &section.endpoint {
                Some(e) => (e.clone(), format!("{section_path}.endpoint")),
                None => match (&env.traces_endpoint, &env.endpoint) {
                    (Some(t), _) => (t.clone(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into()),
                    (None, Some(base)) => (
                        format!("{}/v1/traces", base.trim_end_matches('/')),
                        "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
                    ),
                    (None, None) => (DEFAULT_HTTP_ENDPOINT.into(), "default".into()),
                },
            };
            Endpoint::parse_http(&value).map_err(|e| (option, value, e))
        }
        Protocol::Grpc => {
            let insecure = section.insecure.or(env.insecure).unwrap_or(false);
            let (value, option) = match &section.endpoint {
                Some(e) => (e.clone(), format!("{section_path}.endpoint")),
                None => match (&env.traces_endpoint, &env.endpoint) {
                    (Some(t), _) => (t.clone(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into()),
                    (None, Some(base)) => (base.clone(), "OTEL_EXPORTER_OTLP_ENDPOINT".into()),
                    (None, None) => (DEFAULT_GRPC_ENDPOINT.into(), "default".into()),
                },
            };
            Endpoint::parse_grpc(&value, insecure)
                .map(|e| {
                    if section.insecure == Some(true) {
                        e.with_tls(false)
                    } else {
                        e
                    }
                })
                .map_err(|e| (option, value, e))
        }
    };
    let endpoint = match endpoint {
        Ok(e) => Some(e),
        Err((option, value, e)) => {
            let reason = match e {
                crate::transport::EndpointError::Invalid {
                    reason, expected, ..
                } => (reason, expected),
            };
            errs.push(ConfigError::Invalid {
                option,
                value: format!("{value:?}"),
                reason: format!("is not a valid endpoint ({})", reason.0),
                fix: format!("write it as {}", reason.1),
            });
            None
        }
    };

    // Headers: the environment's, then the section's (which win per name).
    let mut header_pairs = env.headers.clone();
    for (k, v) in &section.headers {
        header_pairs.retain(|(ek, _): &(String, String)| !ek.eq_ignore_ascii_case(k));
        header_pairs.push((k.clone(), v.clone()));
    }
    let header_list = headers(&header_pairs, &format!("{section_path}.headers"), &mut errs);

    // TLS: the section's files, else the environment's.
    let mut tls = section.tls.clone();
    if tls.ca.is_none() {
        tls.ca = env.certificate.clone();
    }
    if tls.cert.is_none() && tls.key.is_none() {
        tls.cert = env.client_certificate.clone();
        tls.key = env.client_key.clone();
    }
    let uses_tls = endpoint.as_ref().is_some_and(Endpoint::is_tls);
    if uses_tls || tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some() {
        if let Err(e) = crate::transport::tls::validate(&tls) {
            errs.push(ConfigError::Tls {
                section: section_path.into(),
                message: e.to_string(),
            });
        }
    }

    let mut exporter_timeout = section
        .timeout
        .or(env.timeout)
        .unwrap_or(Duration::from_secs(10));
    if exporter_timeout.is_zero() {
        exporter_timeout = Duration::from_secs(10);
    }

    // Batching and limits.
    let batch = env::batch(batch_node, &env, &mut errs);
    let limits = env::limits(limits_node, &env, &mut errs);

    // Resource and service name.
    let mut attributes = env.resource_attributes.clone();
    for (k, v) in resource_attributes {
        attributes.retain(|(ek, _)| *ek != k);
        attributes.push((k, v));
    }
    let service_name = service_name
        .or_else(|| env.service_name.clone())
        .or_else(|| {
            attributes
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    attributes.retain(|(k, _)| k != "service.name");

    let sampler = match sample_rate {
        Some(r) => Sampler::traefik(r),
        None => env.sampler.unwrap_or_else(|| Sampler::traefik(1.0)),
    };

    if !errs.is_empty() {
        return Err(ConfigErrors(errs));
    }
    let Some(endpoint) = endpoint else {
        return Err(ConfigErrors(vec![ConfigError::Conflict(
            "no usable endpoint".into(),
        )]));
    };
    let mut exporter = ExporterConfig::new(protocol, endpoint);
    exporter.headers = header_list;
    exporter.tls = tls;
    exporter.compression = section.compression.or(env.compression).unwrap_or_default();
    exporter.timeout = exporter_timeout;
    if let Some(ct) = section.connect_timeout {
        exporter.connect_timeout = ct;
    }
    if let Some(r) = section.retry {
        exporter.retry = r;
    }
    Ok(Config {
        enabled: enabled && !env.sdk_disabled,
        service_name,
        resource_attributes: attributes,
        sampler,
        add_internals,
        captured_request_headers,
        captured_response_headers,
        safe_query_params,
        exporter,
        batch,
        limits,
    })
}

// ---------------------------------------------------------------------------
// Display (`tracewire config check`)
// ---------------------------------------------------------------------------

impl Config {
    /// The resolved configuration as YAML, in Traefik's layout, with every
    /// header value redacted: what `tracewire config check` prints.
    ///
    /// ```
    /// let mut c = tracewire::config::Config::default();
    /// let mut v = http::HeaderValue::from_static("Bearer s3cret");
    /// v.set_sensitive(true);
    /// c.exporter.headers.push(("authorization".parse().unwrap(), v));
    /// let shown = c.to_redacted_yaml();
    /// assert!(shown.contains("authorization: <redacted>"));
    /// assert!(!shown.contains("s3cret"));
    /// ```
    pub fn to_redacted_yaml(&self) -> String {
        let mut s = String::new();
        let q = |v: &str| format!("{v:?}");
        let _ = writeln!(s, "tracing:");
        let _ = writeln!(s, "  enabled: {}", self.enabled);
        let _ = writeln!(s, "  serviceName: {}", q(&self.service_name));
        let _ = writeln!(s, "  sampler: {}", describe_sampler(&self.sampler));
        let _ = writeln!(s, "  addInternals: {}", self.add_internals);
        let list = |s: &mut String, name: &str, items: &[String]| {
            if items.is_empty() {
                let _ = writeln!(s, "  {name}: []");
            } else {
                let _ = writeln!(s, "  {name}:");
                for i in items {
                    let _ = writeln!(s, "    - {}", q(i));
                }
            }
        };
        if self.resource_attributes.is_empty() {
            let _ = writeln!(s, "  resourceAttributes: {{}}");
        } else {
            let _ = writeln!(s, "  resourceAttributes:");
            for (k, v) in &self.resource_attributes {
                let _ = writeln!(s, "    {}: {}", q(k), q(v));
            }
        }
        list(
            &mut s,
            "capturedRequestHeaders",
            &self.captured_request_headers,
        );
        list(
            &mut s,
            "capturedResponseHeaders",
            &self.captured_response_headers,
        );
        list(&mut s, "safeQueryParams", &self.safe_query_params);
        let e = &self.exporter;
        let _ = writeln!(s, "  otlp:");
        match e.protocol {
            Protocol::Http => {
                let _ = writeln!(s, "    http:");
                let _ = writeln!(s, "      endpoint: {}", q(&e.endpoint.to_string()));
            }
            Protocol::Grpc => {
                let _ = writeln!(s, "    grpc:");
                let _ = writeln!(s, "      endpoint: {}", q(&e.endpoint.authority()));
                let _ = writeln!(s, "      insecure: {}", !e.endpoint.is_tls());
            }
        }
        if e.headers.is_empty() {
            let _ = writeln!(s, "      headers: {{}}");
        } else {
            let _ = writeln!(s, "      headers:");
            for (k, _) in &e.headers {
                let _ = writeln!(s, "        {}: <redacted>", k.as_str());
            }
        }
        let path = |p: &Option<PathBuf>| {
            p.as_ref()
                .map_or("null".to_owned(), |p| q(&p.display().to_string()))
        };
        let _ = writeln!(s, "      tls:");
        let _ = writeln!(s, "        ca: {}", path(&e.tls.ca));
        let _ = writeln!(s, "        cert: {}", path(&e.tls.cert));
        let _ = writeln!(s, "        key: {}", path(&e.tls.key));
        let _ = writeln!(
            s,
            "        insecureSkipVerify: {}",
            e.tls.insecure_skip_verify
        );
        let _ = writeln!(
            s,
            "      compression: {}",
            if e.compression == Compression::Gzip {
                "gzip"
            } else {
                "none"
            }
        );
        let _ = writeln!(s, "      timeout: {:?}", e.timeout);
        let _ = writeln!(s, "      connectTimeout: {:?}", e.connect_timeout);
        let _ = writeln!(s, "      retry:");
        let _ = writeln!(s, "        enabled: {}", e.retry.enabled);
        let _ = writeln!(s, "        initialInterval: {:?}", e.retry.initial_backoff);
        let _ = writeln!(s, "        maxInterval: {:?}", e.retry.max_backoff);
        let b = &self.batch;
        let _ = writeln!(s, "  batch:");
        let _ = writeln!(s, "    maxQueueSize: {}", b.max_queue_size);
        let _ = writeln!(s, "    maxExportBatchSize: {}", b.max_export_batch_size);
        let _ = writeln!(s, "    scheduleDelay: {:?}", b.scheduled_delay);
        let _ = writeln!(s, "    exportTimeout: {:?}", b.export_timeout);
        let _ = writeln!(s, "    maxConcurrentExports: {}", b.max_concurrent_exports);
        let l = &self.limits;
        let _ = writeln!(s, "  spanLimits:");
        let _ = writeln!(s, "    attributeCountLimit: {}", l.max_attributes_per_span);
        let _ = writeln!(s, "    eventCountLimit: {}", l.max_events_per_span);
        let _ = writeln!(s, "    linkCountLimit: {}", l.max_links_per_span);
        let _ = writeln!(
            s,
            "    eventAttributeCountLimit: {}",
            l.max_attributes_per_event
        );
        let _ = writeln!(
            s,
            "    linkAttributeCountLimit: {}",
            l.max_attributes_per_link
        );
        let _ = writeln!(
            s,
            "    attributeValueLengthLimit: {}",
            l.max_attribute_value_length
                .map_or("null".into(), |v| v.to_string())
        );
        s
    }
}

fn describe_sampler(s: &Sampler) -> String {
    use crate::sampling::RootSampler;
    let root = |r: &RootSampler| match r {
        RootSampler::AlwaysOn => "always_on".to_owned(),
        RootSampler::AlwaysOff => "always_off".to_owned(),
        RootSampler::Ratio(r) => format!("traceidratio({})", r.ratio()),
    };
    match s {
        Sampler::AlwaysOn => "always_on".into(),
        Sampler::AlwaysOff => "always_off".into(),
        Sampler::TraceIdRatio(r) => format!("traceidratio({})", r.ratio()),
        Sampler::ParentBased { root: r } => format!("parentbased_{}", root(r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        for bad in ["", "5 parsecs", "ms", "-1", "1x", "NaN"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn suggestions_are_for_typos_only() {
        assert_eq!(
            suggest("sampelRate", TRACING_KEYS, "tracing"),
            Some("tracing.sampleRate".into())
        );
        assert_eq!(suggest("zzz", TRACING_KEYS, "tracing"), None);
    }
}
