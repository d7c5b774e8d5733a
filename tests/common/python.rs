//! Python peers the tests run: `python3` with packages provisioned under
//! cargo's target directory on first use (tests/peers/provision.py), so a
//! fresh machine with only Python 3 passes `cargo test`, and the machine's
//! own Python is never changed.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// A file of the repository's tests/ directory.
fn tests_file(name: &str) -> PathBuf {
    // The library's package holds tests/; the command's crate is one below.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let here = root.join("tests").join(name);
    if here.exists() {
        here
    } else {
        root.join("..").join("tests").join(name)
    }
}

/// The Prometheus project's Python client, the version the tests pin, and
/// its wheel's published sha256.
const PROMETHEUS_CLIENT: (&str, &str, &str) = (
    "prometheus_client",
    "0.26.0",
    "fa93d06737aa02bacd05794768508bb97d2fbee28cb3bca04eaae92f0ca953d6",
);

/// The OpenTelemetry Python API with the B3 propagator package, and what
/// they import: each pinned with its wheel's published sha256.
const OTEL_PYTHON: &[(&str, &str, &str)] = &[
    (
        "opentelemetry-api",
        "1.45.2",
        "2cbd737377e710ee740d261c94e93fa0f08e6d037c18f17513cc0a2d94479a34",
    ),
    (
        "opentelemetry-propagator-b3",
        "1.45.1",
        "cd811519968dced23dda1240f2adf488e579d1361340a666af8540cd8a1e17ac",
    ),
    (
        "typing-extensions",
        "4.16.0",
        "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
    ),
];

/// Python's pure-Python HTTP/2 state machine (h2) and what it imports.
const H2_PYTHON: &[(&str, &str, &str)] = &[
    (
        "h2",
        "4.4.1",
        "0e25f1462b23c9cb82d9eb02e28bc706dac2a68cb457c6a0d74d63c8a2a5d0e6",
    ),
    (
        "hpack",
        "4.2.0",
        "858ac0b02280fa582b5080d68db0899c62a80375e0e5413a74970c5e518b6986",
    ),
    (
        "hyperframe",
        "6.1.0",
        "b03380493a519fce58ea5af42e4a42317bf9bd425596f7a0835ffce80f1a42e5",
    ),
];

/// The directory holding Python's h2 package, for
/// tests/peers/otlp_grpc_receiver.py (provisioned once, kept under target/).
pub fn h2_python_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| provision("h2-4.4.1", H2_PYTHON, "h2.connection"))
}

/// Provisions `packages` into one directory under target/ (once; kept for
/// later runs), checked by importing `module`.
fn provision(dir_name: &str, packages: &[(&str, &str, &str)], module: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("python")
        .join(dir_name);
    let mut cmd = Command::new("python3");
    cmd.arg(tests_file("peers/provision.py")).arg(&dir);
    for (name, version, sha256) in packages {
        cmd.args([name, version, sha256]);
    }
    let out = cmd.args(["--module", module]).output().unwrap_or_else(|e| {
        panic!("python3 is needed for the tests' Python peers ({e}): install Python 3")
    });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// The directory that holds `prometheus_client`, provisioned once per test
/// binary (and kept under target/ for later runs).
fn prometheus_client_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let (name, version, _) = PROMETHEUS_CLIENT;
        provision(
            &format!("{name}-{version}"),
            &[PROMETHEUS_CLIENT],
            "prometheus_client",
        )
    })
}

/// Runs tests/peers/otel_propagation.py (the OpenTelemetry Python API's own
/// propagators) with `request` on stdin; its JSON answer.
pub fn otel_python(request: &Value) -> Value {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        provision(
            "opentelemetry-api-1.45.2-b3-1.45.1",
            OTEL_PYTHON,
            "opentelemetry.propagators.b3",
        )
    });
    let out = run_python(
        "peers/otel_propagation.py",
        path,
        request.to_string().as_bytes(),
    );
    assert!(
        out.status.success(),
        "the OpenTelemetry Python peer failed on {request}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs a script of tests/ with `pythonpath`, `stdin` as its input.
fn run_python(script: &str, pythonpath: &std::path::Path, stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new("python3")
        .arg(tests_file(script))
        .env("PYTHONPATH", pythonpath)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("python3 could not start: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Parses Prometheus text with the Prometheus project's own Python client
/// parser (`prometheus_client.parser`, tests/peers/prometheus_parse.py):
/// family name to `{"type", "help", "samples": [[name, labels, value]]}`.
pub fn parse_with_prometheus_client(text: &str) -> HashMap<String, Value> {
    let out = run_python(
        "peers/prometheus_parse.py",
        prometheus_client_path(),
        text.as_bytes(),
    );
    assert!(
        out.status.success(),
        "prometheus_client could not parse the text:\n{}\n--- text ---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of `sample` (without an `le` label) in `family`.
pub fn value(families: &HashMap<String, Value>, family: &str, sample: &str) -> f64 {
    let f = families
        .get(family)
        .unwrap_or_else(|| panic!("no family {family} in {families:?}"));
    f["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s[0] == sample && s[1].as_object().unwrap().get("le").is_none())
        .unwrap_or_else(|| panic!("no sample {sample} in {f}"))[2]
        .as_f64()
        .unwrap()
}
