//! The `tracewire` command: `demo`, `load`, `receive` and `config check`.
//!
//! Everything here is presentation and wiring: each subcommand uses the
//! library exactly as an embedding proxy would.

#![forbid(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::run(std::env::args_os().collect()));
}
