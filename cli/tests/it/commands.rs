//! The `tracewire` command, run as a user runs it: `load` against `receive`
//! over both protocols (every span counted, parent/child links checked),
//! `receive` fed by opentelemetry-otlp, hostile requests, `config check`,
//! `demo`, usage errors; and the proxy example forwarding a traced request.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::tracewire;
use serde_json::Value;

struct Receive {
    child: Child,
    http: SocketAddr,
    grpc: SocketAddr,
    jsonl: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Receive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn receive(extra: &[&str]) -> Receive {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("spans.jsonl");
    let mut child = tracewire()
        .args([
            "receive",
            "--http",
            "127.0.0.1:0",
            "--grpc",
            "127.0.0.1:0",
            "--jsonl",
        ])
        .arg(&jsonl)
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("tracewire receive starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (mut http, mut grpc) = (None, None);
    while http.is_none() || grpc.is_none() {
        let line = lines
            .next()
            .expect("receive prints where it listens")
            .unwrap();
        if let Some(rest) = line.strip_prefix("listening for OTLP/HTTP on ") {
            let addr = rest
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches("/v1/traces");
            http = Some(addr.parse().unwrap());
        } else if let Some(rest) = line.strip_prefix("listening for OTLP/gRPC on ") {
            grpc = Some(rest.parse().unwrap());
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Receive {
        child,
        http: http.unwrap(),
        grpc: grpc.unwrap(),
        jsonl,
        _dir: dir,
    }
}

fn spans_in(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn wait_for_spans(path: &Path, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans = spans_in(path);
        if spans.len() >= n || Instant::now() > deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn last_json_line(stdout: &[u8]) -> Value {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str(text.lines().last().expect("output")).expect("the last line is JSON")
}

fn check_parent_child(spans: &[Value], n: usize) {
    let servers: Vec<&Value> = spans.iter().filter(|s| s["kind"] == "SERVER").collect();
    let clients: Vec<&Value> = spans.iter().filter(|s| s["kind"] == "CLIENT").collect();
    assert_eq!((servers.len(), clients.len()), (n / 2, n / 2));
    let by_id: std::collections::HashMap<&str, &Value> = servers
        .iter()
        .map(|s| (s["span_id"].as_str().unwrap(), *s))
        .collect();
    for s in &servers {
        assert_eq!(s["parent_span_id"], "", "SERVER spans are roots");
        assert!(s["attributes"]["http.request.method"].is_string());
        assert!(s["attributes"]["http.response.status_code"].is_i64());
    }
    for c in &clients {
        let parent = by_id
            .get(c["parent_span_id"].as_str().unwrap())
            .expect("each CLIENT's parent is a SERVER span");
        assert_eq!(parent["trace_id"], c["trace_id"], "in the same trace");
        let (ps, pe) = (
            parent["start_time_unix_nano"].as_u64().unwrap(),
            parent["end_time_unix_nano"].as_u64().unwrap(),
        );
        let (cs, ce) = (
            c["start_time_unix_nano"].as_u64().unwrap(),
            c["end_time_unix_nano"].as_u64().unwrap(),
        );
        assert!(
            ps <= cs && ce <= pe,
            "the upstream call happens inside the request"
        );
    }
}

#[test]
fn load_against_receive_over_grpc_and_http() {
    for protocol in ["grpc", "http"] {
        let r = receive(&[]);
        let endpoint = match protocol {
            "grpc" => vec![
                format!("--tracing.otlp.grpc.endpoint={}", r.grpc),
                "--tracing.otlp.grpc.insecure=true".to_string(),
            ],
            _ => vec![format!(
                "--tracing.otlp.http.endpoint=http://{}/v1/traces",
                r.http
            )],
        };
        let out = tracewire()
            .args([
                "load",
                "--spans",
                "3000",
                "--threads",
                "2",
                "--json",
                "--tracing.serviceName=load-test",
            ])
            .args(&endpoint)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{protocol}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary = last_json_line(&out.stdout);
        for (k, v) in [
            ("recorded", 3000),
            ("exported", 3000),
            ("dropped", 0),
            ("failed", 0),
            ("rejected", 0),
            ("retried", 0),
        ] {
            assert_eq!(summary[k], v, "{protocol}: {k} in {summary}");
        }
        assert!(summary["bytes"].as_u64().unwrap() > 3000 * 200);
        assert!(summary["seconds"].as_f64().unwrap() > 0.0);
        let spans = wait_for_spans(&r.jsonl, 3000);
        assert_eq!(spans.len(), 3000, "{protocol}: every span arrives, once");
        check_parent_child(&spans, 3000);
        assert_eq!(spans[0]["resource"]["service.name"], "load-test");
        assert_eq!(spans[0]["scope"]["name"], "tracewire-load");
    }
}

#[test]
fn load_exits_non_zero_when_spans_are_lost() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tracewire()
        .args(["load", "--spans", "10", "--json"])
        .arg(format!(
            "--tracing.otlp.http.endpoint=http://127.0.0.1:{port}/v1/traces"
        ))
        .arg("--tracing.batch.exportTimeout=1s")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let summary = last_json_line(&out.stdout);
    assert_eq!(
        (summary["exported"].as_u64(), summary["failed"].as_u64()),
        (Some(0), Some(10))
    );
}

#[test]
fn load_human_output_and_config_errors() {
    let r = receive(&[]);
    let out = tracewire()
        .args(["load", "--spans", "101"])
        .arg(format!(
            "--tracing.otlp.http.endpoint=http://{}/v1/traces",
            r.http
        ))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("exported") && text.contains("101"), "{text}");
    assert_eq!(
        wait_for_spans(&r.jsonl, 101).len(),
        101,
        "an odd count: the last request has no upstream call"
    );

    let out = tracewire()
        .args(["load", "--spans", "1", "--tracing.sampleRate=7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tracing.sampleRate: 7 is outside [0, 1]")
    );
}

#[test]
fn receive_accepts_opentelemetry_otlp() {
    use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
    use opentelemetry_otlp::WithExportConfig;
    let r = receive(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    for (protocol, exporter) in [
        ("grpc", {
            let _g = rt.enter();
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(format!("http://{}", r.grpc))
                .build()
                .unwrap()
        }),
        (
            "http",
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(format!("http://{}/v1/traces", r.http))
                .build()
                .unwrap(),
        ),
    ] {
        let provider = {
            let _g = rt.enter();
            opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .build()
        };
        let tracer = provider.tracer("otel-sdk");
        let parent = tracer.start(format!("{protocol}-parent"));
        let cx = opentelemetry::Context::current_with_span(parent);
        let mut child = tracer.start_with_context(format!("{protocol}-child"), &cx);
        child.set_attribute(opentelemetry::KeyValue::new("peer", "sdk"));
        child.end();
        cx.span().end();
        provider.force_flush().unwrap();
        let _ = provider.shutdown();
    }
    let spans = wait_for_spans(&r.jsonl, 4);
    assert_eq!(spans.len(), 4);
    for protocol in ["grpc", "http"] {
        let find = |n: String| {
            spans
                .iter()
                .find(|s| s["name"] == n.as_str())
                .unwrap_or_else(|| panic!("{n} arrived"))
        };
        let (p, c) = (
            find(format!("{protocol}-parent")),
            find(format!("{protocol}-child")),
        );
        assert_eq!(c["parent_span_id"], p["span_id"]);
        assert_eq!(c["trace_id"], p["trace_id"]);
        assert_eq!(c["attributes"]["peer"], "sdk");
        assert_eq!(p["scope"]["name"], "otel-sdk");
    }
}

/// Sends a raw HTTP/1.1 request and returns (status, body).
fn http_post(addr: SocketAddr, path: &str, headers: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| resp[i + 4..].to_vec())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn receive_refuses_malformed_and_oversized_requests_and_keeps_serving() {
    let r = receive(&["--max-request-bytes", "4096"]);
    let (status, body) = http_post(r.http, "/v1/traces", "", b"\x0a\x05\x01");
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("malformed ExportTraceServiceRequest"));
    let (status, _) = http_post(r.http, "/v1/traces", "", &vec![0u8; 10_000]);
    assert_eq!(status, 400, "oversized");
    let (status, _) = http_post(
        r.http,
        "/v1/traces",
        "Content-Encoding: gzip\r\n",
        b"not gzip",
    );
    assert_eq!(status, 400);
    let (status, _) = http_post(r.http, "/other", "", b"");
    assert_eq!(status, 404);

    // gRPC: a malformed message gets INVALID_ARGUMENT.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let grpc_status = rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(r.grpc).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(conn);
        let mut client = client.ready().await.unwrap();
        let req = http::Request::post(format!(
            "http://{}/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            r.grpc
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap();
        let (resp, mut stream) = client.send_request(req, false).unwrap();
        stream
            .send_data(
                bytes::Bytes::from_static(&[0, 0, 0, 0, 3, 0x0a, 0x05, 0x01]),
                true,
            )
            .unwrap();
        let resp = resp.await.unwrap();
        resp.headers()
            .get("grpc-status")
            .map(|v| v.to_str().unwrap().to_owned())
    });
    assert_eq!(grpc_status.as_deref(), Some("3"));

    // Still serving: a valid (empty) request is accepted.
    let (status, _) = http_post(r.http, "/v1/traces", "", b"");
    assert_eq!(status, 200);
}

#[test]
fn config_check_prints_redacted_config_or_errors() {
    let out = tracewire()
        .args([
            "config",
            "check",
            "--tracing.otlp.grpc.headers.Authorization=Bearer very-secret",
            "--tracing.otlp.grpc.insecure",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("authorization: <redacted>"), "{text}");
    assert!(!text.contains("very-secret"));
    assert!(text.contains("endpoint: \"localhost:4317\""), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traefik.toml");
    std::fs::write(
        &file,
        "[tracing]\nsampleRate = 2.0\nservicename = \"x\"\nbogus = 1\n",
    )
    .unwrap();
    let out = tracewire()
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("tracing.sampleRate: 2 is outside [0, 1]"),
        "{err}"
    );
    assert!(err.contains("unknown option tracing.bogus"), "{err}");
}

/// `tracewire config check` reads an OpenTelemetry declarative
/// configuration file, given with --config or by OTEL_CONFIG_FILE, prints
/// what it resolved to (header values redacted), and names each key it
/// cannot honour.
#[test]
fn config_check_reads_an_opentelemetry_configuration_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("otel-config.yaml");
    std::fs::write(
        &file,
        "file_format: \"1.0\"\ntracer_provider:\n  processors:\n    - batch:\n        max_export_batch_size: 256\n        exporter:\n          otlp_grpc:\n            endpoint: http://${COLLECTOR:-localhost}:4317\n            headers:\n              - name: authorization\n                value: Bearer very-secret\n",
    )
    .unwrap();
    for via_env in [false, true] {
        let mut cmd = tracewire();
        cmd.args(["config", "check"]).env("COLLECTOR", "otel-gw");
        if via_env {
            cmd.env("OTEL_CONFIG_FILE", &file);
        } else {
            cmd.arg("--config").arg(&file);
        }
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("endpoint: \"otel-gw:4317\""), "{text}");
        assert!(text.contains("maxExportBatchSize: 256"), "{text}");
        assert!(text.contains("authorization: <redacted>"), "{text}");
        assert!(!text.contains("very-secret"), "{text}");
    }
    std::fs::write(
        &file,
        "file_format: \"1.0\"\nlogger_provider: {}\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          zipkin: {}\n",
    )
    .unwrap();
    let out = tracewire()
        .args(["config", "check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("logger_provider: this key is not supported"),
        "{err}"
    );
    assert!(
        err.contains("tracer_provider.processors[0].batch.exporter.zipkin"),
        "{err}"
    );
}

/// An `OTEL_*` value that is not UTF-8 is an error naming the variable
/// (its bytes never shown), not a silently unset option; variables
/// tracewire does not read are left alone.
#[cfg(unix)]
#[test]
fn config_check_refuses_otel_values_that_are_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let out = tracewire()
        .args(["config", "check"])
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            OsStr::from_bytes(b"authorization=secret\xff\xfe"),
        )
        .env("OTEL_SERVICE_NAME", OsStr::from_bytes(b"edge\xc3"))
        .env("OTEL_NOT_READ_BY_TRACEWIRE", OsStr::from_bytes(b"\xff"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for name in ["OTEL_EXPORTER_OTLP_HEADERS", "OTEL_SERVICE_NAME"] {
        assert!(
            err.contains(&format!(
                "the environment variable {name} is not valid UTF-8"
            )),
            "{err}"
        );
    }
    assert!(!err.contains("OTEL_NOT_READ_BY_TRACEWIRE"), "{err}");
    assert!(!err.contains("secret"), "{err}");
    // The same through `load`, which reads the same configuration.
    let out = tracewire()
        .args(["load", "--spans", "1"])
        .env("OTEL_SERVICE_NAME", OsStr::from_bytes(b"edge\xc3"))
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("OTEL_SERVICE_NAME is not valid UTF-8"),
        "{err}"
    );
}

#[test]
fn help_version_and_usage_errors() {
    let out = tracewire().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tracewire "));
    for sub in [&["demo"][..], &["load"], &["receive"], &["config", "check"]] {
        let out = tracewire().args(sub).arg("--help").output().unwrap();
        assert!(out.status.success(), "{sub:?} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: tracewire"),
            "{sub:?}"
        );
    }
    let out = tracewire()
        .args(["load", "--tracing.serviceName=x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "--spans is required");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--spans"));
    let out = tracewire().args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = tracewire()
        .args(["receive", "--tracing.serviceName=x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not take --tracing options"));
}

#[test]
fn demo_runs_and_draws_traces() {
    let out = tracewire()
        .args(["demo", "--spans", "4000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("OTLP/gRPC") && text.contains("OTLP/HTTP"),
        "{text}"
    );
    // 4000 spans per protocol plus the 9 spans of the three drawn traces.
    assert!(text.contains(", 8009 span(s),"), "{text}");
    assert!(text.contains(", 0 refused"), "{text}");
    assert_eq!(
        text.matches("\ntrace ").count() + usize::from(text.starts_with("trace ")),
        3,
        "{text}"
    );
    assert!(
        text.contains("SERVER") && text.contains("CLIENT") && text.contains("ERROR"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------
// The proxy example (built with the `tower` feature: `cargo test --all-features`)
// ---------------------------------------------------------------------------

#[cfg(feature = "tower")]
mod proxy_example {
    use super::*;

    fn example(name: &str) -> PathBuf {
        let exe = std::env::current_exe().unwrap();
        exe.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples")
            .join(name)
    }

    /// An upstream that answers 200 and records the `traceparent` it saw.
    fn upstream() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let s = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    loop {
                        let mut tp = String::new();
                        let mut line = String::new();
                        let mut got_request = false;
                        while reader.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                            got_request = true;
                            if line == "\r\n" {
                                break;
                            }
                            if let Some(v) = line.to_ascii_lowercase().strip_prefix("traceparent:")
                            {
                                tp = v.trim().to_owned();
                            }
                            line.clear();
                        }
                        if !got_request {
                            return;
                        }
                        s.lock().unwrap().push(tp);
                        let _ = conn.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Cache: HIT\r\n\r\nok",
                        );
                    }
                });
            }
        });
        (addr, seen)
    }

    fn get(addr: SocketAddr, target: &str, headers: &str) -> u16 {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET {target} HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n{headers}\r\n"
        )
        .unwrap();
        let mut resp = String::new();
        let _ = s.read_to_string(&mut resp);
        resp.split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }

    struct Proxy(Child, SocketAddr);

    impl Drop for Proxy {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn proxy(upstream: SocketAddr, flags: &[String]) -> Proxy {
        let mut child = std::process::Command::new(example("proxy"))
            .args(["--listen", "127.0.0.1:0", "--upstream"])
            .arg(format!("http://{upstream}"))
            .args(flags)
            .stderr(Stdio::piped())
            .spawn()
            .expect("the proxy example is built by `cargo test --all-features` (without a target filter such as --tests)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("the proxy prints its address").unwrap();
            if let Some(a) = line.strip_prefix("proxy listening on http://") {
                break a.parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Proxy(child, addr)
    }

    #[test]
    fn proxy_example_continues_the_callers_trace() {
        let r = receive(&[]);
        let (up, seen) = upstream();
        let flags = vec![
            format!("--tracing.otlp.grpc.endpoint={}", r.grpc),
            "--tracing.otlp.grpc.insecure=true".to_string(),
            "--tracing.batch.scheduleDelay=50ms".to_string(),
            "--tracing.capturedRequestHeaders=X-Request-Id".to_string(),
            "--tracing.capturedResponseHeaders=X-Cache".to_string(),
            "--tracing.safeQueryParams=page".to_string(),
        ];
        let p = proxy(up, &flags);
        let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            get(p.1, "/search?q=secret&page=2", &format!("traceparent: {incoming}\r\ntracestate: congo=t61rcWkgMzE\r\nX-Request-Id: req-42\r\n")),
            200
        );
        assert_eq!(get(p.1, "/ping", ""), 200);

        let spans = wait_for_spans(&r.jsonl, 2);
        std::thread::sleep(Duration::from_millis(300));
        let spans = if spans.len() > 2 {
            spans
        } else {
            spans_in(&r.jsonl)
        };
        assert_eq!(
            spans.len(),
            2,
            "the request's two spans, and /ping untraced: {spans:?}"
        );
        let server = spans.iter().find(|s| s["kind"] == "SERVER").unwrap();
        let client = spans.iter().find(|s| s["kind"] == "CLIENT").unwrap();
        assert_eq!(
            server["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
            "continues the caller's trace"
        );
        assert_eq!(
            server["parent_span_id"], "00f067aa0ba902b7",
            "child of the caller's span"
        );
        assert_eq!(client["parent_span_id"], server["span_id"]);
        assert_eq!(client["trace_id"], server["trace_id"]);
        // Captured headers as string arrays, the query alone in
        // `url.query` (the semantic conventions' forms).
        assert_eq!(
            server["attributes"]["http.request.header.x-request-id"],
            serde_json::json!(["req-42"])
        );
        assert_eq!(
            server["attributes"]["http.response.header.x-cache"],
            serde_json::json!(["HIT"])
        );
        assert_eq!(server["attributes"]["url.path"], "/search");
        assert_eq!(server["attributes"]["url.query"], "q=REDACTED&page=2");
        assert!(client["attributes"]["url.full"]
            .as_str()
            .unwrap()
            .ends_with("/search?q=REDACTED&page=2"));
        assert_eq!(server["attributes"]["http.response.status_code"], 200);

        // What went upstream: the CLIENT span's context.
        let upstream_tp = seen.lock().unwrap()[0].clone();
        assert_eq!(
            upstream_tp,
            format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
                client["span_id"].as_str().unwrap()
            )
        );
    }

    #[test]
    fn proxy_example_traces_ping_only_with_add_internals() {
        let r = receive(&[]);
        let (up, _) = upstream();
        let flags = vec![
            format!("--tracing.otlp.http.endpoint=http://{}/v1/traces", r.http),
            "--tracing.batch.scheduleDelay=50ms".to_string(),
            "--tracing.addInternals=true".to_string(),
        ];
        let p = proxy(up, &flags);
        assert_eq!(get(p.1, "/ping", ""), 200);
        let spans = wait_for_spans(&r.jsonl, 1);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0]["kind"], "SERVER");
        assert_eq!(spans[0]["attributes"]["url.path"], "/ping");
    }
}

#[test]
fn header_values_never_reach_logs() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = tracewire()
        .env("TRACEWIRE_LOG", "trace")
        .args(["load", "--spans", "4"])
        .arg(format!(
            "--tracing.otlp.http.endpoint=http://127.0.0.1:{port}/v1/traces"
        ))
        .arg("--tracing.otlp.http.headers.Authorization=Bearer do-not-print-me")
        .arg("--tracing.batch.exportTimeout=1s")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("failed"), "{all}");
    assert!(!all.contains("do-not-print-me"), "{all}");
}
