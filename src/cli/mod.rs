//! Command-line parsing and dispatch.
//!
//! Traefik-style `--tracing...` flags cannot be declared one by one (map
//! options take any key), so they are split off before clap sees the rest
//! and handed to the configuration loader as they are.

mod check;
mod demo;
mod json;
mod jsonl;
mod load;
mod logger;
mod receive;
mod runtime;
mod traffic;
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

/// Splits `--tracing...` flags from the rest of the command line.
fn split_tracing_flags(args: Vec<String>) -> (Vec<String>, Vec<String>) {
    args.into_iter().partition(|a| {
        !(a == "--tracing"
            || a.starts_with("--tracing=")
            || a.starts_with("--tracing.")
            || a.starts_with("--tracing["))
    })
}

/// Runs the command; returns the exit status.
pub fn run(args: Vec<String>) -> i32 {
    logger::init();
    let (rest, tracing_flags) = split_tracing_flags(args);
    let cli = match Cli::try_parse_from(rest) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return e.exit_code();
        }
    };
    let takes_flags = matches!(cli.command, Command::Load(_) | Command::Config(_));
    if !tracing_flags.is_empty() && !takes_flags {
        eprintln!(
            "error: {} does not take --tracing options (only load and config check do)",
            tracing_flags.join(" ")
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
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
