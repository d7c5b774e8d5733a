//! Configuration: every documented option written as YAML, TOML and CLI
//! flags resolves to the same configuration; the `OTEL_*` environment and
//! its precedence; and one test per bad input, asserting its message.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use tracewire::config::{load, load_str, Config, ConfigErrors, Format};
use tracewire::sampling::Sampler;
use tracewire::transport::{Compression, Protocol};

fn no_env(_: &str) -> Option<String> {
    None
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

/// Everything about a configuration that matters, header values included.
fn fingerprint(c: &Config) -> String {
    let headers: Vec<String> = c
        .exporter
        .headers
        .iter()
        .map(|(k, v)| format!("{}={}", k, v.to_str().unwrap()))
        .collect();
    format!("{c:?}\nheaders: {headers:?}")
}

struct Files {
    pki: common::collectors::Pki,
    ca: String,
    cert: String,
    key: String,
}

fn files() -> Files {
    let pki = common::collectors::Pki::new();
    let key_pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keys/ec.pkcs8.pem"
    ))
    .unwrap();
    let ca = pki.ca_file().display().to_string();
    let cert = pki
        .file("client.crt", &pki.client_cert(&key_pem))
        .display()
        .to_string();
    let key = pki.file("client.key", &key_pem).display().to_string();
    Files { pki, ca, cert, key }
}

fn three_ways(yaml: &str, toml: &str, flags: &[String]) -> Config {
    let y = load_str(yaml, Format::Yaml, &[] as &[&str], no_env)
        .unwrap_or_else(|e| panic!("YAML: {e}"));
    let t = load_str(toml, Format::Toml, &[] as &[&str], no_env)
        .unwrap_or_else(|e| panic!("TOML: {e}"));
    let f = load(None, flags, no_env).unwrap_or_else(|e| panic!("flags: {e}"));
    assert_eq!(fingerprint(&y), fingerprint(&t), "YAML and TOML differ");
    assert_eq!(fingerprint(&y), fingerprint(&f), "YAML and flags differ");
    y
}

#[test]
fn every_grpc_option_means_the_same_in_yaml_toml_and_flags() {
    let f = files();
    let yaml = format!(
        r#"
tracing:
  addInternals: true
  serviceName: edge-proxy
  sampleRate: 0.25
  resourceAttributes:
    deployment.environment: prod
    team: platform
  capturedRequestHeaders:
    - X-Request-Id
    - User-Agent
  capturedResponseHeaders:
    - X-Cache
  safeQueryParams:
    - page
    - q
  otlp:
    grpc:
      endpoint: collector.internal:4317
      insecure: false
      headers:
        X-Tenant: abc
        Authorization: Bearer t0ken
      tls:
        ca: {ca}
        cert: {cert}
        key: {key}
        insecureSkipVerify: true
      compression: gzip
      timeout: 3s
      connectTimeout: 500ms
      retry:
        initialInterval: 100ms
        maxInterval: 2s
  batch:
    maxQueueSize: 8192
    maxExportBatchSize: 1024
    scheduleDelay: 250ms
    exportTimeout: 5s
    maxConcurrentExports: 8
  spanLimits:
    attributeCountLimit: 64
    eventCountLimit: 16
    linkCountLimit: 8
    eventAttributeCountLimit: 4
    linkAttributeCountLimit: 2
    attributeValueLengthLimit: 4096
"#,
        ca = f.ca,
        cert = f.cert,
        key = f.key
    );
    let toml = format!(
        r#"
[tracing]
addInternals = true
serviceName = "edge-proxy"
sampleRate = 0.25
capturedRequestHeaders = ["X-Request-Id", "User-Agent"]
capturedResponseHeaders = ["X-Cache"]
safeQueryParams = ["page", "q"]

[tracing.resourceAttributes]
"deployment.environment" = "prod"
team = "platform"

[tracing.otlp.grpc]
endpoint = "collector.internal:4317"
insecure = false
compression = "gzip"
timeout = "3s"
connectTimeout = "500ms"

[tracing.otlp.grpc.headers]
X-Tenant = "abc"
Authorization = "Bearer t0ken"

[tracing.otlp.grpc.tls]
ca = "{ca}"
cert = "{cert}"
key = "{key}"
insecureSkipVerify = true

[tracing.otlp.grpc.retry]
initialInterval = "100ms"
maxInterval = "2s"

[tracing.batch]
maxQueueSize = 8192
maxExportBatchSize = 1024
scheduleDelay = "250ms"
exportTimeout = "5s"
maxConcurrentExports = 8

[tracing.spanLimits]
attributeCountLimit = 64
eventCountLimit = 16
linkCountLimit = 8
eventAttributeCountLimit = 4
linkAttributeCountLimit = 2
attributeValueLengthLimit = 4096
"#,
        ca = f.ca,
        cert = f.cert,
        key = f.key
    );
    let flags: Vec<String> = [
        "--tracing.addInternals=true",
        "--tracing.serviceName=edge-proxy",
        "--tracing.sampleRate=0.25",
        "--tracing.resourceAttributes.deployment.environment=prod",
        "--tracing.resourceAttributes.team=platform",
        "--tracing.capturedRequestHeaders=X-Request-Id,User-Agent",
        "--tracing.capturedResponseHeaders[0]=X-Cache",
        "--tracing.safeQueryParams[0]=page",
        "--tracing.safeQueryParams[1]=q",
        "--tracing.otlp.grpc.endpoint=collector.internal:4317",
        "--tracing.otlp.grpc.insecure=false",
        "--tracing.otlp.grpc.headers.X-Tenant=abc",
        "--tracing.otlp.grpc.headers.Authorization=Bearer t0ken",
        &format!("--tracing.otlp.grpc.tls.ca={}", f.ca),
        &format!("--tracing.otlp.grpc.tls.cert={}", f.cert),
        &format!("--tracing.otlp.grpc.tls.key={}", f.key),
        "--tracing.otlp.grpc.tls.insecureskipverify=true",
        "--tracing.otlp.grpc.compression=gzip",
        "--tracing.otlp.grpc.timeout=3s",
        "--tracing.otlp.grpc.connectTimeout=500ms",
        "--tracing.otlp.grpc.retry.initialInterval=100ms",
        "--tracing.otlp.grpc.retry.maxInterval=2s",
        "--tracing.batch.maxQueueSize=8192",
        "--tracing.batch.maxExportBatchSize=1024",
        "--tracing.batch.scheduleDelay=250ms",
        "--tracing.batch.exportTimeout=5s",
        "--tracing.batch.maxConcurrentExports=8",
        "--tracing.spanLimits.attributeCountLimit=64",
        "--tracing.spanLimits.eventCountLimit=16",
        "--tracing.spanLimits.linkCountLimit=8",
        "--tracing.spanLimits.eventAttributeCountLimit=4",
        "--tracing.spanLimits.linkAttributeCountLimit=2",
        "--tracing.spanLimits.attributeValueLengthLimit=4096",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let c = three_ways(&yaml, &toml, &flags);

    // And each means what it says.
    assert!(c.enabled && c.add_internals);
    assert_eq!(c.service_name, "edge-proxy");
    assert_eq!(c.sampler, Sampler::traefik(0.25));
    assert_eq!(
        c.resource_attributes,
        vec![
            ("deployment.environment".into(), "prod".into()),
            ("team".into(), "platform".into())
        ]
    );
    assert_eq!(c.captured_request_headers, ["X-Request-Id", "User-Agent"]);
    assert_eq!(c.captured_response_headers, ["X-Cache"]);
    assert_eq!(c.safe_query_params, ["page", "q"]);
    let e = &c.exporter;
    assert_eq!(e.protocol, Protocol::Grpc);
    assert_eq!(e.endpoint.authority(), "collector.internal:4317");
    assert!(e.endpoint.is_tls());
    assert_eq!(e.headers.len(), 2);
    assert_eq!(e.headers[0].0, "x-tenant");
    assert_eq!(e.headers[1].1, "Bearer t0ken");
    assert!(e.headers.iter().all(|(_, v)| v.is_sensitive()));
    assert_eq!(
        e.tls.ca.as_deref().map(|p| p.display().to_string()),
        Some(f.ca.clone())
    );
    assert!(e.tls.insecure_skip_verify);
    assert_eq!(e.compression, Compression::Gzip);
    assert_eq!(
        (e.timeout, e.connect_timeout),
        (Duration::from_secs(3), Duration::from_millis(500))
    );
    assert_eq!(
        (e.retry.initial_backoff, e.retry.max_backoff),
        (Duration::from_millis(100), Duration::from_secs(2))
    );
    assert_eq!(
        (
            c.batch.max_queue_size,
            c.batch.max_export_batch_size,
            c.batch.max_concurrent_exports
        ),
        (8192, 1024, 8)
    );
    assert_eq!(
        (c.batch.scheduled_delay, c.batch.export_timeout),
        (Duration::from_millis(250), Duration::from_secs(5))
    );
    let l = c.limits;
    assert_eq!(
        (
            l.max_attributes_per_span,
            l.max_events_per_span,
            l.max_links_per_span,
            l.max_attributes_per_event,
            l.max_attributes_per_link,
            l.max_attribute_value_length
        ),
        (64, 16, 8, 4, 2, Some(4096))
    );
    drop(f.pki);
}

#[test]
fn every_http_option_means_the_same_in_yaml_toml_and_flags() {
    let f = files();
    let yaml = format!(
        "tracing:\n  otlp:\n    http:\n      endpoint: https://collector.example:4318/v1/traces\n      headers:\n        X-Tenant: t1\n      tls:\n        ca: {}\n        cert: {}\n        key: {}\n        insecureSkipVerify: false\n",
        f.ca, f.cert, f.key
    );
    let toml = format!(
        "[tracing.otlp.http]\nendpoint = \"https://collector.example:4318/v1/traces\"\n[tracing.otlp.http.headers]\nX-Tenant = \"t1\"\n[tracing.otlp.http.tls]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\ninsecureSkipVerify = false\n",
        f.ca, f.cert, f.key
    );
    let flags: Vec<String> = vec![
        "--tracing.otlp.http.endpoint=https://collector.example:4318/v1/traces".into(),
        "--tracing.otlp.http.headers.X-Tenant=t1".into(),
        format!("--tracing.otlp.http.tls.ca={}", f.ca),
        format!("--tracing.otlp.http.tls.cert={}", f.cert),
        format!("--tracing.otlp.http.tls.key={}", f.key),
        "--tracing.otlp.http.tls.insecureSkipVerify=false".into(),
    ];
    let c = three_ways(&yaml, &toml, &flags);
    assert_eq!(c.exporter.protocol, Protocol::Http);
    assert_eq!(
        c.exporter.endpoint.to_string(),
        "https://collector.example:4318/v1/traces"
    );
    assert!(c.exporter.tls.cert.is_some());
}

#[test]
fn enabling_tracing_with_defaults_three_ways() {
    let c = three_ways(
        "tracing: {}\n",
        "[tracing]\n",
        &["--tracing=true".to_string()],
    );
    assert!(c.enabled);
    assert_eq!(
        c.exporter.protocol,
        Protocol::Http,
        "no transport chosen: HTTP, as Traefik"
    );
    assert_eq!(
        c.exporter.endpoint.to_string(),
        "http://localhost:4318/v1/traces"
    );
    assert_eq!(c.service_name, "tracewire");
    assert_eq!(c.sampler, Sampler::traefik(1.0));
    assert_eq!(c.batch, tracewire::BatchConfig::default());
    // `tracing:` with nothing under it, and the bare flag, too.
    assert!(
        load_str("tracing:\n", Format::Yaml, &[] as &[&str], no_env)
            .unwrap()
            .enabled
    );
    assert!(load(None, &["--tracing"], no_env).unwrap().enabled);
    assert!(
        !load(None, &[] as &[&str], no_env).unwrap().enabled,
        "no section: disabled"
    );
    assert!(!load(None, &["--tracing=false"], no_env).unwrap().enabled);
}

#[test]
fn grpc_defaults_like_traefik() {
    let c = three_ways(
        "tracing:\n  otlp:\n    grpc: {}\n",
        "[tracing.otlp.grpc]\n",
        &["--tracing.otlp.grpc=true".to_string()],
    );
    assert_eq!(c.exporter.protocol, Protocol::Grpc);
    assert_eq!(c.exporter.endpoint.authority(), "localhost:4317");
    assert!(c.exporter.endpoint.is_tls(), "TLS unless insecure: true");
}

#[test]
fn option_names_match_case_insensitively() {
    let c = load_str(
        "TRACING:\n  SERVICENAME: x\n  otlp:\n    GRPC:\n      Insecure: TRUE\n      tls:\n        insecureskipverify: true\n",
        Format::Yaml,
        &[] as &[&str],
        no_env,
    );
    // YAML's TRUE is a string here; booleans accept it case-insensitively.
    let c = c.unwrap();
    assert_eq!(c.service_name, "x");
    assert!(!c.exporter.endpoint.is_tls());
    assert!(c.exporter.tls.insecure_skip_verify);
}

#[test]
fn other_traefik_sections_are_ignored() {
    let c = load_str(
        "entryPoints:\n  web:\n    address: :80\nproviders:\n  docker: {}\ntracing:\n  serviceName: traefik\n",
        Format::Yaml,
        &[] as &[&str],
        no_env,
    )
    .unwrap();
    assert_eq!(c.service_name, "traefik");
}

#[test]
fn global_attributes_is_the_old_name_of_resource_attributes() {
    let c = load_str(
        "tracing:\n  globalAttributes:\n    a: b\n",
        Format::Yaml,
        &[] as &[&str],
        no_env,
    )
    .unwrap();
    assert_eq!(c.resource_attributes, vec![("a".into(), "b".into())]);
}

#[test]
fn disabling_one_transport_keeps_the_other() {
    let c = load_str(
        "tracing:\n  otlp:\n    http:\n      enabled: false\n    grpc:\n      endpoint: c:4317\n      insecure: true\n",
        Format::Yaml,
        &[] as &[&str],
        no_env,
    )
    .unwrap();
    assert_eq!(c.exporter.protocol, Protocol::Grpc);
}

// ---------------------------------------------------------------------------
// Environment and precedence
// ---------------------------------------------------------------------------

#[test]
fn otel_environment() {
    let env = env_of(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example:4318/"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20abc,x-scope=team%3Da",
        ),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
        ("OTEL_SERVICE_NAME", "checkout"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=staging,service.name=ignored",
        ),
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "256"),
        ("OTEL_BSP_SCHEDULE_DELAY", "1000"),
        ("OTEL_BSP_EXPORT_TIMEOUT", "7000"),
        ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "32"),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "100"),
    ]);
    let c = load(None, &["--tracing"], env).unwrap();
    assert_eq!(
        c.exporter.endpoint.to_string(),
        "https://otel.example:4318/v1/traces",
        "/v1/traces appended"
    );
    let h: Vec<(String, String)> = c
        .exporter
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        h,
        vec![
            ("authorization".into(), "Bearer abc".into()),
            ("x-scope".into(), "team=a".into())
        ]
    );
    assert_eq!(c.exporter.timeout, Duration::from_millis(2500));
    assert_eq!(c.exporter.compression, Compression::Gzip);
    assert_eq!(c.service_name, "checkout");
    assert_eq!(
        c.resource_attributes,
        vec![("deployment.environment".into(), "staging".into())]
    );
    assert_eq!(c.sampler, Sampler::traefik(0.1));
    assert_eq!(
        (c.batch.max_queue_size, c.batch.max_export_batch_size),
        (4096, 256)
    );
    assert_eq!(
        (c.batch.scheduled_delay, c.batch.export_timeout),
        (Duration::from_secs(1), Duration::from_secs(7))
    );
    assert_eq!(
        (
            c.limits.max_attributes_per_span,
            c.limits.max_attribute_value_length
        ),
        (32, Some(100))
    );
}

#[test]
fn traces_endpoint_is_used_as_is_and_wins() {
    let env = env_of(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://traces:9999/custom/path",
        ),
    ]);
    let c = load(None, &["--tracing"], env).unwrap();
    assert_eq!(
        c.exporter.endpoint.to_string(),
        "http://traces:9999/custom/path"
    );
}

#[test]
fn otel_protocol_grpc_and_insecure() {
    let env = env_of(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
    ]);
    let c = load(None, &["--tracing"], env).unwrap();
    assert_eq!(c.exporter.protocol, Protocol::Grpc);
    assert!(!c.exporter.endpoint.is_tls());
    let env = env_of(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
    ]);
    assert!(
        !load(None, &["--tracing"], env)
            .unwrap()
            .exporter
            .endpoint
            .is_tls(),
        "an http:// scheme means plaintext"
    );
}

#[test]
fn otel_certificate_variables() {
    let f = files();
    let env = env_of(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", &f.ca),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &f.cert),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", &f.key),
    ]);
    let c = load(None, &["--tracing"], env).unwrap();
    assert_eq!(c.exporter.tls.ca.unwrap().display().to_string(), f.ca);
    assert_eq!(c.exporter.tls.cert.unwrap().display().to_string(), f.cert);
    assert_eq!(c.exporter.tls.key.unwrap().display().to_string(), f.key);
}

#[test]
fn precedence_flags_over_file_over_environment_over_defaults() {
    let env = env_of(&[
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-a=env,x-b=env"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
        ("OTEL_TRACES_SAMPLER", "always_off"),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("traefik.yml");
    std::fs::write(
        &file,
        "tracing:\n  serviceName: from-file\n  sampleRate: 0.5\n  otlp:\n    http:\n      endpoint: http://file:4318/v1/traces\n      headers:\n        x-a: file\n",
    )
    .unwrap();
    // File over environment.
    let c = load(Some(&file), &[] as &[&str], &env).unwrap();
    assert_eq!(c.service_name, "from-file");
    assert_eq!(c.exporter.endpoint.host(), "file");
    assert_eq!(
        c.sampler,
        Sampler::traefik(0.5),
        "sampleRate wins over OTEL_TRACES_SAMPLER"
    );
    let h: Vec<String> = c
        .exporter
        .headers
        .iter()
        .map(|(k, v)| format!("{k}={}", v.to_str().unwrap()))
        .collect();
    assert_eq!(h, ["x-b=env", "x-a=file"]);
    assert_eq!(c.batch.max_queue_size, 4096, "environment over defaults");
    // Flags over file.
    let c = load(Some(&file), &["--tracing.serviceName=from-flag"], &env).unwrap();
    assert_eq!(c.service_name, "from-flag");
    // Environment over defaults.
    let c = load(None, &["--tracing"], &env).unwrap();
    assert_eq!(c.service_name, "from-env");
    assert_eq!(c.sampler, Sampler::AlwaysOff);
    // TOML files by extension.
    let toml = dir.path().join("traefik.toml");
    std::fs::write(&toml, "[tracing]\nserviceName = \"toml-file\"\n").unwrap();
    assert_eq!(
        load(Some(&toml), &[] as &[&str], no_env)
            .unwrap()
            .service_name,
        "toml-file"
    );
}

#[test]
fn otel_sdk_disabled_turns_tracing_off() {
    let c = load(
        None,
        &["--tracing"],
        env_of(&[("OTEL_SDK_DISABLED", "true")]),
    )
    .unwrap();
    assert!(!c.enabled);
}

// ---------------------------------------------------------------------------
// Bad input: one test each, asserting the message names option, value, fix
// ---------------------------------------------------------------------------

fn error_of(yaml: &str) -> String {
    match load_str(yaml, Format::Yaml, &[] as &[&str], no_env) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn flag_error(flags: &[&str], env: impl Fn(&str) -> Option<String>) -> ConfigErrors {
    match load(None, flags, env) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e,
    }
}

#[test]
fn bad_tls_cert_without_key_and_the_reverse() {
    let f = files();
    let e = error_of(&format!(
        "tracing:\n  otlp:\n    grpc:\n      tls:\n        cert: {}\n",
        f.cert
    ));
    assert_eq!(e, "tracing.otlp.grpc.tls.cert is set but tls.key is not; mutual TLS needs both the client certificate and its key");
    let e = error_of(&format!(
        "tracing:\n  otlp:\n    grpc:\n      tls:\n        key: {}\n",
        f.key
    ));
    assert!(e.contains("tls.key is set but tls.cert is not"), "{e}");
}

#[test]
fn bad_tls_unreadable_file() {
    let e = error_of("tracing:\n  otlp:\n    http:\n      endpoint: https://c:4318/v1/traces\n      tls:\n        ca: /nope/ca.pem\n");
    assert!(
        e.starts_with("tracing.otlp.http.tls.ca: cannot read \"/nope/ca.pem\""),
        "{e}"
    );
    assert!(e.contains("check the path"), "{e}");
}

#[test]
fn bad_tls_non_pem_file() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("ca.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let e = error_of(&format!(
        "tracing:\n  otlp:\n    grpc:\n      tls:\n        ca: {}\n",
        junk.display()
    ));
    assert!(e.starts_with("tracing.otlp.grpc.tls.ca:"), "{e}");
    assert!(e.contains("contains no PEM certificate"), "{e}");
}

#[test]
fn bad_malformed_endpoints() {
    let e = error_of("tracing:\n  otlp:\n    http:\n      endpoint: localhost:4318\n");
    assert!(
        e.starts_with("tracing.otlp.http.endpoint: \"localhost:4318\" is not a valid endpoint"),
        "{e}"
    );
    assert!(e.contains("write it as <scheme>://<host>"), "{e}");
    let e = error_of("tracing:\n  otlp:\n    grpc:\n      endpoint: collector\n");
    assert!(
        e.contains(
            "tracing.otlp.grpc.endpoint: \"collector\" is not a valid endpoint (it has no port)"
        ),
        "{e}"
    );
    let e = flag_error(
        &["--tracing"],
        env_of(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://x/y")]),
    )
    .to_string();
    assert!(
        e.starts_with("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: \"ftp://x/y\""),
        "{e}"
    );
}

#[test]
fn bad_both_transports_enabled() {
    let e = error_of("tracing:\n  otlp:\n    http: {}\n    grpc: {}\n");
    assert!(
        e.contains("tracing.otlp.http and tracing.otlp.grpc are both enabled"),
        "{e}"
    );
    assert!(e.contains("keep one section"), "{e}");
}

#[test]
fn bad_sample_rate() {
    let e = error_of("tracing:\n  sampleRate: 1.5\n");
    assert_eq!(e, "tracing.sampleRate: 1.5 is outside [0, 1]; use a proportion from 0.0 (trace nothing) to 1.0 (trace everything)");
    let e = flag_error(&["--tracing.sampleRate=-0.1"], no_env).to_string();
    assert!(e.contains("-0.1 is outside [0, 1]"), "{e}");
    let e = error_of("tracing:\n  sampleRate: often\n");
    assert_eq!(e, "tracing.sampleRate: expected a number, got \"often\"");
}

#[test]
fn bad_header_names_and_values() {
    let e = error_of("tracing:\n  otlp:\n    http:\n      headers:\n        \"Bad Header\": x\n");
    assert!(e.contains("tracing.otlp.http.headers.Bad...: the header name is not a valid HTTP header name (character 4 is a space)"), "{e}");
    let e = flag_error(
        &["--tracing.otlp.grpc.headers.Authorization=Bearer x\r\nInjected: 1"],
        no_env,
    )
    .to_string();
    assert!(e.contains("tracing.otlp.grpc.headers.Authorization: the value (not shown) contains characters HTTP headers cannot carry (CR, LF"), "{e}");
    assert!(
        !e.contains("Bearer"),
        "header values are never printed: {e}"
    );
    let e = flag_error(
        &["--tracing"],
        env_of(&[("OTEL_EXPORTER_OTLP_HEADERS", "authorization=secret%0Avalue")]),
    )
    .to_string();
    assert!(e.contains("the value (not shown)"), "{e}");
    assert!(!e.contains("secret"), "{e}");
}

#[test]
fn bad_unknown_keys_with_suggestions() {
    let e = error_of("tracing:\n  sampelRate: 0.5\n");
    assert_eq!(
        e,
        "unknown option tracing.sampelRate; did you mean tracing.sampleRate?"
    );
    let e = error_of("tracing:\n  otlp:\n    grpc:\n      tls:\n        insecureSkipVerfy: true\n");
    assert_eq!(e, "unknown option tracing.otlp.grpc.tls.insecureSkipVerfy; did you mean tracing.otlp.grpc.tls.insecureSkipVerify?");
    let e = flag_error(&["--tracing.otlp.htp.endpoint=http://x/v1/traces"], no_env).to_string();
    assert_eq!(
        e,
        "unknown option tracing.otlp.htp; did you mean tracing.otlp.http?"
    );
    let e = error_of("tracng:\n  serviceName: x\n");
    assert_eq!(e, "unknown option tracng; did you mean tracing?");
    let e = error_of("tracing:\n  frobnicate: 1\n");
    assert!(
        e.starts_with("unknown option tracing.frobnicate; see the README"),
        "{e}"
    );
}

#[test]
fn bad_wrong_types() {
    let e = error_of("tracing:\n  addInternals: maybe\n");
    assert_eq!(
        e,
        "tracing.addInternals: expected true or false, got \"maybe\""
    );
    let e = error_of("tracing:\n  capturedRequestHeaders:\n    a: b\n");
    assert_eq!(
        e,
        "tracing.capturedRequestHeaders: expected a list of strings, got a map"
    );
    let e = error_of("tracing:\n  otlp:\n    http:\n      headers: [a, b]\n");
    assert!(
        e.starts_with("tracing.otlp.http.headers: expected a map of header names to values"),
        "{e}"
    );
    assert!(e.ends_with(", got a list"), "{e}");
    let e = error_of("tracing:\n  otlp: 42\n");
    assert!(e.starts_with("tracing.otlp: expected a section"), "{e}");
    let e = error_of("tracing:\n  batch:\n    scheduleDelay: soon\n");
    assert!(
        e.starts_with("tracing.batch.scheduleDelay: expected a duration such as 500ms"),
        "{e}"
    );
    let e = error_of("tracing:\n  batch:\n    maxQueueSize: -1\n");
    assert!(
        e.starts_with("tracing.batch.maxQueueSize: expected a whole number"),
        "{e}"
    );
}

#[test]
fn bad_batch_combinations() {
    let e = error_of("tracing:\n  batch:\n    maxQueueSize: 100\n    maxExportBatchSize: 512\n");
    assert!(
        e.contains("tracing.batch.maxExportBatchSize: 512 must be from 1 to maxQueueSize"),
        "{e}"
    );
}

#[test]
fn bad_syntax_and_flags() {
    assert!(error_of("tracing: [unclosed").starts_with("invalid YAML:"));
    let e = load_str("[tracing\n", Format::Toml, &[] as &[&str], no_env)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invalid TOML:"), "{e}");
    let e = flag_error(&["-tracing.serviceName=x"], no_env).to_string();
    assert!(e.contains("flags start with --"), "{e}");
    let e = load(
        Some(std::path::Path::new("/no/such/traefik.yml")),
        &[] as &[&str],
        no_env,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("cannot read the configuration file \"/no/such/traefik.yml\""),
        "{e}"
    );
}

#[test]
fn bad_environment_values_name_the_variable() {
    let cases = [
        (
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            "10s",
            "is not a whole number of milliseconds",
        ),
        (
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "http/json",
            "is not supported",
        ),
        (
            "OTEL_EXPORTER_OTLP_COMPRESSION",
            "brotli",
            "is not a supported compression",
        ),
        (
            "OTEL_TRACES_SAMPLER",
            "jaeger_remote",
            "is not a sampler tracewire supports",
        ),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "lots", "is not a whole number"),
        ("OTEL_EXPORTER_OTLP_INSECURE", "yes", "is not a boolean"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "novalue",
            "is not a key=value pair",
        ),
    ];
    for (var, value, reason) in cases {
        let e = flag_error(&["--tracing"], env_of(&[(var, value)])).to_string();
        assert!(e.starts_with(var) && e.contains(reason), "{var}: {e}");
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = load_str(
        "tracing:\n  sampleRate: 2\n  serviceNam: x\n",
        Format::Yaml,
        &[] as &[&str],
        no_env,
    )
    .unwrap_err();
    assert_eq!(e.0.len(), 2, "{e}");
}

#[test]
fn config_check_output_redacts_header_values() {
    let c = load(
        None,
        &["--tracing.otlp.http.headers.Authorization=Bearer super-secret"],
        no_env,
    )
    .unwrap();
    let shown = c.to_redacted_yaml();
    assert!(shown.contains("authorization: <redacted>"), "{shown}");
    assert!(!shown.contains("super-secret"), "{shown}");
    assert!(
        !format!("{c:?}").contains("super-secret"),
        "Debug hides header values too"
    );
}

#[test]
fn the_library_takes_the_same_config_built_in_code() {
    let c = {
        let mut c = Config::default();
        c.service_name = "built-in-code".into();
        c.exporter = tracewire::transport::ExporterConfig::new(
            Protocol::Grpc,
            tracewire::transport::Endpoint::parse_grpc("127.0.0.1:1", true).unwrap(),
        );
        c
    };
    let p = tracewire::Pipeline::from_config(&c).unwrap();
    assert_eq!(p.batch_config(), &c.batch);
    let _ = p.shutdown(Duration::from_millis(100));
}

/// `compression: zstd` in each form (YAML, TOML, a flag, and
/// OTEL_EXPORTER_OTLP_COMPRESSION), shown back by `config show`'s text.
#[test]
fn zstd_compression_in_every_form() {
    let yaml = "tracing:\n  otlp:\n    http:\n      endpoint: http://c:4318/v1/traces\n      compression: zstd\n";
    let toml =
        "[tracing.otlp.http]\nendpoint = \"http://c:4318/v1/traces\"\ncompression = \"ZSTD\"\n";
    let flags = [
        "--tracing.otlp.http.endpoint=http://c:4318/v1/traces".to_owned(),
        "--tracing.otlp.http.compression=zstd".to_owned(),
    ];
    let c = three_ways(yaml, toml, &flags);
    assert_eq!(c.exporter.compression, Compression::Zstd);
    assert!(
        c.to_redacted_yaml().contains("compression: zstd"),
        "{}",
        c.to_redacted_yaml()
    );
    let env = env_of(&[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")]);
    let c = load(None, &[] as &[&str], env).unwrap();
    assert_eq!(c.exporter.compression, Compression::Zstd);
    let err = load(None, &["--tracing.otlp.grpc.compression=lz4"], no_env)
        .unwrap_err()
        .to_string();
    assert!(err.contains("use gzip, zstd or none"), "{err}");
}

// ---------------------------------------------------------------------------
// The OpenTelemetry declarative configuration file
// ---------------------------------------------------------------------------

/// A whole `file_format: "1.0"` file, gRPC: every key tracewire reads lands
/// in the same `Config` fields Traefik's section fills, with `${...}`
/// substitution, and the other `OTEL_*` variables not read.
#[test]
fn a_declarative_file_maps_onto_the_config() {
    let f = files();
    let yaml = format!(
        r#"
file_format: "1.0"
disabled: false
resource:
  attributes:
    - name: service.name
      value: ${{SERVICE:-edge-proxy}}
    - name: deployment.environment.name
      value: prod
  attributes_list: "team=edge,deployment.environment.name=ignored"
attribute_limits:
  attribute_value_length_limit: 4096
propagator:
  composite:
    - tracecontext:
    - baggage:
    - b3multi:
tracer_provider:
  processors:
    - batch:
        schedule_delay: 2000
        export_timeout: 15000
        max_queue_size: 4096
        max_export_batch_size: 1024
        exporter:
          otlp_grpc:
            endpoint: https://${{env:HOST}}:4317
            headers:
              - name: authorization
                value: Bearer ${{TOKEN}}
            headers_list: "x-tenant=acme,authorization=overridden"
            tls:
              ca_file: {ca}
              cert_file: {cert}
              key_file: {key}
            compression: gzip
            timeout: 3000
  limits:
    attribute_count_limit: 64
    event_count_limit: 32
  sampler:
    parent_based:
      root:
        trace_id_ratio_based:
          ratio: ${{RATIO}}
"#,
        ca = f.ca,
        cert = f.cert,
        key = f.key
    );
    let env = env_of(&[
        ("HOST", "collector.internal"),
        ("TOKEN", "t0ken"),
        ("RATIO", "0.25"),
        // Not read when a file is used, as the specification says.
        ("OTEL_SERVICE_NAME", "from-env"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://elsewhere:4318"),
    ]);
    let c = load_str(&yaml, Format::Yaml, &[] as &[&str], env).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.enabled);
    assert_eq!(c.service_name, "edge-proxy");
    let attr = |k: &str| {
        c.resource_attributes
            .iter()
            .find(|(ak, _)| ak == k)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(attr("deployment.environment.name"), Some("prod"));
    assert_eq!(attr("team"), Some("edge"));
    let e = &c.exporter;
    assert_eq!(e.protocol, Protocol::Grpc);
    assert_eq!(e.endpoint.authority(), "collector.internal:4317");
    assert!(e.endpoint.is_tls());
    let header = |k: &str| {
        e.headers
            .iter()
            .find(|(n, _)| n.as_str() == k)
            .map(|(_, v)| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("authorization").as_deref(), Some("Bearer t0ken"));
    assert_eq!(header("x-tenant").as_deref(), Some("acme"));
    assert!(e.headers.iter().all(|(_, v)| v.is_sensitive()));
    assert_eq!(
        e.tls.ca.as_deref().map(|p| p.display().to_string()),
        Some(f.ca.clone())
    );
    assert_eq!(
        e.tls.key.as_deref().map(|p| p.display().to_string()),
        Some(f.key.clone())
    );
    assert_eq!(e.compression, Compression::Gzip);
    assert_eq!(e.timeout, Duration::from_secs(3));
    assert_eq!(c.batch.scheduled_delay, Duration::from_secs(2));
    assert_eq!(c.batch.export_timeout, Duration::from_secs(15));
    assert_eq!(
        (c.batch.max_queue_size, c.batch.max_export_batch_size),
        (4096, 1024)
    );
    assert_eq!(c.limits.max_attribute_value_length, Some(4096));
    assert_eq!(c.limits.max_attributes_per_span, 64);
    assert_eq!(c.limits.max_events_per_span, 32);
    assert_eq!(c.sampler, Sampler::parent_based(Sampler::ratio(0.25)));
    assert_eq!(c.propagators.to_string(), "tracecontext,baggage,b3multi");
    let shown = c.to_redacted_yaml();
    assert!(!shown.contains("t0ken"), "{shown}");
    drop(f.pki);
}

/// `OTEL_CONFIG_FILE` names the file; an HTTP exporter with its defaults;
/// `$$` is a dollar; `disabled: true` turns tracing off.
#[test]
fn otel_config_file_is_read_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("otel.yaml");
    std::fs::write(
        &path,
        "file_format: \"1.0\"\ndisabled: ${OFF:-false}\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp_http:\n            endpoint: ${ENDPOINT:-http://localhost:4318/v1/traces}\n            headers:\n              - name: x-price\n                value: $$5\n            compression: zstd\n",
    )
    .unwrap();
    let p = path.display().to_string();
    let env = env_of(&[("OTEL_CONFIG_FILE", &p)]);
    let c = load(None, &[] as &[&str], env).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.enabled);
    assert_eq!(c.exporter.protocol, Protocol::Http);
    assert_eq!(
        c.exporter.endpoint.to_string(),
        "http://localhost:4318/v1/traces"
    );
    assert_eq!(c.exporter.headers[0].1.to_str().unwrap(), "$5");
    assert_eq!(c.exporter.compression, Compression::Zstd);
    assert_eq!(c.batch.max_queue_size, 2048, "the default");
    assert_eq!(c.sampler, Sampler::default());
    let env = env_of(&[("OTEL_CONFIG_FILE", &p), ("OFF", "true")]);
    assert!(!load(None, &[] as &[&str], env).unwrap().enabled);
    // Flags and a declarative file do not mix.
    let err = load(Some(&path), &["--tracing.sampleRate=0.5"], no_env)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot be combined") && err.contains("sampleRate"),
        "{err}"
    );
}

/// Each key tracewire does not know or does not support is an error naming
/// it, all reported at once.
#[test]
fn a_declarative_file_with_keys_tracewire_cannot_honour() {
    let yaml = r#"
file_format: "1.0"
meter_provider:
  readers: []
tracer_provider:
  processors:
    - batch:
        max_queue_sizes: 10
        exporter:
          console: {}
  sampler:
    parent_based:
      root:
        always_on:
      remote_parent_not_sampled:
        always_on:
"#;
    let err = load_str(yaml, Format::Yaml, &[] as &[&str], no_env)
        .unwrap_err()
        .to_string();
    for needle in [
        "meter_provider: this key is not supported by tracewire",
        "unknown option tracer_provider.processors[0].batch.max_queue_sizes; did you mean tracer_provider.processors[0].batch.max_queue_size?",
        "tracer_provider.processors[0].batch.exporter.console: this key is not supported",
        "tracer_provider.sampler.parent_based.remote_parent_not_sampled: this key is not supported",
    ] {
        assert!(err.contains(needle), "{needle}\n---\n{err}");
    }
    for (yaml, needle) in [
        ("file_format: \"0.3\"\n", "0.x files need the renames"),
        (
            "file_format: \"1.0\"\ntracer_provider:\n  processors:\n    - simple:\n        exporter:\n          otlp_http: {}\n",
            "use batch",
        ),
        ("file_format: \"1.0\"\n", "has no tracer_provider"),
        (
            "file_format: \"1.0\"\nresource:\n  attributes:\n    - name: ${bad name}\n      value: x\ntracer_provider: {}\n",
            "not an environment variable name",
        ),
        (
            "file_format: \"1.0\"\ntracer_provider:\n  processors:\n    - batch:\n        exporter:\n          otlp_http:\n            encoding: json\n",
            "tracewire sends binary protobuf",
        ),
    ] {
        let err = load_str(yaml, Format::Yaml, &[] as &[&str], no_env)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{needle}\n---\n{err}");
    }
}
