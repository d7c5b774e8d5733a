//! The library's integration tests, in one binary (one link of tokio,
//! rustls, tonic and the SDK instead of one per file). Each module is one
//! subject; its own docs say what it proves and against which real peers.
//!
//! Three subjects have binaries of their own, because they need the whole
//! process: `tests/alloc.rs` installs a counting global allocator (other
//! tests' allocations would be counted), `tests/faults.rs` counts the
//! context switches and wake-ups of tracewire's threads (other tests' load
//! would move them), and `tests/tracing.rs` installs the process-wide
//! `tracing` subscriber.

#[path = "../common/mod.rs"]
mod common;

mod config;
mod encode;
mod fleet;
mod golden;
mod in_place;
mod layout;
mod metrics;
mod opentelemetry;
mod propagation;
mod record;
mod shedding;
mod tls;
mod tower;
mod transport;
