//! # tracewire
//!
//! A low-latency OpenTelemetry trace exporter for proxies: spans are encoded
//! as they are recorded, appended to the recording thread's own span log
//! (one writer, one reader, no lock), drained in bulk by a batching worker,
//! and sent over OTLP/HTTP
//! (HTTP/1.1) or OTLP/gRPC (HTTP/2) to any OpenTelemetry Collector or OTLP
//! backend. Configuration is Traefik's `tracing` section plus the standard
//! `OTEL_*` environment.
//!
//! ```
//! use std::time::Duration;
//! use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
//! use tracewire::{Pipeline, SpanKind};
//!
//! /// Accepts every batch and keeps nothing (a real pipeline uses
//! /// `Pipeline::from_config`, which builds the OTLP transport).
//! struct Discard;
//! impl Exporter for Discard {
//!     fn export(&self, r: ExportRequest) -> BoxFuture<'_, ExportReport> {
//!         Box::pin(async move { ExportReport::success(r.message().len() as u64, Some(r.buffer)) })
//!     }
//! }
//!
//! let pipeline = Pipeline::builder().exporter(Discard).start().unwrap();
//! let tracer = pipeline.tracer("my-proxy");
//! let mut span = tracer.start("GET /", SpanKind::Server);
//! span.set_i64("http.response.status_code", 200);
//! span.end();
//! let stats = pipeline.shutdown(Duration::from_secs(5)).unwrap();
//! assert_eq!(stats.exported, 1);
//! ```
//!
//! # The house
//!
//! The data flows one way, down this list and out to the network; nothing
//! flows back up but log chunks returning to their pool and counters. Each module imports only modules listed above it (the test
//! `tests/layout.rs` holds the code to that, and to files of at most 700
//! lines).
//!
//! ```text
//! model        ids, SpanContext, kinds, status, values, SpanData     (plain data)
//! sync, clock, endpoint, priority
//!              the lock helper; span timestamps; collector addresses;
//!              the scheduling priority of tracewire's own threads
//! rand         the per-thread id generator
//! propagation, sampling, proto, route
//!              W3C traceparent / tracestate; head samplers; prost types
//!              (decoding only: tests and the receiver); rendezvous
//!              hashing of trace ids over a fleet of collectors
//! codec        wire (varints) · buf (SpanBuf) · otlp (message writers,
//!              trace-id split) · grpc (framing, codes) · response
//!              (decoders) · gzip                                  (sans-IO)
//! shared       what recording threads and the worker share: span logs (chunk,
//!              log), the large-span lane, the wake-up, pools, stats
//! record       Tracer, Span, per-thread state                  (the proxy's threads)
//! export       the Exporter trait: an encoded request in, a report out
//! retry, metrics
//!              one Attempt outcome type; backoff; the retry loop;
//!              Stats and endpoint stats as Prometheus text
//! batch, tls   the export worker (logs -> request buffers -> exporter);
//!              rustls client and server configs, PEM loading, MaybeTls
//! transport    ExporterConfig; conn · otlp_http · otlp_grpc · outcome ·
//!              fleet (several collectors: routing, failover, DNS)
//! config       Traefik's tracing section + OTEL_* -> Config
//! receive      the embedded OTLP receiver (feature `receiver`); never
//!              imports transport
//! pipeline     the composition root: Pipeline, PipelineBuilder
//! tower, tracing, opentelemetry
//!              integrations, each behind its cargo feature: tower
//!              middleware (`tower`); a `tracing` layer (`tracing`); an
//!              OpenTelemetry SDK SpanExporter (`opentelemetry`)
//! ```
//!
//! The public API is what a proxy ([`Pipeline`], [`Tracer`], [`Span`],
//! [`propagation`], [`model`]), an operator ([`config`], [`transport`],
//! [`route`]),
//! a custom exporter ([`export`]) or a debugging receiver ([`receive`],
//! [`proto`]) needs. What benchmarks, fuzz targets and tests reach beyond
//! that is under [`internal`], which is not part of the stable API.

// `unsafe` is allowed in one module only: `shared::chunk` (see its docs).
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![deny(unreachable_pub)]

mod batch;
mod clock;
mod codec;
pub mod config;
mod endpoint;
pub mod export;
pub mod metrics;
pub mod model;
#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;
mod pipeline;
mod priority;
pub mod propagation;
#[cfg(feature = "proto")]
pub mod proto;
mod rand;
#[cfg(feature = "receiver")]
pub mod receive;
mod record;
mod retry;
pub mod route;
pub mod sampling;
mod shared;
mod sync;
mod tls;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing")]
pub mod tracing;
pub mod transport;

pub use batch::{BatchConfig, FlushError, ShutdownError};
pub use model::{SpanContext, SpanKind, Status, StatusCode};
pub use pipeline::{service_resource, BuildError, Pipeline, PipelineBuilder};
pub use priority::{UnknownPriority, WorkerPriority};
pub use rand::{random_span_id, random_trace_id};
pub use record::{Span, SpanBuilder, Tracer};
pub use shared::shed::ShedState;
pub use shared::stats::{Histogram, Stats, LATENCY_BOUNDS};

/// The README's examples, compiled as doctests when every integration is
/// on (`cargo test --all-features`).
#[cfg(all(
    doctest,
    feature = "tower",
    feature = "tracing",
    feature = "opentelemetry"
))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Internals for tracewire's own benchmarks, fuzz targets and tests: the
/// codec, the pools, the clock, the retry policy and the transports'
/// sans-IO classifiers. Not part of the stable API; anything here may
/// change in any release.
#[doc(hidden)]
pub mod internal {
    /// Span timestamps.
    pub mod clock {
        pub use crate::clock::*;
    }
    /// The codec: wire primitives, span buffers, OTLP writers, gRPC
    /// framing, response decoders, gzip.
    pub mod codec {
        /// Span buffers.
        pub mod buf {
            pub use crate::codec::buf::*;
        }
        /// gRPC framing and status.
        pub mod grpc {
            pub use crate::codec::grpc::*;
        }
        /// gzip both ways.
        pub mod gzip {
            pub use crate::codec::gzip::*;
        }
        /// OTLP message writers.
        pub mod otlp {
            pub use crate::codec::otlp::*;
        }
        /// Response decoders.
        pub mod response {
            pub use crate::codec::response::*;
        }
        /// Protobuf wire primitives.
        pub mod wire {
            pub use crate::codec::wire::*;
        }
    }
    /// The retry policy and the attempt outcome.
    pub mod retry {
        pub use crate::retry::*;
    }
    /// Buffer pools.
    pub mod pool {
        pub use crate::shared::pool::*;
    }
    /// OTLP/HTTP's sans-IO response classifier.
    pub mod otlp_http {
        pub use crate::transport::otlp_http::classify;
    }
    /// OTLP/gRPC's sans-IO status classifier.
    pub mod otlp_grpc {
        pub use crate::transport::otlp_grpc::classify;
    }
    pub use crate::sync::lock;

    /// TLS configuration builders, as the transports and the receiver use
    /// them.
    pub mod tls {
        pub use crate::tls::{client_config, validate, Alpn, Connector};
    }

    /// Spans waiting in the logs and spans in exports in flight, for tests
    /// of the accounting invariant.
    pub fn occupancy(pipeline: &crate::Pipeline) -> (u64, u64) {
        pipeline.occupancy()
    }

    /// Recording threads' logs the pipeline still holds (a thread's log is
    /// freed once the thread has exited and its spans were taken).
    pub fn live_logs(pipeline: &crate::Pipeline) -> usize {
        pipeline.live_logs()
    }

    /// Log chunks allocated now, in all.
    pub fn chunks_allocated(pipeline: &crate::Pipeline) -> usize {
        pipeline.chunks_allocated()
    }
}
