//! The `tracewire` command: `demo`, `load`, `receive` and `config check`.
//!
//! Everything here is presentation and wiring: each subcommand uses the
//! library exactly as an embedding proxy would.
//!
//! Traefik-style `--tracing...` flags cannot be declared one by one (map
//! options take any key), so they are split off before clap sees the rest
//! and handed to the configuration loader as they are.

#![forbid(unsafe_code)]

mod check;
mod demo;
mod json;
mod jsonl;
mod load;
mod logger;
mod receive;
mod runtime;
mod traffic;
mod values;
mod waterfall;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use demo::DemoArgs;
use load::LoadArgs;
use receive::ReceiveArgs;

const TRACING_FLAGS_HELP: &str = "\
Tracing options are Traefik's, as flags: --tracing=true, --tracing.serviceName=edge,
--tracing.sampleRate=0.5, --tracing.otlp.grpc.endpoint=collector:4317,
--tracing.otlp.grpc.insecure=true, --tracing.otlp.http.endpoint=http://host:4318/v1/traces,
--tracing.otlp.http.headers.X-Tenant=abc, --tracing.otlp.grpc.tls.ca=ca.pem, ...
(see the README). They override --config FILE, which overrides the OTEL_* environment.";

/// A low-latency OpenTelemetry trace exporter for proxies.
#[derive(Parser, Debug)]
#[command(name = "tracewire", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start an embedded receiver, export proxy-shaped traffic to it over
    /// gRPC and HTTP, and show what happened.
    Demo(DemoArgs),
    /// Send N proxy-shaped spans to a collector through the library.
    #[command(after_help = TRACING_FLAGS_HELP)]
    Load(LoadArgs),
    /// Run an OTLP receiver (HTTP/1.1 and gRPC) and print what arrives.
    Receive(ReceiveArgs),
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the resolved configuration (header values redacted), or the
    /// errors; exit status 1 on error.
    #[command(after_help = TRACING_FLAGS_HELP)]
    Check {
        /// A Traefik configuration file (YAML or TOML).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Whether an argument is a Traefik-style `--tracing...` flag (the prefix
/// matches case-insensitively, as option names do).
fn is_tracing_flag(a: &str) -> bool {
    let Some(rest) = a
        .get(..9)
        .filter(|p| p.eq_ignore_ascii_case("--tracing"))
        .map(|_| &a[9..])
    else {
        return false;
    };
    rest.is_empty() || rest.starts_with(['=', '.', '['])
}

/// Splits `--tracing...` flags from the rest of the command line.
fn split_tracing_flags(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    args.into_iter().partition(|a| !is_tracing_flag(a))
}

/// An argument as a message may show it: its name, without any value
/// (`--name=...`), cut before `:` or whitespace, control characters
/// escaped. Tracing flags carry header values; a mistyped one too.
fn shown_arg(arg: &str) -> String {
    let (name, value) = match arg.split_once('=') {
        Some((name, _)) => (name, true),
        None => (arg, false),
    };
    let end = name
        .find(|c: char| c == ':' || c.is_whitespace())
        .unwrap_or(name.len());
    let mut shown: String = name[..end].chars().flat_map(char::escape_debug).collect();
    if end < name.len() {
        shown.push_str("...");
    } else if value {
        shown.push_str("=...");
    }
    shown
}

/// Prints a command-line error without any value a flag carried: clap
/// quotes an unexpected argument whole, and that argument may be a
/// mistyped `--tracing` flag with a header value, or the value of a
/// `--tracing` flag written after a space.
fn print_usage_error(e: &clap::Error, args: &[String]) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let unexpected = match (e.kind(), e.get(ContextKind::InvalidArg)) {
        (ErrorKind::UnknownArgument, Some(ContextValue::String(arg))) => arg.as_str(),
        _ => {
            let _ = e.print();
            return;
        }
    };
    let after_flag = args
        .windows(2)
        .find(|w| w[1] == unexpected && is_tracing_flag(&w[0]) && !w[0].contains('='));
    if let Some(w) = after_flag {
        let flag = shown_arg(&w[0]);
        eprintln!(
            "error: {flag} is followed by a separate argument (not shown); a tracing option \
             takes its value after =, as in {flag}=<value>"
        );
        return;
    }
    let shown = shown_arg(unexpected);
    let text = e.render().to_string().replace(unexpected, &shown);
    eprint!("{text}");
}

/// The command line as UTF-8, or an error naming the argument and byte
/// that are not (never the argument itself).
fn utf8_args(args: Vec<std::ffi::OsString>) -> Result<Vec<String>, String> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            a.into_string().map_err(|raw| {
                let at = std::str::from_utf8(raw.as_encoded_bytes())
                    .err()
                    .map_or(0, |e| e.valid_up_to());
                format!(
                    "argument {i} is not valid UTF-8 (from byte {at}); tracewire takes UTF-8 \
                     arguments only"
                )
            })
        })
        .collect()
}

/// Runs the command; returns the exit status.
fn main() {
    std::process::exit(run(std::env::args_os().collect()));
}

fn run(args: Vec<std::ffi::OsString>) -> i32 {
    logger::init();
    let args = match utf8_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let (rest, tracing_flags) = split_tracing_flags(args.clone());
    let cli = match Cli::try_parse_from(rest) {
        Ok(c) => c,
        Err(e) => {
            print_usage_error(&e, &args);
            return e.exit_code();
        }
    };
    let takes_flags = matches!(cli.command, Command::Load(_) | Command::Config(_));
    if !tracing_flags.is_empty() && !takes_flags {
        let names: Vec<String> = tracing_flags.iter().map(|f| shown_arg(f)).collect();
        eprintln!(
            "error: {} does not take --tracing options (only load and config check do)",
            names.join(" ")
        );
        return 2;
    }
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Load(a) => load::run(a, &tracing_flags),
        Command::Receive(a) => receive::run(a),
        Command::Config(ConfigCommand::Check { config }) => {
            check::run(config.as_deref(), &tracing_flags)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracing_flags_are_split_off() {
        let args = [
            "tracewire",
            "load",
            "--spans",
            "10",
            "--tracing.serviceName=x",
            "--tracing",
            "--json",
        ];
        let (rest, flags) = split_tracing_flags(args.iter().map(|s| s.to_string()).collect());
        assert_eq!(rest, ["tracewire", "load", "--spans", "10", "--json"]);
        assert_eq!(flags, ["--tracing.serviceName=x", "--tracing"]);
    }

    #[test]
    fn tracing_flags_match_case_insensitively_and_only_whole() {
        for yes in [
            "--tracing",
            "--TRACING.serviceName=x",
            "--Tracing=true",
            "--tracing[0]",
        ] {
            assert!(is_tracing_flag(yes), "{yes}");
        }
        for no in [
            "--tracingx",
            "--trac",
            "-tracing",
            "--tracinG\u{e9}",
            "--\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        ] {
            assert!(!is_tracing_flag(no), "{no}");
        }
    }

    #[test]
    fn arguments_are_shown_without_values() {
        assert_eq!(
            shown_arg("--tracng.otlp.http.headers.A=s3cret"),
            "--tracng.otlp.http.headers.A=..."
        );
        assert_eq!(
            shown_arg("--tracing.h.Authorization: Bearer s3cret"),
            "--tracing.h.Authorization..."
        );
        assert_eq!(shown_arg("--x\r\ny"), "--x...");
        assert_eq!(shown_arg("--x\u{1b}y"), "--x\\u{1b}y");
        assert_eq!(shown_arg("--spans"), "--spans");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
