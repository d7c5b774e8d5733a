//! Generates `prost` types from the unedited upstream OTLP `.proto` files in
//! `proto/`, with `protox` (a protobuf compiler written in Rust), so a fresh
//! machine needs no system `protoc`.
//!
//! The generated types are for DECODING only: tests, the embedded receiver
//! and fuzz oracles. tracewire's export path never builds them; it writes the
//! wire format itself (see `src/codec`). They are generated only with the
//! `proto` feature (which `receiver` turns on); without it this script does
//! nothing and its build dependencies are not compiled.

#[cfg(feature = "proto")]
use std::path::PathBuf;

#[cfg(feature = "proto")]
const PROTOS: &[&str] = &[
    "opentelemetry/proto/common/v1/common.proto",
    "opentelemetry/proto/resource/v1/resource.proto",
    "opentelemetry/proto/trace/v1/trace.proto",
    "opentelemetry/proto/collector/trace/v1/trace_service.proto",
];

fn main() {
    #[cfg(feature = "proto")]
    generate();
}

#[cfg(feature = "proto")]
fn generate() {
    let root = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("proto");
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=build.rs");

    let files: Vec<PathBuf> = PROTOS.iter().map(|p| root.join(p)).collect();
    let descriptors = match protox::compile(&files, [&root]) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "error: could not compile the OTLP .proto files in {}: {e:?}",
                root.display()
            );
            std::process::exit(1);
        }
    };

    let mut config = prost_build::Config::new();
    // Decoding-only types: derive nothing beyond what prost needs, plus a
    // comparison that treats NaN doubles as equal bit patterns is done in the
    // tests themselves.
    config.disable_comments(["."]);
    if let Err(e) = config.compile_fds(descriptors) {
        eprintln!("error: prost-build failed on the OTLP descriptors: {e}");
        std::process::exit(1);
    }
}
