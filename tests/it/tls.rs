//! TLS and mutual TLS against real collectors (hyper for OTLP/HTTP, tonic
//! for OTLP/gRPC) with certificates generated at test time by rcgen: a good
//! CA delivers, a wrong CA fails and is counted, `insecureSkipVerify`
//! delivers, a missing client certificate fails when the collector requires
//! one, and client keys load in every format tracewire supports.

use crate::common;

use std::time::Duration;

use common::collectors::*;
use tracewire::model::SpanKind;
use tracewire::transport::{build, Endpoint};
use tracewire::transport::{ExporterConfig, Protocol, RetryConfig, TlsOptions};
use tracewire::{BatchConfig, FlushError, Pipeline};

#[derive(Clone, Copy, Debug)]
enum Proto {
    Http,
    Grpc,
}

enum Collector {
    Http(HttpCollector),
    Grpc(GrpcCollector),
}

impl Collector {
    async fn start(proto: Proto, pki: &Pki, require_client_cert: bool) -> Self {
        match proto {
            Proto::Http => Collector::Http(
                HttpCollector::start(
                    vec![],
                    Some(pki.server_config(require_client_cert, &[b"http/1.1"])),
                )
                .await,
            ),
            Proto::Grpc => Collector::Grpc(
                GrpcCollector::start(
                    vec![],
                    Some(pki.server_config(require_client_cert, &[b"h2"])),
                )
                .await,
            ),
        }
    }

    fn accepted(&self) -> usize {
        match self {
            Collector::Http(c) => c.state.accepted_spans(),
            Collector::Grpc(c) => c.state.accepted_spans(),
        }
    }

    fn config(&self, tls: TlsOptions, host: &str) -> ExporterConfig {
        let mut cfg = match self {
            Collector::Http(c) => ExporterConfig::new(
                Protocol::Http,
                Endpoint::parse_http(&format!("https://{host}:{}/v1/traces", c.addr.port()))
                    .unwrap(),
            ),
            Collector::Grpc(c) => ExporterConfig::new(
                Protocol::Grpc,
                Endpoint::parse_grpc(&format!("{host}:{}", c.addr.port()), false).unwrap(),
            ),
        };
        cfg.tls = tls;
        cfg.retry = {
            let mut c = RetryConfig::default();
            c.initial_backoff = Duration::from_millis(20);
            c
        };
        cfg
    }
}

async fn export(cfg: &ExporterConfig, n: usize) -> (Result<(), FlushError>, tracewire::Stats) {
    let p = Pipeline::builder()
        .exporter_arc(build(cfg).expect("exporter builds"))
        .batch({
            let mut c = BatchConfig::default();
            c.export_timeout = Duration::from_secs(3);
            c
        })
        .start()
        .unwrap();
    let tracer = p.tracer("tls-test");
    for i in 0..n {
        tracer.start(&format!("tls-{i}"), SpanKind::Server).end();
    }
    let r = p.flush(Duration::from_secs(10)).await;
    let s = p.stats();
    (r, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn good_ca_delivers() {
    for proto in [Proto::Http, Proto::Grpc] {
        let pki = Pki::new();
        let c = Collector::start(proto, &pki, false).await;
        for host in ["localhost", "127.0.0.1"] {
            let tls = {
                let mut c = TlsOptions::default();
                c.ca = Some(pki.ca_file());
                c
            };
            let (r, s) = export(&c.config(tls, host), 10).await;
            assert_eq!(r, Ok(()), "{proto:?} via {host}");
            assert_eq!(s.exported, 10);
        }
        assert_eq!(c.accepted(), 20, "{proto:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_fails_and_is_counted() {
    for proto in [Proto::Http, Proto::Grpc] {
        let pki = Pki::new();
        let other = Pki::new();
        let c = Collector::start(proto, &pki, false).await;
        let tls = {
            let mut c = TlsOptions::default();
            c.ca = Some(other.ca_file());
            c
        };
        let (r, s) = export(&c.config(tls, "localhost"), 10).await;
        assert_eq!(
            r,
            Err(FlushError::Undelivered {
                failed: 10,
                rejected: 0
            }),
            "{proto:?}"
        );
        assert_eq!(
            (s.failed, s.exported, s.retried),
            (10, 0, 0),
            "a refused certificate is not retried"
        );
        assert_eq!(c.accepted(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_roots_refuse_a_private_ca() {
    let pki = Pki::new();
    let c = Collector::start(Proto::Grpc, &pki, false).await;
    let (r, _) = export(&c.config(TlsOptions::default(), "localhost"), 3).await;
    assert_eq!(
        r,
        Err(FlushError::Undelivered {
            failed: 3,
            rejected: 0
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_names_are_checked() {
    let pki = Pki::new();
    let c = Collector::start(Proto::Http, &pki, false).await;
    // The certificate names localhost and 127.0.0.1, not 127.0.0.2.
    let tls = {
        let mut c = TlsOptions::default();
        c.ca = Some(pki.ca_file());
        c
    };
    let (r, _) = export(&c.config(tls, "127.0.0.2"), 2).await;
    assert_eq!(
        r,
        Err(FlushError::Undelivered {
            failed: 2,
            rejected: 0
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_skip_verify_delivers() {
    for proto in [Proto::Http, Proto::Grpc] {
        let pki = Pki::new();
        let other = Pki::new();
        let c = Collector::start(proto, &pki, false).await;
        let tls = {
            let mut c = TlsOptions::default();
            c.ca = Some(other.ca_file());
            c.insecure_skip_verify = true;
            c
        };
        let (r, s) = export(&c.config(tls, "localhost"), 5).await;
        assert_eq!(r, Ok(()), "{proto:?}");
        assert_eq!(s.exported, 5);
        assert_eq!(c.accepted(), 5);
    }
}

fn key(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/keys")
            .join(name),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_with_every_key_format() {
    let cases = [
        ("rsa.pkcs8.pem", "rsa.pkcs1.pem"),
        ("rsa.pkcs8.pem", "rsa.pkcs8.pem"),
        ("ec.pkcs8.pem", "ec.sec1.pem"),
        ("ec.pkcs8.pem", "ec.pkcs8.pem"),
        ("ed25519.pkcs8.pem", "ed25519.pkcs8.pem"),
    ];
    for proto in [Proto::Http, Proto::Grpc] {
        let pki = Pki::new();
        let c = Collector::start(proto, &pki, true).await;
        for (pkcs8, as_loaded) in cases {
            let cert = pki.client_cert(&key(pkcs8));
            let tls = {
                let mut c = TlsOptions::default();
                c.ca = Some(pki.ca_file());
                c.cert = Some(pki.file(&format!("{as_loaded}.crt"), &cert));
                c.key = Some(pki.file(as_loaded, &key(as_loaded)));
                c.insecure_skip_verify = false;
                c
            };
            let (r, s) = export(&c.config(tls, "localhost"), 4).await;
            assert_eq!(r, Ok(()), "{proto:?} with {as_loaded}");
            assert_eq!(s.exported, 4);
        }
        assert_eq!(c.accepted(), 4 * cases.len(), "{proto:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_client_certificate_fails_when_required() {
    for proto in [Proto::Http, Proto::Grpc] {
        let pki = Pki::new();
        let c = Collector::start(proto, &pki, true).await;
        let tls = {
            let mut c = TlsOptions::default();
            c.ca = Some(pki.ca_file());
            c
        };
        let (r, s) = export(&c.config(tls, "localhost"), 6).await;
        assert_eq!(
            r,
            Err(FlushError::Undelivered {
                failed: 6,
                rejected: 0
            }),
            "{proto:?}"
        );
        assert_eq!(s.exported, 0);
        assert_eq!(c.accepted(), 0);
    }
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_a_setup_error() {
    let pki = Pki::new();
    let cert = pki.client_cert(&key("ec.pkcs8.pem"));
    let tls = {
        let mut cfg = TlsOptions::default();
        cfg.cert = Some(pki.file("c.crt", &cert));
        cfg.key = Some(pki.file("k.pem", &key("rsa.pkcs8.pem")));
        cfg
    };
    let err = tracewire::internal::tls::validate(&tls)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls.cert / tls.key"), "{err}");
}
