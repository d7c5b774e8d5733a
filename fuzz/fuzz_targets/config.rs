//! YAML, TOML and flag parsing (and resolution) never panic: errors only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracewire::config::{load, load_str, Format};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    // TLS options name files that are read: keep the fuzzer away from
    // device files that would block (a real deployment names real files).
    let lower = text.to_ascii_lowercase();
    if lower.contains("/dev") || lower.contains("/proc") || lower.contains("/sys") || lower.contains("fifo") {
        return;
    }
    let no_env = |_: &str| None;
    match selector % 4 {
        0 => {
            let _ = load_str(text, Format::Yaml, &[] as &[&str], no_env);
        }
        1 => {
            let _ = load_str(text, Format::Toml, &[] as &[&str], no_env);
        }
        2 => {
            let flags: Vec<&str> = text.split('\n').collect();
            let _ = load(None, &flags, no_env);
        }
        _ => {
            // The environment, as `KEY=VALUE` lines.
            let vars: Vec<(String, String)> = text
                .lines()
                .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect();
            let _ = load(None, &["--tracing"], move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
        }
    }
});
