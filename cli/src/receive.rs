//! `tracewire receive`: a real OTLP receiver that prints what arrives, as
//! waterfalls or as JSON lines, within limits a hostile or broken client
//! cannot talk it out of (each with a flag, defaults in `--help`).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tracewire::receive::{
    ConnectionLimits, Limits, Receiver, ReceiverConfig, SinkError, StartError, Via,
};
use tracewire::transport::TlsError;

use super::jsonl::Jsonl;
use super::runtime::runtime;
use super::{json, waterfall};

/// `tracewire receive`.
#[derive(Args, Debug)]
pub struct ReceiveArgs {
    /// OTLP/HTTP listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
    pub http: SocketAddr,
    /// OTLP/gRPC listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4317")]
    pub grpc: SocketAddr,
    /// Write one JSON object per span to FILE instead of drawing traces.
    #[arg(long, value_name = "FILE")]
    pub jsonl: Option<PathBuf>,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest request body on the wire, in bytes (larger ones get 400 /
    /// RESOURCE_EXHAUSTED).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_request_bytes)]
    pub max_request_bytes: usize,
    /// Largest request body once gzip is inflated, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_decompressed_bytes)]
    pub max_decompressed_bytes: usize,
    /// Most spans in one request.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_spans)]
    pub max_spans_per_request: usize,
    /// Largest a request may be once decoded, in memory (estimated before
    /// decoding), in bytes; with --jsonl, also the most one request's JSON
    /// lines may take.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_decoded_bytes)]
    pub max_decoded_bytes: usize,
    /// How long a client may take to send a request's headers (TLS
    /// handshake included); idle HTTP/1.1 keep-alive connections are closed
    /// after it too. `500ms`, `10s`, `1m`, or seconds.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive (then 408 /
    /// DEADLINE_EXCEEDED).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    pub body_timeout: Duration,
    /// How long a gRPC connection with no call in progress stays open.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration)]
    pub idle_timeout: Duration,
    /// Connections served at once, over both listeners; more wait to be
    /// accepted.
    #[arg(long, value_name = "N", default_value_t = ConnectionLimits::default().max_connections as u32,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Concurrent gRPC calls on one HTTP/2 connection.
    #[arg(long, value_name = "N",
          default_value_t = ConnectionLimits::default().max_streams_per_connection,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams_per_connection: u32,
    /// Request-body bytes held at once over all connections; beyond it,
    /// requests get 503 / UNAVAILABLE (retryable).
    #[arg(long, value_name = "BYTES", default_value_t = ConnectionLimits::default().max_inflight_bytes)]
    pub max_inflight_bytes: usize,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECONDS", value_parser = super::values::seconds)]
    pub exit_after: Option<f64>,
    /// Only count what arrives (a summary at exit): for load tests, where
    /// drawing every trace would cost more than receiving it.
    #[arg(long, conflicts_with = "jsonl")]
    pub quiet: bool,
}

/// Parses `500ms`, `10s`, `1m` or a number of seconds; more than zero, at
/// most a day.
fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let seconds_per_unit = match unit {
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        _ => return Err(format!("{s:?}: expected a duration like 500ms, 10s or 1m")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration like 500ms, 10s or 1m"))?;
    let seconds = value * seconds_per_unit;
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!("{s:?}: must be more than 0 and at most a day"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// What `Receiver::start_with` said, as the user set it up: which flag
/// chose the address or file, and what to do.
fn start_error(e: &StartError, args: &ReceiveArgs) -> String {
    match e {
        StartError::Bind { via, addr, source } => {
            let flag = match via {
                Via::Http => "--http",
                Via::Grpc => "--grpc",
            };
            if source.kind() == std::io::ErrorKind::AddrInUse {
                format!(
                    "{flag} {addr}: address already in use; is another receiver or collector \
                     running? choose another port with {flag}"
                )
            } else {
                format!("{flag} {addr}: cannot listen there: {source}")
            }
        }
        StartError::Tls(TlsError::NotPem { option, path, .. }) if *option == "--tls-key" => {
            format!(
                "no private key found in {} (--tls-key): expected a PEM 'PRIVATE KEY' block \
                 (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY); is it the \
                 certificate (--tls-cert {})?",
                path.display(),
                args.tls_cert
                    .as_deref()
                    .map_or_else(String::new, |p| p.display().to_string())
            )
        }
        StartError::Tls(e) => e.to_string(),
        e => e.to_string(),
    }
}

pub fn run(args: ReceiveArgs) -> i32 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let exit_after = match args.exit_after {
        None => None,
        Some(secs) => match Duration::try_from_secs_f64(secs) {
            Ok(d) => Some(d),
            Err(_) => {
                eprintln!("error: --exit-after {secs}: expected a number of seconds, 0 or more");
                return 2;
            }
        },
    };
    let jsonl: Option<Arc<Jsonl>> = match &args.jsonl {
        None => None,
        Some(path) => match Jsonl::open(path) {
            Ok(f) => Some(Arc::new(f)),
            Err(e) => {
                eprintln!("error: --jsonl {}: {e}", path.display());
                return 1;
            }
        },
    };
    let limits = {
        let mut c = Limits::default();
        c.max_request_bytes = args.max_request_bytes;
        c.max_decompressed_bytes = args.max_decompressed_bytes;
        c.max_spans = args.max_spans_per_request;
        c.max_decoded_bytes = args.max_decoded_bytes;
        c
    };
    let config = {
        let mut c = ReceiverConfig::default();
        c.http = Some(args.http);
        c.grpc = Some(args.grpc);
        c.tls = args.tls_cert.clone().zip(args.tls_key.clone());
        c.limits = limits;
        c.connections = {
            let mut c = ConnectionLimits::default();
            c.header_timeout = args.header_timeout;
            c.body_timeout = args.body_timeout;
            c.idle_timeout = args.idle_timeout;
            c.max_connections = args.max_connections as usize;
            c.max_streams_per_connection = args.max_streams_per_connection;
            c.max_inflight_bytes = args.max_inflight_bytes;
            c
        };
        c
    };
    let quiet = args.quiet;
    rt.block_on(async move {
        let receiver = Receiver::start_with(config, move |received| match &jsonl {
            _ if quiet => Ok(()),
            Some(file) => {
                let lines = json::lines(&received.request, limits.max_decoded_bytes).map_err(
                    |json::TooLarge(max)| {
                        SinkError::TooLarge(format!(
                            "the request's JSON lines would take more than {max} bytes, the \
                             limit set by --max-decoded-bytes; send smaller batches or raise \
                             --max-decoded-bytes"
                        ))
                    },
                )?;
                file.append(&lines).map_err(SinkError::Unavailable)
            }
            None => {
                let drawn = waterfall::draw_request(&received.request);
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(drawn.as_bytes());
                let _ = stdout.flush();
                Ok(())
            }
        })
        .await;
        let receiver = match receiver {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {}", start_error(&e, &args));
                return 1;
            }
        };
        let scheme = if args.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        if let Some(a) = receiver.http_addr() {
            eprintln!("listening for OTLP/HTTP on {scheme}://{a}/v1/traces");
        }
        if let Some(a) = receiver.grpc_addr() {
            eprintln!("listening for OTLP/gRPC on {a}");
        }
        match exit_after {
            Some(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        receiver.shutdown();
        let s = receiver.stats();
        eprintln!(
            "received {} request(s), {} span(s), {} byte(s); refused {} request(s)",
            s.requests.load(Ordering::Relaxed),
            s.spans.load(Ordering::Relaxed),
            s.bytes.load(Ordering::Relaxed),
            s.refused.load(Ordering::Relaxed)
        );
        0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in [
            "0", "0s", "-1s", "1e30", "1e30s", "NaN", "", "10h", "s", "1.2.3s",
        ] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }
}
