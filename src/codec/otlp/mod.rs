//! OTLP message writers: `AnyValue`, `KeyValue`, `Span` (and its events,
//! links and status), `Resource`, `InstrumentationScope`, and the
//! `ExportTraceServiceRequest` envelope around already-encoded span bodies.
//!
//! # Output form
//!
//! Every writer produces protobuf's canonical form, byte for byte what prost
//! (and the Python `opentelemetry-proto` package) write for the same content:
//! fields in field-number order, proto3 defaults (empty strings and bytes,
//! zero numbers) left out, oneof members written even when zero, and every
//! length prefix the shortest varint. Lengths are computed before bodies are
//! written (each `*_len` function is the exact size of its writer's output),
//! so nothing is written twice and no length is patched.
//!
//! The one deliberate difference from an arbitrary prost round trip is that
//! tracewire always writes `ResourceSpans.resource` and
//! `ScopeSpans.scope` (possibly empty), which prost reads back as
//! `Some(default)`.
//!
//! # Limits
//!
//! Writers taking a `limit` truncate string and bytes values longer than
//! `limit` bytes (strings on a UTF-8 boundary), recursively inside arrays and
//! key-value lists, as OpenTelemetry's attribute value length limit says.
//! Values nested deeper than [`MAX_VALUE_DEPTH`] are not encoded (the
//! recording API drops such an attribute and counts it), because decoders
//! refuse messages nested that deep.
//!
//! This module must never know about sockets or depend on prost. Its
//! recording-path and request writers never allocate beyond the caller's
//! buffer growing; one thing does: `encode_span` for a whole `SpanData`
//! (scratch vectors for its events and links). Reading a trace id back
//! from encoded spans, and splitting a request by trace id, belong to
//! fleet routing (`crate::fleet`), which reads these messages with
//! [`field`]'s numbers.
//!
//! - [`field`]: the field numbers;
//! - `value`: `AnyValue` / `KeyValue` and the scalar helpers;
//! - `span`: the span's pieces, as the recording path writes them;
//! - `request`: the envelope, written by the export worker.

pub(crate) mod field;
mod request;
mod span;
mod value;

pub use request::{
    put_request, put_request_framed, request_len, request_len_framed, request_overhead,
    EncodedResource, EncodedScope, FramedGroup, ScopeGroup,
};
pub use span::{encode_span, patch_end_time, put_span_end, put_span_start, SpanEnd, SpanStart};
pub use value::{put_i64_kv, put_kv, put_kv_span, put_str_kv, EncodeValue, MAX_VALUE_DEPTH};

pub(crate) use span::{
    put_end_time, put_event, put_link, put_name, put_status_and_flags, replace_span_name,
    LinkTarget, SpanStartLayout,
};
