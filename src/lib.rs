//! # tracewire
//!
//! A low-latency OpenTelemetry trace exporter for proxies: spans are
//! recorded straight into pooled, already-encoded buffers, handed through a
//! bounded lock-free ring to a batching worker, and sent over OTLP/HTTP
//! (HTTP/1.1) or OTLP/gRPC (HTTP/2) to any OpenTelemetry Collector or OTLP
//! backend. Configuration is Traefik's `tracing` section plus the standard
//! `OTEL_*` environment.
//!
//! The data flows one way:
//!
//! ```text
//! Tracer::start -> Span (encodes into a pooled buffer) -> ring -> batch worker
//!   -> encode request -> frame (HTTP/1.1 body | gRPC prefix) -> transport -> collector
//! ```
//!
//! Nothing flows back but buffers returning to their pools and counters.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod clock;
pub mod config;
pub mod encode;
pub mod export;
pub mod pipeline;
pub mod pool;
pub mod propagation;
pub mod proto;
#[cfg(feature = "receiver")]
pub mod receive;
pub mod retry;
mod ring;
pub mod sampling;
pub mod span;
pub mod stats;
pub mod tracer;
pub mod transport;

pub use batch::{BatchConfig, FlushError, ShutdownError};
pub use pipeline::{BuildError, Pipeline, PipelineBuilder};
pub use span::{SpanContext, SpanKind, Status};
pub use stats::Stats;
pub use tracer::{Span, SpanBuilder, Tracer};
