//! Configuration under hostile or careless input, through the library and
//! through the command: files over the size limit, ports out of range,
//! nesting deep enough to make a parser crawl, numbers that cannot be
//! durations, and the fuzz seeds. Secrets and control characters in error
//! messages are `config_secrets.rs`'s.

use std::path::Path;
use std::process::Output;

use crate::tracewire;
use tracewire::config::{load, load_str, ConfigError, Format};

fn no_env(_: &str) -> Option<String> {
    None
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

// --- 5. Nesting deep enough to make the YAML parser crawl -----------------

#[test]
fn deep_nesting_is_refused_before_the_yaml_parser_reads_it() {
    let unclosed: String = "[".repeat(100_000);
    let e = yaml_error(&unclosed);
    assert!(
        e.starts_with("invalid YAML: nested more than 128 levels deep at line 1, column 129"),
        "{e}"
    );
    let ragged: String = (0..20_000)
        .map(|i| format!("[ [{}\n", " ".repeat(i % 7)))
        .collect();
    assert!(yaml_error(&format!("tracing:\n  x: {ragged}"))
        .contains("levels deep at line 65, column 1"));
    let braces = "{a: ".repeat(50_000);
    assert!(yaml_error(&braces).contains("nested more than 128 levels deep at line 1, column 513"));
    let block: String = (0..2_000)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect();
    assert!(yaml_error(&block).contains("levels deep at line 129, column 129"));
    let seq: String = "- ".repeat(100_000);
    assert!(yaml_error(&seq).contains("levels deep at line 1, column 257"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.yml");
    std::fs::write(&path, format!("tracing:\n  otlp: {unclosed}")).unwrap();
    let out = tracewire()
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nested more than 128 levels deep at line 2, column 135"),
        "{err}"
    );
}

#[test]
fn a_real_configuration_nested_deep_still_parses() {
    // A Traefik static configuration: the tracing section, and another
    // section nested 100 levels, in block and flow style, with brackets in
    // its strings, comments and block scalars.
    let mut text = String::from(
        "# traefik.yml [\nentryPoints:\n  web: {address: \":80\", http: {redirections: {entryPoint: {to: websecure}}}}\n\
         tracing:\n  serviceName: \"edge [eu]\"  # brackets: [[[\n  resourceAttributes:\n    note: |\n      [[[ {{{\n\
         \x20   rule: 'Host(`a`) && PathPrefix(`/[`)'\n  otlp:\n    grpc:\n      endpoint: collector:4317\n      insecure: true\n\
         experimental:\n",
    );
    for i in 0..50 {
        text.push_str(&format!("{}l{i}:\n", " ".repeat(2 + 2 * i)));
    }
    text.push_str(&format!(
        "{}deep: {}{}\n",
        " ".repeat(102),
        "[".repeat(50),
        "]".repeat(50)
    ));
    let c = load_str(&text, Format::Yaml, &[] as &[&str], no_env).unwrap();
    assert_eq!(c.service_name, "edge [eu]");
    assert_eq!(c.resource_attributes[0].1, "[[[ {{{\n");
    assert_eq!(c.exporter.endpoint.authority(), "collector:4317");
}

// --- 6. Numbers that cannot be a duration ----------------------------------

#[test]
fn durations_too_long_negative_or_not_finite_are_errors_not_panics() {
    for value in [
        "1e300",
        "9223372036854775807",
        "-1",
        ".inf",
        ".nan",
        "876001h",
        "-0.5",
    ] {
        let e = yaml_error(&format!(
            "tracing:\n  otlp:\n    http:\n      timeout: {value}\n  batch:\n    scheduleDelay: {value}\n"
        ));
        assert!(
            e.contains("tracing.otlp.http.timeout: expected a duration")
                && e.contains("tracing.batch.scheduleDelay: expected a duration")
                && e.contains("at most 100 years"),
            "{value}: {e}"
        );
    }
    let e = load(None, &["--tracing"], |k: &str| {
        (k == "OTEL_BSP_SCHEDULE_DELAY").then(|| u64::MAX.to_string())
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("OTEL_BSP_SCHEDULE_DELAY") && e.contains("is more than 100 years"),
        "{e}"
    );
}

#[test]
fn exit_after_takes_a_finite_number_of_seconds() {
    for value in ["-1", "NaN", "inf", "1e300", "soon"] {
        let out = tracewire()
            .args(["receive", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"])
            .arg(format!("--exit-after={value}"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {err}");
        assert!(
            err.contains(&format!(
                "invalid value '{value}' for '--exit-after <SECONDS>'"
            )),
            "{value}: {err}"
        );
    }
    let out = tracewire()
        .args(["receive", "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0"])
        .arg("--exit-after=0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_output(&out));
}

// --- 7. The fuzz seeds, replayed ------------------------------------------

/// Every seed of the `config` fuzz target (the hostile inputs above among
/// them) goes through the target's own dispatch without a panic.
#[test]
fn the_config_fuzz_seeds_replay_without_a_panic() {
    let dir = crate::repo("fuzz/corpus/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let Some((&selector, rest)) = data.split_first() else {
            continue;
        };
        let Ok(text) = std::str::from_utf8(rest) else {
            continue;
        };
        seen += 1;
        match selector % 4 {
            0 => drop(load_str(text, Format::Yaml, &[] as &[&str], no_env)),
            1 => drop(load_str(text, Format::Toml, &[] as &[&str], no_env)),
            2 => drop(load(None, &text.split('\n').collect::<Vec<_>>(), no_env)),
            _ => {
                let vars: Vec<(String, String)> = text
                    .lines()
                    .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                    .collect();
                let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
                drop(load(None, &["--tracing"], env));
            }
        }
    }
    assert!(seen >= 30, "{seen} seeds");
}
