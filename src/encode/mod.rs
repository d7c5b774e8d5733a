//! The hand-rolled OTLP protobuf encoder.
//!
//! - [`wire`]: varint, key, fixed-width and length-delimited primitives, each
//!   with an exact `*_len` twin.
//! - [`otlp`]: OTLP message writers, from `AnyValue` up to the
//!   `ExportTraceServiceRequest` envelope.
//!
//! The encoder is sans-IO: it writes into caller-provided buffers and knows
//! nothing of sockets, pools or threads, so it can be tested, benchmarked
//! and fuzzed alone. It never builds prost structs; the prost types from
//! `build.rs` ([`crate::proto`]) only decode, in tests and the receiver.
//!
//! ```
//! use bytes::BytesMut;
//! use tracewire::encode::otlp::{encode_span, put_request, EncodedResource, EncodedScope, ScopeGroup};
//! use tracewire::span::{InstrumentationScope, Resource, SpanData, SpanId, TraceId};
//!
//! let span = SpanData {
//!     trace_id: TraceId::from_bytes([7; 16]),
//!     span_id: SpanId::from_bytes([8; 8]),
//!     name: "GET /health".into(),
//!     ..SpanData::default()
//! };
//! let mut body = Vec::new();
//! encode_span(&mut body, &span);
//!
//! let resource = EncodedResource::new(&Resource::default());
//! let scope = EncodedScope::new(&InstrumentationScope::named("edge"));
//! let mut request = BytesMut::new();
//! put_request(&mut request, &resource, &[ScopeGroup { scope: &scope, spans: &[body] }]);
//! assert!(request.len() > 40);
//! ```

pub mod buf;
pub mod otlp;
pub mod wire;
