//! `tracewire receive` as a network server under hostile or broken
//! clients: the real binary on 127.0.0.1 port 0, over real sockets.
//!
//! Waterfall mode survives span-id cycles and extreme timestamps; one
//! request's cost is bounded (spans, decoded size, JSON lines) and the
//! refusal names the limit, its value and its flag; slow and stalled
//! clients are cut off by the header and body timeouts; connections and
//! in-flight bytes are capped; a failing `--jsonl` sink answers 503 /
//! `UNAVAILABLE`; TLS listeners negotiate only what they serve; start-up
//! errors name the flag; refusal warnings are rate-limited.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::tracewire;
use bytes::Bytes;

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A running `tracewire receive`, its stdout and stderr collected.
struct Receive {
    child: Child,
    http: SocketAddr,
    grpc: SocketAddr,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Receive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Receive {
    fn start(extra: &[&str]) -> Receive {
        let mut child = tracewire()
            .args(["receive", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
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
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let keep = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                keep.lock().unwrap().push(line);
            }
        });
        let stdout = Arc::new(Mutex::new(String::new()));
        let keep = stdout.clone();
        let mut out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                keep.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Receive {
            child,
            http: http.unwrap(),
            grpc: grpc.unwrap(),
            stdout,
            stderr,
        }
    }

    /// Waits until stdout contains `needle`.
    fn wait_stdout(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.stdout.lock().unwrap().clone();
            if out.contains(needle) || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process's peak resident memory, in bytes (Linux).
    fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

/// Sends a raw HTTP/1.1 POST and returns (status, body).
fn http_post(addr: SocketAddr, headers: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    )
    .unwrap();
    let _ = s.write_all(body);
    read_response(&mut s)
}

fn read_response(s: &mut impl Read) -> (u16, String) {
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A protobuf length-delimited field.
fn ld(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![(tag << 3) | 2];
    prost::encoding::encode_varint(body.len() as u64, &mut out);
    out.extend(body);
    out
}

/// An `ExportTraceServiceRequest` of `n` empty spans (2 bytes each).
fn empty_spans(n: usize) -> Vec<u8> {
    ld(1, &ld(2, &b"\x12\x00".repeat(n)))
}

/// A request body from the fuzz seed corpus (the selector byte dropped).
fn seed(name: &str) -> Vec<u8> {
    let path = crate::repo("fuzz/corpus/receive").join(name);
    std::fs::read(path).unwrap()[1..].to_vec()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn framed(msg: &[u8], compressed: bool) -> Bytes {
    let mut out = vec![u8::from(compressed)];
    out.extend((msg.len() as u32).to_be_bytes());
    out.extend(msg);
    Bytes::from(out)
}

/// One gRPC Export call over `io`: (grpc-status, grpc-message).
async fn grpc_call_on<T>(io: T, message: Bytes, encoding: Option<&str>) -> (String, String)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let mut req = http::Request::post(format!("http://x{EXPORT_PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(e) = encoding {
        req = req.header("grpc-encoding", e);
    }
    let (resp, mut stream) = client.send_request(req.body(()).unwrap(), false).unwrap();
    stream.send_data(message, true).unwrap();
    grpc_status(resp.await.unwrap()).await
}

async fn grpc_status(resp: http::Response<h2::RecvStream>) -> (String, String) {
    let get = |h: &http::HeaderMap, k| {
        h.get(k)
            .map(|v: &http::HeaderValue| {
                percent_encoding::percent_decode(v.as_bytes())
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .unwrap_or_default()
    };
    if resp.headers().contains_key("grpc-status") {
        return (
            get(resp.headers(), "grpc-status"),
            get(resp.headers(), "grpc-message"),
        );
    }
    let mut body = resp.into_body();
    while let Some(d) = body.data().await {
        d.unwrap();
    }
    let trailers = body.trailers().await.unwrap().unwrap_or_default();
    (
        get(&trailers, "grpc-status"),
        get(&trailers, "grpc-message"),
    )
}

fn grpc_call(addr: SocketAddr, message: Bytes, encoding: Option<&str>) -> (String, String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        grpc_call_on(tcp, message, encoding).await
    })
}

#[test]
fn waterfall_survives_shared_span_ids_cycles_and_extreme_times() {
    let mut r = Receive::start(&[]);
    let t = Instant::now();
    // Two spans share a span id, and one names it as its parent.
    let (status, _) = http_post(r.http, "", &seed("http-dup_id_cycle.bin"));
    assert_eq!(status, 200);
    let (code, _) = grpc_call(r.grpc, framed(&seed("http-dup_id_cycle.bin"), false), None);
    assert_eq!(code, "0");
    // start = end = u64::MAX.
    let (status, _) = http_post(r.http, "", &seed("http-max_time.bin"));
    assert_eq!(status, 200);
    let out = r.wait_stdout("child");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(out.matches("trace 0101").count(), 3, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.contains(" b ")).count(),
        2,
        "{out}"
    );
    assert!(r.alive(), "no panic");
    // Still serving, and quickly.
    let (status, _) = http_post(r.http, "", &seed("http-proxy_batch.bin"));
    assert_eq!(status, 200);
}

#[test]
fn waterfall_draws_at_most_a_thousand_spans_of_a_large_request() {
    let r = Receive::start(&[]);
    // 40,000 spans of one trace, each the child of the first.
    let mut spans = Vec::new();
    for i in 0..40_000u32 {
        let mut s = ld(1, &[1; 16]);
        s.extend(ld(2, &i.to_be_bytes().repeat(2)));
        if i > 0 {
            s.extend(ld(4, &[0; 8]));
        }
        s.extend(ld(5, format!("span-{i}").as_bytes()));
        spans.extend(ld(2, &s));
    }
    let body = ld(1, &ld(2, &spans));
    let t = Instant::now();
    let (status, _) = http_post(r.http, "", &body);
    assert_eq!(status, 200);
    let out = r.wait_stdout("not drawn");
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(out.contains("... 39,000 more spans not drawn"), "{out}");
    assert_eq!(out.lines().filter(|l| l.contains('|')).count(), 1000);
}

#[test]
fn one_request_costs_at_most_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("spans.jsonl");
    let r = Receive::start(&["--jsonl", jsonl.to_str().unwrap()]);
    // 16 MiB of empty spans (8 million): refused by the span count, early.
    let body = empty_spans(8_388_600);
    assert!(body.len() <= 16 << 20);
    let (status, text) = http_post(r.http, "", &body);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("more than 100000 spans") && text.contains("--max-spans-per-request"),
        "{text}"
    );
    // 64 KiB of gzip that inflates to millions of spans.
    let bomb = gzip(&empty_spans(4_000_000));
    assert!(bomb.len() < 64 << 10);
    let (status, text) = http_post(r.http, "Content-Encoding: gzip\r\n", &bomb);
    assert_eq!(status, 400, "{text}");
    let (code, msg) = grpc_call(r.grpc, framed(&bomb, true), Some("gzip"));
    assert_eq!(code, "8", "RESOURCE_EXHAUSTED: {msg}");
    assert!(msg.contains("--max-spans-per-request"), "{msg}");
    // A 600 KB body whose JSON lines would repeat a 500 KB resource on
    // 50,000 spans (25 GB): refused at --max-decoded-bytes.
    let resource = ld(
        1,
        &ld(
            1,
            &[ld(1, b"big"), ld(2, &ld(1, &vec![b'r'; 500_000]))].concat(),
        ),
    );
    let body = ld(1, &[resource, ld(2, &b"\x12\x00".repeat(50_000))].concat());
    let (status, text) = http_post(r.http, "", &body);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("JSON lines") && text.contains("--max-decoded-bytes"),
        "{text}"
    );
    let peak = r.peak_rss().unwrap_or(0);
    assert!(peak < 400 << 20, "peak RSS {} MB", peak >> 20);
    assert_eq!(
        std::fs::metadata(&jsonl).unwrap().len(),
        0,
        "nothing written"
    );
    // Within the limits, the same shape is accepted.
    let (status, _) = http_post(r.http, "", &empty_spans(1000));
    assert_eq!(status, 200);
}

#[test]
fn limits_have_flags() {
    let r = Receive::start(&[
        "--max-spans-per-request",
        "10",
        "--max-decoded-bytes",
        "100000",
        "--max-decompressed-bytes",
        "1000",
        "--quiet",
    ]);
    let (status, text) = http_post(r.http, "", &empty_spans(11));
    assert_eq!(status, 400);
    assert!(text.contains("more than 10 spans"), "{text}");
    // One span with 5,000 empty attributes: 10 KB on the wire.
    let span = b"\x4a\x00".repeat(5000);
    let (status, text) = http_post(r.http, "", &ld(1, &ld(2, &ld(2, &span))));
    assert_eq!(status, 400);
    assert!(
        text.contains("more than 100000 bytes once decoded"),
        "{text}"
    );
    let (status, text) = http_post(r.http, "Content-Encoding: gzip\r\n", &gzip(&[0; 2000]));
    assert_eq!(status, 400);
    assert!(text.contains("--max-decompressed-bytes"), "{text}");
    assert_eq!(http_post(r.http, "", &empty_spans(10)).0, 200);
}

#[test]
fn the_largest_max_request_bytes_does_not_overflow() {
    let r = Receive::start(&["--max-request-bytes", "18446744073709551615", "--quiet"]);
    let (code, msg) = grpc_call(r.grpc, framed(&empty_spans(3), false), None);
    assert_eq!(code, "0", "{msg}");
    assert_eq!(http_post(r.http, "", &empty_spans(3)).0, 200);
}

#[test]
fn slow_headers_and_stalled_bodies_are_cut_off() {
    let r = Receive::start(&["--header-timeout", "1s", "--body-timeout", "1s", "--quiet"]);
    // Slowloris: headers that never end.
    let mut s = TcpStream::connect(r.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
    // A body that stops arriving: 408.
    let mut s = TcpStream::connect(r.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
        .unwrap();
    let t = Instant::now();
    let (status, text) = read_response(&mut s);
    assert_eq!(status, 408, "{text}");
    assert!(text.contains("--body-timeout"), "{text}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // A Content-Length of 10^10 is refused before any of the body is read.
    let mut s = TcpStream::connect(r.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\nxyz")
        .unwrap();
    let t = Instant::now();
    let (status, text) = read_response(&mut s);
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("--max-request-bytes"), "{text}");
    assert!(
        t.elapsed() < Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );

    // gRPC: a message that never completes gets DEADLINE_EXCEEDED.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (code, msg) = rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(r.grpc).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(conn);
        let mut client = client.ready().await.unwrap();
        let req = http::Request::post(format!("http://x{EXPORT_PATH}"))
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let (resp, mut stream) = client.send_request(req, false).unwrap();
        stream
            .send_data(Bytes::from_static(&[0, 0, 0, 1, 0, 1, 2]), false)
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(10), resp).await;
        grpc_status(resp.expect("answered in time").unwrap()).await
    });
    assert_eq!(code, "4", "DEADLINE_EXCEEDED: {msg}");
    assert!(msg.contains("--body-timeout"), "{msg}");
}

#[test]
fn idle_grpc_connections_are_closed() {
    let r = Receive::start(&["--idle-timeout", "1s", "--quiet"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(r.grpc).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.unwrap();
        let conn = tokio::spawn(conn);
        let mut client = client.ready().await.unwrap();
        let req = http::Request::post(format!("http://x{EXPORT_PATH}"))
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let (resp, mut stream) = client.send_request(req, false).unwrap();
        stream
            .send_data(framed(&empty_spans(1), false), true)
            .unwrap();
        assert_eq!(grpc_status(resp.await.unwrap()).await.0, "0");
        let t = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), conn)
            .await
            .expect("the server closed the idle connection")
            .unwrap()
            .ok();
        assert!(
            t.elapsed() >= Duration::from_millis(800),
            "{:?}",
            t.elapsed()
        );
    });
}

#[test]
fn connections_beyond_the_limit_wait() {
    let r = Receive::start(&[
        "--max-connections",
        "1",
        "--header-timeout",
        "30s",
        "--quiet",
    ]);
    let first = TcpStream::connect(r.http).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut second = TcpStream::connect(r.http).unwrap();
    let body = empty_spans(1);
    write!(
        second,
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    second.write_all(&body).unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut buf = [0u8; 64];
    let waited = second.read(&mut buf);
    assert!(
        matches!(&waited, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "not served while the first connection holds the only place: {waited:?}"
    );
    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (status, text) = read_response(&mut second);
    assert_eq!(status, 200, "served once the first closed: {text}");
    // The limit is over both listeners, and neither starves the other.
    let (code, msg) = grpc_call(r.grpc, framed(&empty_spans(1), false), None);
    assert_eq!(code, "0", "{msg}");
}

#[test]
fn grpc_calls_per_connection_and_bytes_in_flight_are_capped() {
    let r = Receive::start(&[
        "--max-streams-per-connection",
        "2",
        "--max-inflight-bytes",
        "1000000",
        "--quiet",
    ]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(r.grpc).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(conn);
        let mut client = client.ready().await.unwrap();
        let call = |client: &mut h2::client::SendRequest<Bytes>| {
            let req = http::Request::post(format!("http://x{EXPORT_PATH}"))
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            client.send_request(req, false).unwrap()
        };
        // The server's SETTINGS_MAX_CONCURRENT_STREAMS, once it is in.
        let (resp, mut s) = call(&mut client);
        s.send_data(framed(&empty_spans(1), false), true).unwrap();
        assert_eq!(grpc_status(resp.await.unwrap()).await.0, "0");
        let mut client = client.ready().await.unwrap();
        assert_eq!(client.current_max_send_streams(), 2);
        // One call holds 800 KB of an unfinished message; a second that
        // would pass the 1 MB budget is refused (retryable), not held.
        let mut prefix = vec![0, 0, 0x10, 0, 0];
        prefix.resize(800_000, 0);
        let (_held, mut s1) = call(&mut client);
        s1.send_data(Bytes::from(prefix.clone()), false).unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut client = client.ready().await.unwrap();
        let (resp, mut s2) = call(&mut client);
        s2.send_data(Bytes::from(prefix), false).unwrap();
        let (code, msg) = grpc_status(resp.await.unwrap()).await;
        assert_eq!(code, "14", "UNAVAILABLE: {msg}");
        assert!(msg.contains("--max-inflight-bytes"), "{msg}");
    });
}

/// Linux's /dev/full fails every write with ENOSPC: a sink that cannot
/// write, without filling a disk.
#[cfg(target_os = "linux")]
#[test]
fn a_failing_jsonl_sink_answers_503_and_unavailable() {
    assert!(
        Path::new("/dev/full").exists(),
        "this test needs Linux's /dev/full (mknod /dev/full c 1 7)"
    );
    let mut r = Receive::start(&["--jsonl", "/dev/full"]);
    let (status, text) = http_post(r.http, "", &empty_spans(2));
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("--jsonl file /dev/full"), "{text}");
    let (code, msg) = grpc_call(r.grpc, framed(&empty_spans(2), false), None);
    assert_eq!(code, "14", "UNAVAILABLE: {msg}");
    assert!(r.alive());
}

fn self_signed(dir: &Path) -> (PathBuf, PathBuf, rustls::RootCertStore) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, signing_key.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    (c, k, roots)
}

#[test]
fn tls_listeners_negotiate_only_what_they_serve() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, roots) = self_signed(dir.path());
    let r = Receive::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--quiet",
    ]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        // HTTP listener: a client offering h2 and http/1.1 gets http/1.1,
        // and is served.
        let tcp = tokio::net::TcpStream::connect(r.http).await.unwrap();
        let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        let body = empty_spans(1);
        let head = format!(
            "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.write_all(&body).await.unwrap();
        let mut resp = Vec::new();
        let _ = tls.read_to_end(&mut resp).await;
        assert!(resp.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&resp));
        // gRPC listener: h2, and a call goes through.
        let tcp = tokio::net::TcpStream::connect(r.grpc).await.unwrap();
        let tls = connector.connect(name, tcp).await.unwrap();
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        let (code, _) = grpc_call_on(tls, framed(&empty_spans(1), false), None).await;
        assert_eq!(code, "0");
    });
}

fn start_error(args: &[&str]) -> String {
    let out = tracewire()
        .args(["receive", "--exit-after", "5"])
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn start_up_errors_name_the_flag_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed(dir.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let any = ["--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"];
    let err = start_error(&[&any[..], &["--tls-cert", cert, "--tls-key", cert]].concat());
    assert!(
        err.contains(&format!("no private key found in {cert} (--tls-key)"))
            && err.contains("PRIVATE KEY"),
        "{err}"
    );
    let err = start_error(&[&any[..], &["--tls-cert", "/dev/zero", "--tls-key", key]].concat());
    assert!(
        err.contains("--tls-cert") && err.contains("/dev/zero"),
        "{err}"
    );
    assert!(err.contains("larger than 4194304 bytes"), "{err}");
    let err = start_error(&[&any[..], &["--tls-cert", cert, "--tls-key", "/dev/zero"]].concat());
    assert!(
        err.contains("--tls-key") && err.contains("larger than"),
        "{err}"
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let err = start_error(&["--http", &addr, "--grpc", "127.0.0.1:0"]);
    assert!(
        err.contains(&format!("--http {addr}: address already in use"))
            && err.contains("choose another port with --http"),
        "{err}"
    );
    let err = start_error(&["--http", "127.0.0.1:0", "--grpc", &addr]);
    assert!(
        err.contains(&format!("--grpc {addr}: address already in use")),
        "{err}"
    );
}

#[test]
fn warnings_about_refused_requests_are_rate_limited() {
    let r = Receive::start(&["--quiet"]);
    let t = Instant::now();
    for _ in 0..200 {
        assert_eq!(http_post(r.http, "", b"\x0a\x05\x01").0, 400);
    }
    let elapsed = t.elapsed();
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(http_post(r.http, "", b"\x0a\x05\x01").0, 400);
    std::thread::sleep(Duration::from_millis(300));
    let lines: Vec<String> = r
        .stderr
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("refused an OTLP/HTTP request"))
        .cloned()
        .collect();
    let allowed = elapsed.as_secs() as usize + 2;
    assert!(
        lines.len() >= 2 && lines.len() <= allowed,
        "{} lines for 201 refusals in {elapsed:?}: {lines:#?}",
        lines.len()
    );
    // Every refusal is accounted for: logged, or counted in the next line.
    let held_back: usize = lines
        .iter()
        .filter_map(|l| l.strip_suffix(" more like it held back since the last report)"))
        .filter_map(|l| l.rsplit(" (").next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(lines.len() + held_back, 201, "{lines:#?}");
}
