//! An embedded OTLP receiver: OTLP/HTTP (binary protobuf, optional gzip)
//! and OTLP/gRPC (optional gzip), decoded with the build.rs prost types,
//! over plaintext or TLS. It backs `tracewire receive` and `tracewire demo`,
//! and lets tests and local debugging see exactly what an exporter sends.
//!
//! Hostile input gets an answer, never a crash: requests larger than
//! [`Limits::max_request_bytes`], gzip bodies that inflate past
//! [`Limits::max_decompressed_bytes`] and malformed protobuf are answered
//! with HTTP 400 (a `google.rpc.Status` body) or gRPC `INVALID_ARGUMENT`,
//! and logged.
//!
//! The decode path is sans-IO ([`decode_http_body`], [`decode_grpc_body`],
//! in `decode`) and fuzzed on its own (`fuzz/` target `receive`); the
//! listeners are in `server`.

mod decode;
mod server;

pub use decode::{decode_grpc_body, decode_http_body, Limits, ReceiveError};
pub use server::{Received, Receiver, ReceiverConfig, ReceiverStats, Via};
