//! No error path shows a header value or an endpoint's `user:password`,
//! and no name reaches a message with its control characters: secrets and
//! hostile names planted in every error path, through the library (its
//! errors' Display and Debug, its log) and through `tracewire config
//! check` (stdout and stderr).

use std::process::Output;

use crate::tracewire;
use tracewire::config::{load, load_str, Format};

/// stdout and stderr of a run, as one text.
fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// --- No header value and no userinfo in any message, ever -----------------

const SECRET: &str = "s3cr3t-planted";

/// Every record the library logs in this test binary.
static LOGGED: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        if let Ok(mut l) = LOGGED.lock() {
            l.push_str(&format!("{} {}\n", r.level(), r.args()));
        }
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static CAPTURE: Capture = Capture;
    if log::set_logger(&CAPTURE).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// One way to get a secret into a configuration: a file (extension and
/// text), flags and environment variables.
struct Plant {
    what: &'static str,
    file: Option<(&'static str, String)>,
    flags: Vec<String>,
    env: Vec<(&'static str, String)>,
    /// Whether the configuration is valid (the secret then goes unused or
    /// into a header, and only a warning may speak of it).
    valid: bool,
}

fn plant(what: &'static str) -> Plant {
    Plant {
        what,
        file: None,
        flags: Vec::new(),
        env: Vec::new(),
        valid: false,
    }
}

impl Plant {
    fn yaml(mut self, text: &str) -> Self {
        self.file = Some(("yml", text.replace("SECRET", SECRET)));
        self
    }
    fn toml(mut self, text: &str) -> Self {
        self.file = Some(("toml", text.replace("SECRET", SECRET)));
        self
    }
    fn flag(mut self, flag: &str) -> Self {
        self.flags.push(flag.replace("SECRET", SECRET));
        self
    }
    fn env(mut self, var: &'static str, value: &str) -> Self {
        self.env.push((var, value.replace("SECRET", SECRET)));
        self
    }
    fn valid(mut self) -> Self {
        self.valid = true;
        self
    }
}

fn plants() -> Vec<Plant> {
    let http_headers = "tracing:\n  otlp:\n    http:\n      headers:\n";
    vec![
        plant("TOML syntax error, unterminated string")
            .toml("[tracing.otlp.http.headers]\nAuthorization = \"Bearer SECRET\n"),
        plant("TOML syntax error, bare value")
            .toml("[tracing.otlp.http.headers]\nAuthorization = Bearer SECRET\n"),
        plant("TOML syntax error after the value")
            .toml("[tracing.otlp.http.headers]\nAuthorization = \"Bearer SECRET\" x = 1\n"),
        plant("YAML syntax error, unterminated string")
            .yaml(&format!("{http_headers}        Authorization: \"Bearer SECRET\n")),
        plant("YAML syntax error, bad indentation").yaml(&format!(
            "{http_headers}        Authorization: Bearer SECRET\n       x: [\n"
        )),
        plant("YAML tagged value of the wrong type")
            .yaml(&format!("{http_headers}        Authorization: !!bool SECRET\n")),
        plant("YAML duplicate key holding a value").yaml(&format!(
            "{http_headers}        \"Authorization: SECRET\": a\n        \"Authorization: SECRET\": b\n"
        )),
        plant("YAML tagged value under a key holding a value").yaml(&format!(
            "{http_headers}        \"Authorization: Bearer SECRET\": !!int SECRET\n"
        )),
        plant("YAML key that is not a string")
            .yaml(&format!("{http_headers}        [Authorization, SECRET]: a\n")),
        plant("headers as one string in YAML").yaml(
            "tracing:\n  otlp:\n    http:\n      headers: \"Authorization: Bearer SECRET\"\n",
        ),
        plant("headers as one string in TOML")
            .toml("[tracing.otlp.grpc]\nheaders = \"Authorization: Bearer SECRET\"\n"),
        plant("headers as one string in a flag")
            .flag("--tracing.otlp.http.headers=Authorization: Bearer SECRET"),
        plant("headers as one string in a gRPC flag")
            .flag("--tracing.otlp.grpc.headers=Authorization=SECRET"),
        plant("a value written into a header name in YAML")
            .yaml(&format!("{http_headers}        \"Authorization: Bearer SECRET\": \"\"\n")),
        plant("a value written into a header name in a flag")
            .flag("--tracing.otlp.http.headers.Authorization: Bearer SECRET"),
        plant("a value written into a header name after =")
            .flag("--tracing.otlp.http.headers.Authorization Bearer=SECRET"),
        plant("malformed flag, bad list index")
            .flag("--tracing.otlp.http.headers.X[=SECRET"),
        plant("malformed flag, one dash")
            .flag("-tracing.otlp.http.headers.Authorization=SECRET"),
        plant("malformed flag, empty name").flag("--tracing..headers=SECRET"),
        plant("malformed flag, stray bracket")
            .flag("--tracing.otlp.http.headers.X]=SECRET"),
        plant("a header value with a line break")
            .flag("--tracing.otlp.http.headers.Authorization=Bearer SECRET\r\nX: 1"),
        plant("a header value that is not a string in YAML")
            .yaml(&format!("{http_headers}        Authorization: [Bearer, SECRET]\n")),
        plant("OTEL_EXPORTER_OTLP_HEADERS item without =")
            .flag("--tracing")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "Authorization:Bearer SECRET"),
        plant("OTEL_EXPORTER_OTLP_TRACES_HEADERS item without =")
            .flag("--tracing")
            .env("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x=1,SECRET"),
        plant("OTEL headers, bad percent-escape")
            .flag("--tracing")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20SECRET%zz"),
        plant("OTEL headers, percent-encoding that is not UTF-8")
            .flag("--tracing")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=SECRET%ff"),
        plant("OTEL headers, a line break in a value")
            .flag("--tracing")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=SECRET%0D%0AX: 1"),
        plant("OTEL headers, a bad key")
            .flag("--tracing")
            .env("OTEL_EXPORTER_OTLP_HEADERS", "Authorization SECRET=1"),
        plant("bad endpoint with userinfo in a flag")
            .flag("--tracing.otlp.http.endpoint=http://user:SECRET@collector:99999/v1/traces"),
        plant("bad endpoint with userinfo in YAML").yaml(
            "tracing:\n  otlp:\n    grpc:\n      endpoint: user:SECRET@collector\n",
        ),
        plant("bad endpoint with userinfo and a slash in the password")
            .flag("--tracing.otlp.http.endpoint=http://user:SEC/RET@/v1/traces"),
        plant("bad endpoint scheme with userinfo")
            .flag("--tracing.otlp.grpc.endpoint=ftp://user:SECRET@collector:4317"),
        plant("bad endpoint with userinfo in the environment")
            .flag("--tracing")
            .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://user:SECRET@:4318"),
        plant("valid endpoint with userinfo in a flag")
            .flag("--tracing.otlp.http.endpoint=http://user:SECRET@collector:4318/v1/traces")
            .valid(),
        plant("valid gRPC endpoint with userinfo in TOML")
            .toml("[tracing.otlp.grpc]\nendpoint = \"https://user:SECRET@collector:4317\"\n")
            .valid(),
        plant("valid endpoint with userinfo in the environment")
            .flag("--tracing")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://user:SECRET@collector:4318")
            .valid(),
        plant("a valid header, shown redacted")
            .flag("--tracing.otlp.http.headers.Authorization=Bearer SECRET")
            .valid(),
    ]
}

/// Whether `text` holds the planted secret or a telling piece of it.
fn leaks(text: &str) -> bool {
    text.contains("s3cr3t") || text.contains("SEC/RET") || text.contains("planted")
}

#[test]
fn no_error_path_shows_a_header_value_or_a_password() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let mut leaked = Vec::new();
    for (i, p) in plants().into_iter().enumerate() {
        let env = p.env.clone();
        let env = move |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        // The library: the error's Display and Debug, or the configuration.
        let result = match &p.file {
            Some((ext, text)) => {
                let format = if *ext == "toml" {
                    Format::Toml
                } else {
                    Format::Yaml
                };
                load_str(text, format, &p.flags, &env)
            }
            None => load(None, &p.flags, &env),
        };
        let shown = match &result {
            Ok(c) if p.valid => format!("{}{c:?}", c.to_redacted_yaml()),
            Err(e) if !p.valid => format!("{e}\n{e:?}"),
            other => panic!("{}: unexpected {other:?}", p.what),
        };
        if leaks(&shown) {
            leaked.push(format!("library, {}:\n{shown}", p.what));
        }

        // The command, as a user runs it.
        let mut cmd = tracewire();
        cmd.args(["config", "check"]);
        if let Some((ext, text)) = &p.file {
            let path = dir.path().join(format!("plant{i}.{ext}"));
            std::fs::write(&path, text).unwrap();
            cmd.arg("--config").arg(path);
        }
        cmd.args(&p.flags);
        for (k, v) in &p.env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let text = all_output(&out);
        // 1 for a configuration error, 2 for a usage error (`-tracing`).
        let code = out.status.code();
        assert!(
            if p.valid {
                code == Some(0)
            } else {
                matches!(code, Some(1 | 2))
            },
            "{}: {code:?} {text}",
            p.what
        );
        if leaks(&text) {
            leaked.push(format!("config check, {}:\n{text}", p.what));
        }
        if p.what.contains("valid endpoint with userinfo") {
            assert!(
                text.contains("is ignored") && text.contains("Authorization"),
                "{}: warns, and says how to send credentials: {text}",
                p.what
            );
        }
    }
    let logged = LOGGED.lock().map(|l| l.clone()).unwrap_or_default();
    assert!(
        logged.contains("user:password in the endpoint (not shown) is ignored"),
        "the library warns: {logged}"
    );
    if leaks(&logged) {
        leaked.push(format!("library log:\n{logged}"));
    }
    assert!(
        leaked.is_empty(),
        "secrets shown:\n{}",
        leaked.join("\n---\n")
    );
}

/// Command lines clap sees (the secret never reaches the configuration
/// loader): a mistyped tracing flag, a value after a space, a tracing
/// flag given to a command that takes none.
#[test]
fn usage_errors_do_not_show_flag_values() {
    for args in [
        vec![
            "config",
            "check",
            "--tracng.otlp.http.headers.Authorization=SECRET",
        ],
        vec![
            "config",
            "check",
            "--tracing.otlp.http.headers.Authorization",
            "Bearer SECRET",
        ],
        vec![
            "config",
            "check",
            "--tracing.otlp.http.headers.Authorization",
            "SECRET",
        ],
        vec![
            "receive",
            "--tracing.otlp.http.headers.Authorization=SECRET",
        ],
        vec!["demo", "--TRACING.otlp.grpc.headers.Authorization=SECRET"],
        vec![
            "load",
            "--spans",
            "1",
            "--tracing-otlp-http-headers-Authorization=SECRET",
        ],
    ] {
        let args: Vec<String> = args.iter().map(|a| a.replace("SECRET", SECRET)).collect();
        let out = tracewire().args(&args).output().unwrap();
        let text = all_output(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(!leaks(&text), "{args:?} shows the secret:\n{text}");
    }
    let out = tracewire()
        .args([
            "config",
            "check",
            "--tracing.otlp.http.headers.Authorization",
            "Bearer x",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "takes its value after =, as in --tracing.otlp.http.headers.Authorization=<value>"
        ),
        "{err}"
    );
}

// --- Names with control characters cannot forge a log line ----------------

#[test]
fn names_with_control_characters_are_escaped_everywhere() {
    let evil = [
        "X-A\r\nerror: forged",
        "X-A\u{1b}[2Jforged",
        "X-A\u{202e}forged",
        "X-A\0forged",
    ];
    for name in evil {
        let yaml_name = name.escape_default().to_string();
        let plants = [
            plant("YAML header name").yaml(&format!(
                "tracing:\n  otlp:\n    http:\n      headers:\n        \"{yaml_name}\": v\n"
            )),
            plant("TOML header name").toml(&format!(
                "[tracing.otlp.http.headers]\n\"{}\" = \"v\"\n",
                name.escape_unicode()
            )),
            plant("flag header name").flag(&format!("--tracing.otlp.grpc.headers.{name}=v")),
            plant("OTEL header name").flag("--tracing").env(
                "OTEL_EXPORTER_OTLP_HEADERS",
                &format!("{}=v", name.replace('\r', "%0D").replace('\n', "%0A")),
            ),
            plant("unknown option").yaml(&format!("tracing:\n  \"{yaml_name}\": 1\n")),
            plant("near miss of tracing").yaml(&format!(
                "\"tracin{}g\": 1\n",
                name[3..].chars().next().unwrap_or('x').escape_default()
            )),
            plant("flag option name").flag(&format!("--tracing.{name}=1")),
            plant("resource attribute key").yaml(&format!(
                "tracing:\n  resourceAttributes:\n    \"{yaml_name}\": [1]\n"
            )),
        ];
        let dir = tempfile::tempdir().unwrap();
        for p in plants {
            let env = p.env.clone();
            let env = move |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
            let errs = match &p.file {
                Some((ext, text)) => {
                    let format = if *ext == "toml" {
                        Format::Toml
                    } else {
                        Format::Yaml
                    };
                    load_str(text, format, &p.flags, &env)
                }
                None => load(None, &p.flags, &env),
            };
            let errs = match errs {
                Ok(c) => panic!("{} {name:?}: {c:?}", p.what),
                Err(e) => e,
            };
            for e in &errs.0 {
                let m = e.to_string();
                assert!(
                    !m.contains(['\r', '\n', '\u{1b}', '\u{202e}', '\0']),
                    "{} {name:?}: raw control character in {m:?}",
                    p.what
                );
            }

            let args_env = p.flags.iter().chain(p.env.iter().map(|(_, v)| v));
            if args_env.into_iter().any(|a| a.contains('\0')) {
                continue; // no NUL in a command line or an environment
            }
            let mut cmd = tracewire();
            cmd.args(["config", "check"]);
            if let Some((ext, text)) = &p.file {
                let path = dir.path().join(format!("evil.{ext}"));
                std::fs::write(&path, text).unwrap();
                cmd.arg("--config").arg(path);
            }
            cmd.args(&p.flags);
            for (k, v) in &p.env {
                cmd.env(k, v);
            }
            let out = cmd.output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{} {name:?}: {err}", p.what);
            for line in err.lines() {
                assert!(
                    line.starts_with("error: ") || line.ends_with("error(s) in the configuration"),
                    "{} {name:?}: a line not written by tracewire: {line:?}",
                    p.what
                );
                assert!(
                    !line.contains(['\r', '\u{1b}', '\u{202e}', '\0']),
                    "{line:?}"
                );
            }
        }
    }
}
