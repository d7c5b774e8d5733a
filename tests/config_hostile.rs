//! Configuration under hostile or careless input, through the library and
//! through `tracewire config check`: files over the size limit, ports out
//! of range, credentials in endpoints, secrets planted in every error
//! path, control characters in names, and nesting deep enough to make a
//! parser crawl.

use std::path::Path;
use std::process::{Command, Output};

use tracewire::config::{load, load_str, ConfigError, Format};

fn no_env(_: &str) -> Option<String> {
    None
}

/// `tracewire ...` without the test environment's `OTEL_*`.
fn tracewire() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracewire"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") {
            c.env_remove(k);
        }
    }
    c
}

/// stdout and stderr of a run, as one text.
fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn yaml_error(yaml: &str) -> String {
    match load_str(yaml, Format::Yaml, &[] as &[&str], no_env) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

// --- 1. Files over the size limit are refused, not cut --------------------

const LIMIT: usize = 4 * 1024 * 1024;

/// A YAML file of exactly `size` bytes: comment padding, then a `tracing`
/// section whose endpoint and header straddle the end.
fn padded_yaml(dir: &Path, size: usize) -> std::path::PathBuf {
    let tail = "tracing:\n  otlp:\n    http:\n      endpoint: http://collector:4318/v1/traces\n      headers:\n        Authorization: Bearer abc\n";
    let mut text = String::with_capacity(size);
    let pad = size - tail.len();
    while text.len() + 80 <= pad - 2 {
        text.push_str(&format!("#{}\n", "x".repeat(78)));
    }
    text.push('#');
    text.push_str(&"x".repeat(pad - text.len() - 1));
    text.push('\n');
    text.push_str(tail);
    assert_eq!(text.len(), size);
    let path = dir.join(format!("traefik-{size}.yml"));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_file_over_4_mib_is_refused_with_its_size_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let at_limit = padded_yaml(dir.path(), LIMIT);
    let c = load(Some(&at_limit), &[] as &[&str], no_env).unwrap();
    assert!(c.enabled);
    assert_eq!(c.exporter.headers.len(), 1, "the header is read");

    for size in [LIMIT + 1, LIMIT + 40, LIMIT + 100_000] {
        let path = padded_yaml(dir.path(), size);
        let errs = load(Some(&path), &[] as &[&str], no_env).unwrap_err();
        assert!(
            matches!(errs.0[..], [ConfigError::TooLarge { size: Some(s), limit, .. }] if s == size as u64 && limit == LIMIT as u64),
            "{errs:?}"
        );
        let out = tracewire()
            .args(["config", "check", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", all_output(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("traefik-{size}.yml")), "{err}");
        assert!(err.contains(&format!("{size} bytes")), "{err}");
        assert!(
            err.contains(&format!("the limit is {LIMIT} bytes")),
            "{err}"
        );
        assert!(!err.contains("tracing is disabled"), "{err}");
        assert!(out.stdout.is_empty(), "nothing resolved is shown");
    }
}

#[test]
fn a_file_that_is_not_utf8_names_the_position_of_the_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traefik.yml");
    std::fs::write(&path, b"tracing:\n  serviceName: caf\xe9\n").unwrap();
    let e = load(Some(&path), &[] as &[&str], no_env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not valid UTF-8"), "{e}");
    assert!(e.contains("line 2, column 19 (byte offset 27)"), "{e}");
    assert!(e.contains("save the file as UTF-8"), "{e}");
}

// --- 2. Ports out of range ------------------------------------------------

#[test]
fn ports_out_of_range_are_named_with_the_range() {
    for (yaml, option) in [
        (
            "tracing:\n  otlp:\n    http:\n      endpoint: http://collector:99999/v1/traces\n",
            "tracing.otlp.http.endpoint",
        ),
        (
            "tracing:\n  otlp:\n    grpc:\n      endpoint: collector:99999\n",
            "tracing.otlp.grpc.endpoint",
        ),
        (
            "tracing:\n  otlp:\n    grpc:\n      endpoint: http://collector:65536\n",
            "tracing.otlp.grpc.endpoint",
        ),
        (
            "tracing:\n  otlp:\n    http:\n      endpoint: http://collector:0/v1/traces\n",
            "tracing.otlp.http.endpoint",
        ),
    ] {
        let e = yaml_error(yaml);
        assert!(e.starts_with(option), "{e}");
        assert!(e.contains("is out of range: ports are 1 to 65535"), "{e}");
        assert!(!e.contains("no port"), "{e}");
        assert!(e.contains("write it as"), "{e}");
    }
    let e = match load(None, &["--tracing"], |k: &str| {
        (k == "OTEL_EXPORTER_OTLP_ENDPOINT").then(|| "http://collector:70000".to_owned())
    }) {
        Ok(c) => panic!("{c:?}"),
        Err(e) => e.to_string(),
    };
    assert!(e.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT"), "{e}");
    assert!(e.contains("the port 70000 is out of range"), "{e}");
}
