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
//! # The OpenTelemetry configuration file
//!
//! A YAML file with `file_format: "1.x"` at its top (given as the file, or
//! named by `OTEL_CONFIG_FILE` when no file is given) is read as the
//! OpenTelemetry declarative configuration schema instead: its
//! `tracer_provider`, `resource`, `propagator` and `attribute_limits`,
//! with `${VAR:-default}` substitution, onto the same [`Config`]. As the
//! specification says, the other `OTEL_*` variables are then not read;
//! flags cannot be combined with it. Keys tracewire does not know or
//! support are errors naming them.
//!
//! This module must never panic on user input: every problem is a
//! [`ConfigError`] naming the option, the value and the fix. No message
//! shows a header value or an endpoint's `user:password`, and names are
//! shown with control characters escaped. Limits: files of 4 MiB, nesting
//! of 128 levels, durations of 100 years.
//!
//! Inside, three parts, arrows pointing down this list:
//!
//! - `syntax`: how a configuration is written. `source` (files as text,
//!   positions), `yaml` (libyaml's grammar through serde_yaml_ng, as
//!   Traefik reads YAML; nesting counted by a scan first), `toml`, `flags`,
//!   all into one tree (`Node`), and the file [`Format`]s.
//! - `meaning`: what the options mean. `read` (typed values out of the
//!   tree), `sections` (what the `tracing` section says), `env` (the
//!   `OTEL_*` variables), `resolve` (all of it over the defaults),
//!   `declarative` and `substitute` (the OpenTelemetry configuration
//!   file), `types` (the result, [`Config`]).
//! - `display`: printing a resolved configuration
//!   ([`Config::to_redacted_yaml`], `tracewire config check`).
//!
//! Beside them, for all three: `error` (the layer's [`ConfigError`]) and
//! `shown` (what messages may show of the input).
//!
//! ```
//! use tracewire::config::{load_str, Format};
//! use tracewire::transport::Protocol;
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

mod display;
mod error;
mod meaning;
mod shown;
mod syntax;

use std::path::Path;

pub use error::{ConfigError, ConfigErrors};
pub use meaning::read::parse_duration;
use meaning::resolve::resolve;
pub use meaning::types::{
    Config, DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, DEFAULT_SERVICE_NAME,
};
use meaning::{declarative, substitute};
pub use syntax::Format;

/// Loads the configuration from an optional file, Traefik-style flags
/// (`--tracing...`), and an environment (usually [`std::env::var`]).
///
/// A file must be UTF-8 and at most 4 MiB: a larger one is refused whole,
/// never read in part. Without a file, `OTEL_CONFIG_FILE` (from `env`)
/// names one; a file with `file_format` at its top is an OpenTelemetry
/// declarative configuration file (see the module docs).
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
    // OTEL_CONFIG_FILE names the file when none is given.
    let from_env = match file {
        None => env("OTEL_CONFIG_FILE")
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty()),
        Some(_) => None,
    };
    let file = file.or(from_env.as_deref().map(Path::new));
    let mut tree = match file {
        Some(path) => syntax::parse(&syntax::source::read_file(path)?, Format::for_path(path))?,
        None => syntax::Node::Map(Vec::new()),
    };
    if declarative::is_declarative(&tree) {
        return load_declarative(tree, flags, &env);
    }
    tree.merge(syntax::parse_flags(flags)?);
    resolve(&tree, &env)
}

/// An OpenTelemetry declarative configuration file (`file_format` at its
/// top): substituted from `env`, mapped onto a `Config`; flags cannot be
/// combined with it.
fn load_declarative<S: AsRef<str>, E: Fn(&str) -> Option<String>>(
    mut tree: syntax::Node,
    flags: &[S],
    env: &E,
) -> Result<Config, ConfigErrors> {
    if let Some(flag) = flags.first() {
        return Err(ConfigErrors(vec![ConfigError::Conflict(format!(
            "{} cannot be combined with an OpenTelemetry configuration file (file_format): set \
             the option in the file, or use Traefik's tracing section instead of the file",
            shown::flag(flag.as_ref())
        ))]));
    }
    let mut errs = Vec::new();
    substitute::substitute(&mut tree, "", env, &mut errs);
    if !errs.is_empty() {
        return Err(ConfigErrors(errs));
    }
    declarative::resolve_declarative(&tree)
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
    let mut tree = syntax::parse(text, format)?;
    if declarative::is_declarative(&tree) {
        return load_declarative(tree, flags, &env);
    }
    tree.merge(syntax::parse_flags(flags)?);
    resolve(&tree, &env)
}

/// Defaults plus this process's `OTEL_*` environment (for embedding without
/// a file).
///
/// A variable tracewire reads whose value is not UTF-8 is an error
/// ([`ConfigError::EnvNotUtf8`]), never silently ignored.
pub fn load_from_env() -> Result<Config, ConfigErrors> {
    let mut c = load_with_process_env(None, &[] as &[&str])?;
    c.enabled = true;
    Ok(c)
}

/// [`load`] with this process's environment: what the `tracewire` command
/// does. A variable tracewire reads whose value is not UTF-8 is reported
/// as [`ConfigError::EnvNotUtf8`] beside any other problem (where
/// `std::env::var(k).ok()` would treat it as unset).
///
/// ```
/// let config = tracewire::config::load_with_process_env(
///     None,
///     &["--tracing.serviceName=edge-proxy"],
/// )
/// .unwrap();
/// assert_eq!(config.service_name, "edge-proxy");
/// ```
pub fn load_with_process_env<S: AsRef<str>>(
    file: Option<&Path>,
    flags: &[S],
) -> Result<Config, ConfigErrors> {
    let not_utf8 = std::cell::RefCell::new(Vec::<String>::new());
    let loaded = load(file, flags, |name| match std::env::var(name) {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => {
            let mut names = not_utf8.borrow_mut();
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
            None
        }
    });
    let mut not_utf8: Vec<ConfigError> = not_utf8
        .into_inner()
        .into_iter()
        .map(|name| ConfigError::EnvNotUtf8 { name })
        .collect();
    match loaded {
        Ok(config) if not_utf8.is_empty() => Ok(config),
        Ok(_) => Err(ConfigErrors(not_utf8)),
        Err(ConfigErrors(mut errors)) => {
            errors.append(&mut not_utf8);
            Err(ConfigErrors(errors))
        }
    }
}
