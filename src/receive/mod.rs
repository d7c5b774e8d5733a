//! An embedded OTLP receiver: OTLP/HTTP (binary protobuf, optional gzip)
//! and OTLP/gRPC (optional gzip), decoded with the build.rs prost types,
//! over plaintext or TLS. It backs `tracewire receive` and `tracewire demo`,
//! and lets tests and local debugging see exactly what an exporter sends.
//!
//! Hostile input gets an answer, never a crash: requests larger than
//! [`Limits::max_request_bytes`], gzip bodies that inflate past
//! [`Limits::max_decompressed_bytes`], requests with more than
//! [`Limits::max_spans`] spans or that would take more than
//! [`Limits::max_decoded_bytes`] once decoded (both checked by a pre-pass
//! before anything is built), and malformed protobuf are answered with
//! HTTP 400 (a `google.rpc.Status` body) or gRPC `INVALID_ARGUMENT`, and
//! logged.
//!
//! The decode path is sans-IO ([`decode_http_body`], [`decode_grpc_body`],
//! in `decode`, with the pre-pass in `scan`) and fuzzed on its own (`fuzz/`
//! target `receive`); the listeners are in `server`.

mod decode;
mod scan;
mod server;

pub use decode::{decode_grpc_body, decode_http_body, grpc_announced_len, Limits, ReceiveError};
pub use server::{Received, Receiver, ReceiverConfig, ReceiverStats, Via};
