//! `tracewire receive`: a real OTLP receiver that prints what arrives, as
//! waterfalls or as JSON lines.

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracewire::receive::{Limits, Receiver, ReceiverConfig};

use super::{json, runtime, waterfall, ReceiveArgs};

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
                let mut f = match file.lock() {
                    Ok(f) => f,
                    Err(p) => p.into_inner(),
                };
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
