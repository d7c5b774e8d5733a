//! An embedded OTLP receiver: OTLP/HTTP (binary protobuf, optional gzip)
//! and OTLP/gRPC (optional gzip), decoded with the build.rs prost types,
//! over plaintext or TLS. It backs `tracewire receive` and `tracewire demo`,
//! and lets tests and local debugging see exactly what an exporter sends.
//!
//! It is a network server, so hostile input gets an answer, never a crash,
//! and no client can make it hold more than its limits:
//!
//! - one request: [`Limits`] bound the body on the wire, once inflated, its
//!   span count and its decoded size, all checked before the request is
//!   built; over a limit the answer is HTTP 400 / gRPC `RESOURCE_EXHAUSTED`,
//!   malformed input HTTP 400 / gRPC `INVALID_ARGUMENT`, each with a message
//!   naming the limit, its value and the flag that raises it;
//! - connections: [`ConnectionLimits`] bound how long headers and bodies
//!   may take, how long a gRPC connection may idle, how many connections
//!   and calls per connection are served, and the request bytes held in
//!   flight over all of them;
//! - the sink: a sink that cannot store a request (a full disk) has it
//!   answered HTTP 503 / gRPC `UNAVAILABLE`, so the client retries;
//! - the log: warnings about refused requests are rate-limited.
//!
//! The decode path is sans-IO ([`decode_http_body`], [`decode_grpc_body`],
//! in `decode`, with the pre-pass in `scan`) and fuzzed on its own (`fuzz/`
//! target `receive`). `request` takes a request from body to sink; `http`
//! and `grpc` serve the two protocols' connections; `server` binds and
//! accepts; `connection`, `budget` and `throttle` hold the limits.

mod budget;
mod connection;
mod decode;
mod grpc;
mod http;
mod request;
mod scan;
mod server;
mod throttle;

pub use connection::ConnectionLimits;
pub use decode::{decode_grpc_body, decode_http_body, grpc_announced_len, Limits, ReceiveError};
pub use request::{Received, ReceiverStats, SinkError, Via};
pub use server::{Receiver, ReceiverConfig, StartError};
