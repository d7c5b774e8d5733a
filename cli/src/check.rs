//! `tracewire config check`: print the resolved configuration (header
//! values redacted) or every error.

use std::path::Path;

pub fn run(file: Option<&Path>, flags: &[String]) -> i32 {
    match tracewire::config::load_with_process_env(file, flags) {
        Ok(config) => {
            print!("{}", config.to_redacted_yaml());
            if !config.enabled {
                eprintln!("note: no `tracing` section and no --tracing flag: tracing is disabled");
            }
            0
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("error: {e}");
            }
            eprintln!("{} error(s) in the configuration", errors.0.len());
            1
        }
    }
}
