//! The `tracewire` command's tests, one binary: the command run as a user
//! runs it (`load`, `receive`, `demo`, `config`), against real collectors
//! on 127.0.0.1 port 0, a strict Python receiver and prometheus_client.
//! The library's own tests are in the root package's `tests/`.

#[path = "../../../tests/common/mod.rs"]
mod common;

mod commands;
mod config_hostile;
mod config_secrets;
mod fleet;
mod metrics;
mod peers;
mod receive;
mod shedding;

use std::path::PathBuf;
use std::process::Command;

/// The `tracewire` command, with the test environment's `OTEL_*` removed
/// (they must not leak into the runs).
pub fn tracewire() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracewire"));
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") {
            c.env_remove(k);
        }
    }
    c
}

/// A path in the repository (the library's package, one level up).
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}
