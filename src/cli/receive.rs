//! `tracewire receive`: a real OTLP receiver that prints what arrives, as
//! waterfalls or as JSON lines.

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracewire::receive::{Limits, Receiver, ReceiverConfig};

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

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
    /// Largest request accepted, in bytes (larger ones get 400 /
    /// INVALID_ARGUMENT).
    #[arg(long, default_value_t = 16 << 20)]
    pub max_request_bytes: usize,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long, value_name = "SECONDS", value_parser = super::values::seconds)]
    pub exit_after: Option<f64>,
    /// Only count what arrives (a summary at exit): for load tests, where
    /// drawing every trace would cost more than receiving it.
    #[arg(long, conflicts_with = "jsonl")]
    pub quiet: bool,
}

pub fn run(args: ReceiveArgs) -> i32 {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let out: Option<Arc<Mutex<std::io::BufWriter<std::fs::File>>>> = match &args.jsonl {
        None => None,
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Some(Arc::new(Mutex::new(std::io::BufWriter::new(f)))),
            Err(e) => {
                eprintln!("error: --jsonl {}: {e}", path.display());
                return 1;
            }
        },
    };
    let config = ReceiverConfig {
        http: Some(args.http),
        grpc: Some(args.grpc),
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        limits: Limits {
            max_request_bytes: args.max_request_bytes,
            ..Limits::default()
        },
    };
    let quiet = args.quiet;
    rt.block_on(async move {
        let sink_out = out.clone();
        let receiver = Receiver::start(config, move |received| match &sink_out {
            _ if quiet => {}
            Some(file) => {
                let mut f = tracewire::internal::lock(file);
                for span in json::spans(&received.request) {
                    if serde_json::to_writer(&mut *f, &span).is_err() || f.write_all(b"\n").is_err()
                    {
                        log::error!("receive: cannot write to the --jsonl file");
                        return;
                    }
                }
                let _ = f.flush();
            }
            None => {
                let drawn = waterfall::draw(&waterfall::bars(&received.request));
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(drawn.as_bytes());
                let _ = stdout.flush();
            }
        })
        .await;
        let receiver = match receiver {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot start the receiver: {e}");
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
        match args.exit_after {
            Some(secs) if secs.is_finite() && secs >= 0.0 => {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs_f64(secs)) => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        receiver.shutdown();
        if let Some(file) = &out {
            if let Ok(mut f) = file.lock() {
                let _ = f.flush();
            }
        }
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
