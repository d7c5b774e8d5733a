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
//! `tests/it/layout.rs` holds the code to that, and to files of at most 700
//! lines).
//!
//! ```text
//! model        ids, SpanContext, kinds, status, values, SpanData     (plain data)
//! sync, clock, endpoint, priority
//!              the lock helper; span timestamps; collector addresses;
//!              the scheduling priority of tracewire's own threads
//! rand         the per-thread id generator
//! propagation, sampling, proto
//!              trace_context (W3C traceparent / tracestate) · baggage ·
//!              b3 · composite (OTEL_PROPAGATORS); head samplers; prost types
//!              (decoding only: tests and the receiver)
//! codec        wire (varints) · buf (SpanBuf) · otlp (message writers)
//!              · grpc (framing, codes) · response (decoders) · gzip ·
//!              zstd (feature `zstd`)                               (sans-IO)
//! fleet, pool, shed, wake
//!              fleet routing, every decision of it (rendezvous hashing of
//!              trace ids, the member of each span, the split of a failed
//!              member's request; sans-IO, behind `fleet::Router`); bounded
//!              buffer pools (and bundles of them); trace-consistent
//!              shedding under overload; when to wake the export worker
//! span_log     the per-thread span logs: the record format, producer and
//!              reader, chunks (one writer, one reader; the one `unsafe`
//!              module) and their bounded pool, the large-span lane
//! stats        the span accounting (the public Stats) and its counters
//! shared       a pipeline's state shared by its threads and its worker,
//!              and the registry that finds a pipeline by id
//! record       Tracer, Span (a small handle), its pooled Recording,
//!              per-thread state                                (the proxy's threads)
//! export       the Exporter trait: an encoded request in, a report out
//! retry, metrics
//!              one Attempt outcome type; backoff; the retry loop;
//!              Stats and endpoint stats as Prometheus text (prometheus:
//!              the format; otel: OpenTelemetry's otel.sdk.* names)
//! batch, tls   the export worker (logs -> request buffers -> exporter);
//!              rustls client and server configs, PEM loading, MaybeTls
//! transport    ExporterConfig; conn · otlp_http · otlp_grpc · outcome ·
//!              fleet (several collectors: the I/O edge of `fleet`: one exporter,
//!              health and failover per member, DNS)
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
//! # API
//!
//! The public surface, kept small; everything else is private.
//!
//! | path | for | what |
//! |---|---|---|
//! | crate root | a proxy | [`Pipeline`], [`PipelineBuilder`], [`Tracer`], [`SpanBuilder`], [`Span`], [`SpanContext`], [`SpanKind`], [`Status`], [`StatusCode`]; [`BatchConfig`], [`WorkerPriority`]; [`Stats`], [`Histogram`], [`ShedState`]; [`BuildError`], [`FlushError`], [`ShutdownError`] |
//! | [`propagation`] | a proxy | W3C `traceparent` / `tracestate`, W3C `baggage`, B3, and the set `OTEL_PROPAGATORS` names ([`propagation::Propagators`]) in and out of headers |
//! | [`model`] | a proxy, a custom exporter | ids, contexts, values, span limits, the span data model |
//! | [`sampling`] | an operator | head samplers and consistent-probability thresholds |
//! | [`config`] | an operator | Traefik's `tracing` section and `OTEL_*` to a [`config::Config`] |
//! | [`transport`] | an operator | the OTLP/HTTP and OTLP/gRPC exporters' options and [`transport::build`] |
//! | [`export`] | a custom exporter | the [`export::Exporter`] trait, its request and report |
//! | [`metrics`] | an operator | the pipeline's statistics as Prometheus text, under tracewire's names and OpenTelemetry's `otel.sdk.*` names |
//! | [`proto`] (feature `proto`) | tests, debugging | prost types of the OTLP messages, for decoding |
//! | [`receive`] (feature `receiver`) | tests, debugging | an embedded OTLP receiver |
//! | `tower`, `tracing`, `opentelemetry` (features of those names) | integrations | tower middleware, a `tracing` layer, an OpenTelemetry SDK `SpanExporter` |
//!
//! Evolving it: the configuration, statistics, report and error types are
//! `#[non_exhaustive]` (build them from `Default` and set fields; match
//! errors with a wildcard arm), so a new option, counter or error is not a
//! breaking change. The default features are none: a proxy that depends on
//! tracewire compiles no receiver, no prost types and no command-line code
//! (the `tracewire` command is the `tracewire-cli` crate). What benchmarks,
//! fuzz targets and tests reach beyond this is named one by one under
//! `tracewire::internal`, hidden from the docs and not part of the stable
//! API.

// `unsafe` is allowed in two modules only: `span_log::chunk` (see its docs)
// and `priority` (two calls into the C library).
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![deny(unreachable_pub)]

mod batch;
mod clock;
mod codec;
pub mod config;
mod endpoint;
pub mod export;
mod fleet;
pub mod metrics;
pub mod model;
#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;
mod pipeline;
mod pool;
mod priority;
pub mod propagation;
#[cfg(feature = "proto")]
pub mod proto;
mod rand;
#[cfg(feature = "receiver")]
pub mod receive;
mod record;
mod retry;
pub mod sampling;
mod shared;
mod shed;
mod span_log;
mod stats;
mod sync;
mod tls;
#[cfg(feature = "tower")]
pub mod tower;
#[cfg(feature = "tracing")]
pub mod tracing;
pub mod transport;
mod wake;

pub use batch::{BatchConfig, FlushError, ShutdownError};
pub use model::{SpanContext, SpanKind, Status, StatusCode};
pub use pipeline::{service_resource, BuildError, Pipeline, PipelineBuilder};
pub use priority::{UnknownPriority, WorkerPriority};
pub use rand::{random_span_id, random_trace_id};
pub use record::{Span, SpanBuilder, Tracer};
pub use shed::ShedState;
pub use stats::{Histogram, Stats, LATENCY_BOUNDS};

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

/// Internals for tracewire's own benchmarks, fuzz targets and tests, each
/// named here (no glob): the codec's writers and decoders, the pools, the
/// clock, routing, and the transports' sans-IO classifiers. Not part of the
/// stable API; anything here may change in any release.
#[doc(hidden)]
pub mod internal {
    /// Span timestamps.
    pub mod clock {
        pub use crate::clock::now_unix_nanos;
    }
    /// The codec: wire primitives, span buffers, OTLP writers, gRPC
    /// framing, response decoders.
    pub mod codec {
        /// Span buffers.
        pub mod buf {
            pub use crate::codec::buf::{SpanBuf, SpanSink};
        }
        /// gRPC framing and status.
        pub mod grpc {
            pub use crate::codec::grpc::{
                code, decode_grpc_message, encode_grpc_message, finish_frame, grpc_timeout,
                read_message, status_from_headers, FrameError,
            };
        }
        /// OTLP message writers.
        pub mod otlp {
            pub use crate::codec::otlp::{
                encode_span, patch_end_time, put_i64_kv, put_kv, put_kv_span, put_request,
                put_request_framed, put_span_end, put_span_start, put_str_kv, request_len,
                request_len_framed, request_overhead, EncodeValue, EncodedResource, EncodedScope,
                FramedGroup, ScopeGroup, SpanEnd, SpanStart, MAX_VALUE_DEPTH,
            };
        }
        /// Response decoders.
        pub mod response {
            pub use crate::codec::response::{
                decode_export_response, decode_retry_info, decode_rpc_status,
                decode_status_details_bin, parse_retry_after, DecodeError, PartialSuccess,
                RpcStatus, RETRY_INFO_TYPE,
            };
        }
        /// gzip both ways.
        pub mod gzip {
            pub use crate::codec::gzip::{compress_into, decompress, InflateError};
        }
        /// zstd request compression (feature `zstd`).
        #[cfg(feature = "zstd")]
        pub mod zstd {
            pub use crate::codec::zstd::{compress_into, CompressError, LEVEL};
        }
        /// Protobuf wire primitives.
        pub mod wire {
            pub use crate::codec::wire::{
                copy_short, each_varint_byte, get_varint, key, put_le_short, put_varint,
                varint_len, write_varint, Cursor, WireType, MAX_VARINT_LEN,
            };
        }
    }
    /// The retry policy and the attempt outcome.
    pub mod retry {
        pub use crate::retry::{Accepted, Attempt, Backoff};
    }
    /// Buffer pools.
    pub mod pool {
        pub use crate::pool::{Bundles, Pool, Returner, BUNDLE};
    }
    /// Fleet routing: rendezvous hashing of trace ids over a fleet's
    /// members, the trace-id readers and the split of a request.
    pub mod fleet {
        pub use crate::fleet::{
            framed_span_trace_id, span_trace_id, split_request, Route, Router, SplitError,
            SplitPart, Standing, FRAMED_HEAD,
        };
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

    /// TLS configuration builders and checks, as the transports and the
    /// receiver use them.
    pub mod tls {
        pub use crate::tls::{client_config, validate, Alpn};
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
