//! Command-line parsing and dispatch.
//!
//! Traefik-style `--tracing...` flags cannot be declared one by one (map
//! options take any key), so they are split off before clap sees the rest
//! and handed to the configuration loader as they are.

mod check;
mod demo;
mod json;
mod load;
mod logger;
mod receive;
mod traffic;
mod waterfall;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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

#[derive(Args, Debug)]
struct DemoArgs {
    /// Spans to send over each protocol.
    #[arg(long, default_value_t = 200_000)]
    spans: u64,
    /// Traces to draw as a waterfall.
    #[arg(long, default_value_t = 3)]
    show: usize,
}

#[derive(Args, Debug)]
struct LoadArgs {
    /// A Traefik configuration file (YAML or TOML) with a `tracing` section.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Spans to send: half SERVER spans (one per simulated request), half
    /// CLIENT spans (their upstream calls).
    #[arg(long)]
    spans: u64,
    /// Spans per second, all threads together (default: as fast as the
    /// pipeline delivers).
    #[arg(long)]
    rate: Option<f64>,
    /// Recording threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print a JSON summary as the last line of stdout.
    #[arg(long)]
    json: bool,
    /// Record as fast as possible without waiting for the queue to drain:
    /// what the queue cannot hold is dropped and counted.
    #[arg(long)]
    no_backpressure: bool,
}

#[derive(Args, Debug)]
struct ReceiveArgs {
    /// OTLP/HTTP listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
    http: SocketAddr,
    /// OTLP/gRPC listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4317")]
    grpc: SocketAddr,
    /// Write one JSON object per span to FILE instead of drawing traces.
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Largest request accepted, in bytes (larger ones get 400 /
    /// INVALID_ARGUMENT).
    #[arg(long, default_value_t = 16 << 20)]
    max_request_bytes: usize,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECONDS")]
    exit_after: Option<f64>,
    /// Only count what arrives (a summary at exit): for load tests, where
    /// drawing every trace would cost more than receiving it.
    #[arg(long, conflicts_with = "jsonl")]
    quiet: bool,
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

/// A multi-threaded tokio runtime for a subcommand, or an error message.
fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))
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
