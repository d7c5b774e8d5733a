//! The protocol codec: bytes in, bytes out, shared by the exporter and the
//! receiver.
//!
//! - [`wire`]: varint, key, fixed-width and length-delimited primitives, each
//!   with an exact `*_len` twin.
//! - [`buf`]: [`buf::SpanBuf`], the cursor-written buffer a span is encoded
//!   into.
//! - [`otlp`]: OTLP message writers, from `AnyValue` up to the
//!   `ExportTraceServiceRequest` envelope.
//! - [`grpc`]: gRPC's framing, status codes and headers.
//! - [`response`]: decoders for what collectors answer (partial success,
//!   `google.rpc.Status`, `RetryInfo`, `Retry-After`).
//!
//! The codec is sans-IO: it writes into and reads from caller-provided
//! buffers and knows nothing of sockets, pools or threads, so it can be
//! tested, benchmarked and fuzzed alone. It never builds prost structs; the
//! prost types from `build.rs` ([`crate::proto`]) only decode, in tests and
//! the receiver.
//!
//! ```
//! use bytes::BytesMut;
//! use tracewire::internal::codec::otlp::{encode_span, put_request, EncodedResource, EncodedScope, ScopeGroup};
//! use tracewire::model::{InstrumentationScope, Resource, SpanData, SpanId, TraceId};
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

pub(crate) mod buf;
pub(crate) mod grpc;
pub(crate) mod gzip;
pub(crate) mod otlp;
pub(crate) mod response;
pub(crate) mod wire;
#[cfg(feature = "zstd")]
pub(crate) mod zstd;
