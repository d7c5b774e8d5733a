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
//! This module must never allocate (beyond the caller's buffer growing),
//! know about sockets, or depend on prost.

use bytes::BufMut;

use super::buf::SpanBuf;

use super::wire::{
    self, fixed32_field_len, fixed64_field_len, len_field_len, put_bytes_field, put_fixed32_field,
    put_fixed64_field, put_len_header, put_varint_field, varint_field_len,
};
use crate::span::{
    AnyValue, InstrumentationScope, KeyValue, Resource, SpanData, SpanId, SpanKind, Status,
    TraceId, ValueRef,
};

/// The deepest nesting of arrays / key-value lists inside one attribute value
/// that tracewire encodes. A value at depth 0 is a scalar; `[[1]]` has depth 2.
pub const MAX_VALUE_DEPTH: usize = 16;

/// OTLP field numbers, one module per message, named as in the `.proto`.
#[allow(missing_docs)]
pub mod field {
    pub mod any_value {
        pub const STRING: u32 = 1;
        pub const BOOL: u32 = 2;
        pub const INT: u32 = 3;
        pub const DOUBLE: u32 = 4;
        pub const ARRAY: u32 = 5;
        pub const KVLIST: u32 = 6;
        pub const BYTES: u32 = 7;
    }
    /// `ArrayValue.values` and `KeyValueList.values`.
    pub const LIST_VALUES: u32 = 1;
    pub mod key_value {
        pub const KEY: u32 = 1;
        pub const VALUE: u32 = 2;
    }
    pub mod resource {
        pub const ATTRIBUTES: u32 = 1;
        pub const DROPPED_ATTRIBUTES_COUNT: u32 = 2;
    }
    pub mod scope {
        pub const NAME: u32 = 1;
        pub const VERSION: u32 = 2;
        pub const ATTRIBUTES: u32 = 3;
        pub const DROPPED_ATTRIBUTES_COUNT: u32 = 4;
    }
    pub mod request {
        pub const RESOURCE_SPANS: u32 = 1;
    }
    pub mod resource_spans {
        pub const RESOURCE: u32 = 1;
        pub const SCOPE_SPANS: u32 = 2;
        pub const SCHEMA_URL: u32 = 3;
    }
    pub mod scope_spans {
        pub const SCOPE: u32 = 1;
        pub const SPANS: u32 = 2;
        pub const SCHEMA_URL: u32 = 3;
    }
    pub mod span {
        pub const TRACE_ID: u32 = 1;
        pub const SPAN_ID: u32 = 2;
        pub const TRACE_STATE: u32 = 3;
        pub const PARENT_SPAN_ID: u32 = 4;
        pub const NAME: u32 = 5;
        pub const KIND: u32 = 6;
        pub const START_TIME: u32 = 7;
        pub const END_TIME: u32 = 8;
        pub const ATTRIBUTES: u32 = 9;
        pub const DROPPED_ATTRIBUTES_COUNT: u32 = 10;
        pub const EVENTS: u32 = 11;
        pub const DROPPED_EVENTS_COUNT: u32 = 12;
        pub const LINKS: u32 = 13;
        pub const DROPPED_LINKS_COUNT: u32 = 14;
        pub const STATUS: u32 = 15;
        pub const FLAGS: u32 = 16;
    }
    pub mod event {
        pub const TIME: u32 = 1;
        pub const NAME: u32 = 2;
        pub const ATTRIBUTES: u32 = 3;
        pub const DROPPED_ATTRIBUTES_COUNT: u32 = 4;
    }
    pub mod link {
        pub const TRACE_ID: u32 = 1;
        pub const SPAN_ID: u32 = 2;
        pub const TRACE_STATE: u32 = 3;
        pub const ATTRIBUTES: u32 = 4;
        pub const DROPPED_ATTRIBUTES_COUNT: u32 = 5;
        pub const FLAGS: u32 = 6;
    }
    pub mod status {
        pub const MESSAGE: u32 = 2;
        pub const CODE: u32 = 3;
    }
}

use field::*;

// ---------------------------------------------------------------------------
// Scalars and proto3 defaults
// ---------------------------------------------------------------------------

#[inline]
fn opt_str_len(field: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        len_field_len(field, s.len())
    }
}

#[inline]
fn put_opt_str<B: BufMut + ?Sized>(buf: &mut B, field: u32, s: &str) {
    if !s.is_empty() {
        put_bytes_field(buf, field, s.as_bytes());
    }
}

#[inline]
fn opt_u32_len(field: u32, v: u32) -> usize {
    if v == 0 {
        0
    } else {
        varint_field_len(field, u64::from(v))
    }
}

#[inline]
fn put_opt_u32<B: BufMut + ?Sized>(buf: &mut B, field: u32, v: u32) {
    if v != 0 {
        put_varint_field(buf, field, u64::from(v));
    }
}

/// `s` cut to at most `limit` bytes on a UTF-8 character boundary.
#[inline]
pub fn truncate_str(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[inline]
fn truncate_bytes(b: &[u8], limit: usize) -> &[u8] {
    &b[..b.len().min(limit)]
}

// ---------------------------------------------------------------------------
// AnyValue
// ---------------------------------------------------------------------------

/// A value that can be written as an OTLP `AnyValue` message body.
///
/// Implemented for the borrowed [`ValueRef`] the recording API takes and the
/// owned [`AnyValue`].
pub trait EncodeValue {
    /// The exact length of the `AnyValue` body [`EncodeValue::put_value`] writes.
    fn value_len(&self, limit: usize) -> usize;
    /// Writes the `AnyValue` body (the oneof member).
    fn put_value<B: BufMut + ?Sized>(&self, buf: &mut B, limit: usize);
    /// Whether arrays / lists nest more than `max` levels deep. Stops
    /// descending at `max`, so it is safe on any input.
    fn deeper_than(&self, max: usize) -> bool;
}

#[inline]
fn str_value_len(s: &str, limit: usize) -> usize {
    len_field_len(any_value::STRING, truncate_str(s, limit).len())
}

#[inline]
fn put_str_value<B: BufMut + ?Sized>(buf: &mut B, s: &str, limit: usize) {
    put_bytes_field(buf, any_value::STRING, truncate_str(s, limit).as_bytes());
}

const BOOL_VALUE_LEN: usize = 2;
const DOUBLE_VALUE_LEN: usize = fixed64_field_len(any_value::DOUBLE);

#[inline]
fn int_value_len(v: i64) -> usize {
    varint_field_len(any_value::INT, v as u64)
}

/// The length of an `AnyValue` body holding an array whose elements have the
/// given `AnyValue` body lengths.
#[inline]
fn array_len_from(elems: impl Iterator<Item = usize>) -> usize {
    let inner: usize = elems.map(|l| len_field_len(LIST_VALUES, l)).sum();
    len_field_len(any_value::ARRAY, inner)
}

/// Writes an array `AnyValue` body whose elements are written by `put_elem`.
#[inline]
fn put_array<B, T, L, P>(buf: &mut B, items: &[T], len_of: L, mut put_elem: P)
where
    B: BufMut + ?Sized,
    L: Fn(&T) -> usize,
    P: FnMut(&mut B, &T),
{
    let inner: usize = items
        .iter()
        .map(|t| len_field_len(LIST_VALUES, len_of(t)))
        .sum();
    put_len_header(buf, any_value::ARRAY, inner);
    for item in items {
        put_len_header(buf, LIST_VALUES, len_of(item));
        put_elem(buf, item);
    }
}

impl EncodeValue for ValueRef<'_> {
    fn value_len(&self, limit: usize) -> usize {
        match *self {
            ValueRef::Str(s) => str_value_len(s, limit),
            ValueRef::Bool(_) => BOOL_VALUE_LEN,
            ValueRef::I64(v) => int_value_len(v),
            ValueRef::F64(_) => DOUBLE_VALUE_LEN,
            ValueRef::Bytes(b) => len_field_len(any_value::BYTES, truncate_bytes(b, limit).len()),
            ValueRef::StrArray(a) => array_len_from(a.iter().map(|s| str_value_len(s, limit))),
            ValueRef::I64Array(a) => array_len_from(a.iter().map(|v| int_value_len(*v))),
            ValueRef::F64Array(a) => array_len_from(a.iter().map(|_| DOUBLE_VALUE_LEN)),
            ValueRef::BoolArray(a) => array_len_from(a.iter().map(|_| BOOL_VALUE_LEN)),
            ValueRef::Array(a) => array_len_from(a.iter().map(|v| v.value_len(limit))),
            ValueRef::KvList(kvs) => {
                let inner: usize = kvs
                    .iter()
                    .map(|(k, v)| len_field_len(LIST_VALUES, kv_len(k, v, limit)))
                    .sum();
                len_field_len(any_value::KVLIST, inner)
            }
            ValueRef::Any(v) => v.value_len(limit),
        }
    }

    fn put_value<B: BufMut + ?Sized>(&self, buf: &mut B, limit: usize) {
        match *self {
            ValueRef::Str(s) => put_str_value(buf, s, limit),
            ValueRef::Bool(v) => put_varint_field(buf, any_value::BOOL, u64::from(v)),
            ValueRef::I64(v) => put_varint_field(buf, any_value::INT, v as u64),
            ValueRef::F64(v) => put_fixed64_field(buf, any_value::DOUBLE, v.to_bits()),
            ValueRef::Bytes(b) => put_bytes_field(buf, any_value::BYTES, truncate_bytes(b, limit)),
            ValueRef::StrArray(a) => put_array(
                buf,
                a,
                |s| str_value_len(s, limit),
                |buf, s| put_str_value(buf, s, limit),
            ),
            ValueRef::I64Array(a) => put_array(
                buf,
                a,
                |v| int_value_len(*v),
                |buf, v| put_varint_field(buf, any_value::INT, *v as u64),
            ),
            ValueRef::F64Array(a) => put_array(
                buf,
                a,
                |_| DOUBLE_VALUE_LEN,
                |buf, v| put_fixed64_field(buf, any_value::DOUBLE, v.to_bits()),
            ),
            ValueRef::BoolArray(a) => put_array(
                buf,
                a,
                |_| BOOL_VALUE_LEN,
                |buf, v| put_varint_field(buf, any_value::BOOL, u64::from(*v)),
            ),
            ValueRef::Array(a) => put_array(
                buf,
                a,
                |v| v.value_len(limit),
                |buf, v| v.put_value(buf, limit),
            ),
            ValueRef::KvList(kvs) => {
                let inner: usize = kvs
                    .iter()
                    .map(|(k, v)| len_field_len(LIST_VALUES, kv_len(k, v, limit)))
                    .sum();
                put_len_header(buf, any_value::KVLIST, inner);
                for (k, v) in kvs {
                    put_kv(buf, LIST_VALUES, k, v, limit);
                }
            }
            ValueRef::Any(v) => v.put_value(buf, limit),
        }
    }

    fn deeper_than(&self, max: usize) -> bool {
        match *self {
            ValueRef::Str(_)
            | ValueRef::Bool(_)
            | ValueRef::I64(_)
            | ValueRef::F64(_)
            | ValueRef::Bytes(_) => false,
            ValueRef::StrArray(_)
            | ValueRef::I64Array(_)
            | ValueRef::F64Array(_)
            | ValueRef::BoolArray(_) => max == 0,
            ValueRef::Array(a) => max == 0 || a.iter().any(|v| v.deeper_than(max - 1)),
            ValueRef::KvList(kvs) => max == 0 || kvs.iter().any(|(_, v)| v.deeper_than(max - 1)),
            ValueRef::Any(v) => v.deeper_than(max),
        }
    }
}

impl EncodeValue for AnyValue {
    fn value_len(&self, limit: usize) -> usize {
        match self {
            AnyValue::Empty => 0,
            AnyValue::String(s) => str_value_len(s, limit),
            AnyValue::Bool(_) => BOOL_VALUE_LEN,
            AnyValue::Int(v) => int_value_len(*v),
            AnyValue::Double(_) => DOUBLE_VALUE_LEN,
            AnyValue::Bytes(b) => len_field_len(any_value::BYTES, truncate_bytes(b, limit).len()),
            AnyValue::Array(a) => array_len_from(a.iter().map(|v| v.value_len(limit))),
            AnyValue::KvList(kvs) => {
                len_field_len(any_value::KVLIST, key_values_len(LIST_VALUES, kvs, limit))
            }
        }
    }

    fn put_value<B: BufMut + ?Sized>(&self, buf: &mut B, limit: usize) {
        match self {
            AnyValue::Empty => {}
            AnyValue::String(s) => put_str_value(buf, s, limit),
            AnyValue::Bool(v) => put_varint_field(buf, any_value::BOOL, u64::from(*v)),
            AnyValue::Int(v) => put_varint_field(buf, any_value::INT, *v as u64),
            AnyValue::Double(v) => put_fixed64_field(buf, any_value::DOUBLE, v.to_bits()),
            AnyValue::Bytes(b) => put_bytes_field(buf, any_value::BYTES, truncate_bytes(b, limit)),
            AnyValue::Array(a) => put_array(
                buf,
                a,
                |v| v.value_len(limit),
                |buf, v| v.put_value(buf, limit),
            ),
            AnyValue::KvList(kvs) => {
                put_len_header(
                    buf,
                    any_value::KVLIST,
                    key_values_len(LIST_VALUES, kvs, limit),
                );
                put_key_values(buf, LIST_VALUES, kvs, limit);
            }
        }
    }

    fn deeper_than(&self, max: usize) -> bool {
        match self {
            AnyValue::Array(a) => max == 0 || a.iter().any(|v| v.deeper_than(max - 1)),
            AnyValue::KvList(kvs) => max == 0 || kvs.iter().any(|kv| kv.value.deeper_than(max - 1)),
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------
// KeyValue
// ---------------------------------------------------------------------------

/// The length of a `KeyValue` body: key (left out when empty) and value.
///
/// Hot path (runs per attribute): must not allocate.
#[inline]
pub fn kv_len<V: EncodeValue + ?Sized>(key: &str, value: &V, limit: usize) -> usize {
    opt_str_len(key_value::KEY, key) + len_field_len(key_value::VALUE, value.value_len(limit))
}

/// Writes a whole `KeyValue` field numbered `field` (a span's attributes are
/// field 9, an event's field 3, ...).
///
/// Hot path (runs per attribute): must not allocate beyond `buf` growing.
#[inline]
pub fn put_kv<B: BufMut + ?Sized, V: EncodeValue + ?Sized>(
    buf: &mut B,
    field: u32,
    key: &str,
    value: &V,
    limit: usize,
) {
    let value_len = value.value_len(limit);
    let body = opt_str_len(key_value::KEY, key) + len_field_len(key_value::VALUE, value_len);
    put_len_header(buf, field, body);
    put_opt_str(buf, key_value::KEY, key);
    put_len_header(buf, key_value::VALUE, value_len);
    value.put_value(buf, limit);
}

/// Writes a whole `KeyValue` field numbered `field` into a [`SpanBuf`]:
/// the exact size is claimed once and filled in place.
///
/// Hot path (runs per attribute): must not allocate beyond the span's
/// buffer growing.
#[inline]
pub fn put_kv_span<V: EncodeValue + ?Sized>(
    buf: &mut SpanBuf,
    field: u32,
    key: &str,
    value: &V,
    limit: usize,
) {
    let mut out: &mut [u8] = buf.claim(kv_field_len(field, key, value, limit));
    put_kv(&mut out, field, key, value, limit);
}

/// The tightest writer for the most common attribute: a string value.
/// Writes the whole `KeyValue` field numbered `field`, byte-identical to
/// [`put_kv`] with `ValueRef::Str`.
///
/// When the pair is under 128 bytes (nearly every HTTP attribute) every
/// length is a one-byte varint: the field is two 4-byte headers and two
/// copies into one claimed slice.
///
/// Hot path (runs per attribute): must not allocate beyond the span's
/// buffer growing.
#[inline(always)]
pub fn put_str_kv(buf: &mut SpanBuf, field: u32, key: &str, value: &str, limit: usize) {
    let value = truncate_str(value, limit);
    let (k, v) = (key.len(), value.len());
    // key field (2 + k) + value field header (2) + AnyValue.string_value (2 + v)
    let body = 2 + k + 2 + 2 + v;
    if body < 0x80 && field < 16 && k > 0 {
        let out = buf.claim(2 + body);
        out[0] = wire::key(field, wire::WireType::LengthDelimited) as u8;
        out[1] = body as u8;
        out[2] = 0x0a; // KeyValue.key
        out[3] = k as u8;
        wire::copy_short(&mut out[4..4 + k], key.as_bytes());
        let rest = &mut out[4 + k..];
        rest[0] = 0x12; // KeyValue.value
        rest[1] = (2 + v) as u8;
        rest[2] = 0x0a; // AnyValue.string_value
        rest[3] = v as u8;
        wire::copy_short(&mut rest[4..4 + v], value.as_bytes());
    } else {
        put_kv_span(buf, field, key, &ValueRef::Str(value), usize::MAX);
    }
}

/// [`put_str_kv`] for an integer value.
///
/// Hot path (runs per attribute): must not allocate beyond the span's
/// buffer growing.
#[inline(always)]
pub fn put_i64_kv(buf: &mut SpanBuf, field: u32, key: &str, value: i64) {
    let n = wire::varint_len(value as u64);
    let k = key.len();
    // key field (2 + k) + value field header (2) + AnyValue.int_value (1 + n)
    let body = 2 + k + 2 + 1 + n;
    if body < 0x80 && field < 16 && k > 0 {
        let out = buf.claim(2 + body);
        out[0] = wire::key(field, wire::WireType::LengthDelimited) as u8;
        out[1] = body as u8;
        out[2] = 0x0a;
        out[3] = k as u8;
        wire::copy_short(&mut out[4..4 + k], key.as_bytes());
        let mut rest: &mut [u8] = &mut out[4 + k..];
        rest.put_slice(&[0x12, (1 + n) as u8, 0x18 /* AnyValue.int_value */]);
        wire::put_varint(&mut rest, value as u64);
    } else {
        put_kv_span(buf, field, key, &ValueRef::I64(value), usize::MAX);
    }
}

/// The length of a whole `KeyValue` field numbered `field`.
#[inline]
pub fn kv_field_len<V: EncodeValue + ?Sized>(
    field: u32,
    key: &str,
    value: &V,
    limit: usize,
) -> usize {
    len_field_len(field, kv_len(key, value, limit))
}

fn key_values_len(field: u32, kvs: &[KeyValue], limit: usize) -> usize {
    kvs.iter()
        .map(|kv| kv_field_len(field, &kv.key, &kv.value, limit))
        .sum()
}

fn put_key_values<B: BufMut + ?Sized>(buf: &mut B, field: u32, kvs: &[KeyValue], limit: usize) {
    for kv in kvs {
        put_kv(buf, field, &kv.key, &kv.value, limit);
    }
}

/// A list of attributes an event or link carries: either borrowed pairs
/// (recording API) or owned [`KeyValue`]s.
pub trait AttributeList {
    /// How many pairs.
    fn count(&self) -> usize;
    /// The length of the first `n` pairs written as fields numbered `field`.
    fn fields_len(&self, field: u32, n: usize, limit: usize) -> usize;
    /// Writes the first `n` pairs as fields numbered `field`.
    fn put_fields<B: BufMut + ?Sized>(&self, buf: &mut B, field: u32, n: usize, limit: usize);
}

impl AttributeList for [(&str, ValueRef<'_>)] {
    fn count(&self) -> usize {
        self.len()
    }
    fn fields_len(&self, field: u32, n: usize, limit: usize) -> usize {
        self.iter()
            .take(n)
            .map(|(k, v)| kv_field_len(field, k, v, limit))
            .sum()
    }
    fn put_fields<B: BufMut + ?Sized>(&self, buf: &mut B, field: u32, n: usize, limit: usize) {
        for (k, v) in self.iter().take(n) {
            put_kv(buf, field, k, v, limit);
        }
    }
}

impl AttributeList for [KeyValue] {
    fn count(&self) -> usize {
        self.len()
    }
    fn fields_len(&self, field: u32, n: usize, limit: usize) -> usize {
        key_values_len(field, &self[..n.min(self.len())], limit)
    }
    fn put_fields<B: BufMut + ?Sized>(&self, buf: &mut B, field: u32, n: usize, limit: usize) {
        put_key_values(buf, field, &self[..n.min(self.len())], limit);
    }
}

// ---------------------------------------------------------------------------
// Span pieces
// ---------------------------------------------------------------------------

/// The fields of a span known when it starts, written first (fields 1-7),
/// followed by a reserved `end_time_unix_nano` (field 8) patched by
/// [`patch_end_time`].
pub struct SpanStart<'a> {
    /// Trace id.
    pub trace_id: &'a TraceId,
    /// Span id.
    pub span_id: &'a SpanId,
    /// W3C trace state ("" for none).
    pub trace_state: &'a str,
    /// Parent span id, `None` for a root.
    pub parent_span_id: Option<&'a SpanId>,
    /// Name.
    pub name: &'a str,
    /// Kind.
    pub kind: SpanKind,
    /// Start time (ns since epoch).
    pub start_time_unix_nano: u64,
}

/// Where [`put_span_start`] put the name and end-time fields, so the name can
/// be replaced and the end time patched without re-encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SpanStartLayout {
    /// Byte range of the whole `name` field (key, length and bytes).
    pub name: (u32, u32),
    /// Offset of the 8 little-endian bytes of `end_time_unix_nano`.
    pub end_time_at: u32,
}

/// Writes a span's fields 1-7 and a zero `end_time_unix_nano` (field 8),
/// appending to `buf` (an empty per-span buffer).
///
/// The end time is always reserved, so a span whose end time is 0 differs
/// from prost's form (which leaves a zero field out) until patched; a span
/// ends with a real timestamp, so the finished span is canonical.
///
/// Hot path (runs per span): one claimed slice, filled in place.
#[inline]
pub fn put_span_start(buf: &mut SpanBuf, s: &SpanStart<'_>) -> SpanStartLayout {
    let kind_len = if s.kind != SpanKind::Unspecified {
        2
    } else {
        0
    };
    let start_len = if s.start_time_unix_nano != 0 { 9 } else { 0 };
    let head = 28
        + opt_str_len(span::TRACE_STATE, s.trace_state)
        + if s.parent_span_id.is_some() { 10 } else { 0 };
    let name_len = opt_str_len(span::NAME, s.name);
    let base = buf.len();
    let out = buf.claim(head + name_len + kind_len + start_len + 9);
    let (ids, rest) = out.split_at_mut(28);
    // trace_id and span_id: fixed sizes.
    ids[0] = 0x0a; // field 1, length-delimited
    ids[1] = 16;
    ids[2..18].copy_from_slice(&s.trace_id.to_bytes());
    ids[18] = 0x12; // field 2, length-delimited
    ids[19] = 8;
    ids[20..28].copy_from_slice(&s.span_id.to_bytes());
    let mut w: &mut [u8] = rest;
    put_opt_str(&mut w, span::TRACE_STATE, s.trace_state);
    if let Some(parent) = s.parent_span_id {
        w.put_slice(&[0x22, 8]); // field 4, length-delimited
        w.put_slice(&parent.to_bytes());
    }
    if !s.name.is_empty() {
        put_len_header(&mut w, span::NAME, s.name.len());
        let (dst, rest) = std::mem::take(&mut w).split_at_mut(s.name.len());
        wire::copy_short(dst, s.name.as_bytes());
        w = rest;
    }
    if kind_len != 0 {
        w.put_slice(&[0x30, s.kind as i32 as u8]); // field 6, varint
    }
    if start_len != 0 {
        put_fixed64_field(&mut w, span::START_TIME, s.start_time_unix_nano);
    }
    put_fixed64_field(&mut w, span::END_TIME, 0);
    let name_start = base + head;
    SpanStartLayout {
        name: (name_start as u32, (name_start + name_len) as u32),
        end_time_at: (buf.len() - 8) as u32,
    }
}

/// Writes the end time into the slot [`put_span_start`] reserved.
#[inline]
pub fn patch_end_time(buf: &mut SpanBuf, layout: &SpanStartLayout, end_time_unix_nano: u64) {
    let at = layout.end_time_at as usize;
    if let Some(slot) = buf.as_mut_slice().get_mut(at..at + 8) {
        slot.copy_from_slice(&end_time_unix_nano.to_le_bytes());
    }
}

/// Replaces the `name` field of a started span in place, moving what
/// follows; returns the updated layout.
pub fn replace_span_name(
    buf: &mut SpanBuf,
    layout: &SpanStartLayout,
    name: &str,
) -> SpanStartLayout {
    let mut field = Vec::with_capacity(len_field_len(span::NAME, name.len()));
    put_opt_str(&mut field, span::NAME, name);
    let (start, end) = (layout.name.0 as usize, layout.name.1 as usize);
    buf.splice(start, end, &field);
    let at = layout.end_time_at as usize;
    let end_time_at = if at >= end {
        at + field.len() - (end - start)
    } else {
        at
    };
    SpanStartLayout {
        name: (start as u32, (start + field.len()) as u32),
        end_time_at: end_time_at as u32,
    }
}

/// The exact length of an event field (11) with the first `kept` of
/// `attributes`.
pub fn event_field_len<A: AttributeList + ?Sized>(
    time_unix_nano: u64,
    name: &str,
    attributes: &A,
    kept: usize,
    dropped: u32,
    limit: usize,
) -> usize {
    len_field_len(
        span::EVENTS,
        event_body_len(time_unix_nano, name, attributes, kept, dropped, limit),
    )
}

fn event_body_len<A: AttributeList + ?Sized>(
    time: u64,
    name: &str,
    attributes: &A,
    kept: usize,
    dropped: u32,
    limit: usize,
) -> usize {
    (if time != 0 {
        fixed64_field_len(event::TIME)
    } else {
        0
    }) + opt_str_len(event::NAME, name)
        + attributes.fields_len(event::ATTRIBUTES, kept, limit)
        + opt_u32_len(event::DROPPED_ATTRIBUTES_COUNT, dropped)
}

/// Writes one event as a span's field 11, keeping the first `kept` attributes
/// and recording `dropped` as its dropped-attributes count.
pub fn put_event<B: BufMut + ?Sized, A: AttributeList + ?Sized>(
    buf: &mut B,
    time_unix_nano: u64,
    name: &str,
    attributes: &A,
    kept: usize,
    dropped: u32,
    limit: usize,
) {
    put_len_header(
        buf,
        span::EVENTS,
        event_body_len(time_unix_nano, name, attributes, kept, dropped, limit),
    );
    if time_unix_nano != 0 {
        put_fixed64_field(buf, event::TIME, time_unix_nano);
    }
    put_opt_str(buf, event::NAME, name);
    attributes.put_fields(buf, event::ATTRIBUTES, kept, limit);
    put_opt_u32(buf, event::DROPPED_ATTRIBUTES_COUNT, dropped);
}

/// What a link points at.
pub struct LinkTarget<'a> {
    /// Linked trace.
    pub trace_id: &'a TraceId,
    /// Linked span.
    pub span_id: &'a SpanId,
    /// Linked trace state.
    pub trace_state: &'a str,
    /// Flags (trace flags plus is-remote bits).
    pub flags: u32,
}

fn link_body_len<A: AttributeList + ?Sized>(
    t: &LinkTarget<'_>,
    attributes: &A,
    kept: usize,
    dropped: u32,
    limit: usize,
) -> usize {
    len_field_len(link::TRACE_ID, 16)
        + len_field_len(link::SPAN_ID, 8)
        + opt_str_len(link::TRACE_STATE, t.trace_state)
        + attributes.fields_len(link::ATTRIBUTES, kept, limit)
        + opt_u32_len(link::DROPPED_ATTRIBUTES_COUNT, dropped)
        + if t.flags != 0 {
            fixed32_field_len(link::FLAGS)
        } else {
            0
        }
}

/// Writes one link as a span's field 13.
pub fn put_link<B: BufMut + ?Sized, A: AttributeList + ?Sized>(
    buf: &mut B,
    target: &LinkTarget<'_>,
    attributes: &A,
    kept: usize,
    dropped: u32,
    limit: usize,
) {
    put_len_header(
        buf,
        span::LINKS,
        link_body_len(target, attributes, kept, dropped, limit),
    );
    put_bytes_field(buf, link::TRACE_ID, &target.trace_id.to_bytes());
    put_bytes_field(buf, link::SPAN_ID, &target.span_id.to_bytes());
    put_opt_str(buf, link::TRACE_STATE, target.trace_state);
    attributes.put_fields(buf, link::ATTRIBUTES, kept, limit);
    put_opt_u32(buf, link::DROPPED_ATTRIBUTES_COUNT, dropped);
    if target.flags != 0 {
        put_fixed32_field(buf, link::FLAGS, target.flags);
    }
}

/// The fields of a span written when it ends (10-16), after its attributes.
pub struct SpanEnd<'a> {
    /// Attributes cut by limits.
    pub dropped_attributes_count: u32,
    /// Already encoded event fields (field 11 each), in order.
    pub events: &'a [u8],
    /// Events cut by limits.
    pub dropped_events_count: u32,
    /// Already encoded link fields (field 13 each), in order.
    pub links: &'a [u8],
    /// Links cut by limits.
    pub dropped_links_count: u32,
    /// Status, `None` to leave it out.
    pub status: Option<&'a Status>,
    /// `Span.flags`.
    pub flags: u32,
}

/// Writes a span's `status` (field 15).
#[inline]
fn put_status<B: BufMut + ?Sized>(buf: &mut B, status: &Status) {
    let code = status.code as i32 as u32;
    let body = opt_str_len(status::MESSAGE, &status.message) + opt_u32_len(status::CODE, code);
    put_len_header(buf, span::STATUS, body);
    put_opt_str(buf, status::MESSAGE, &status.message);
    put_opt_u32(buf, status::CODE, code);
}

fn status_len(status: &Status) -> usize {
    let body = opt_str_len(status::MESSAGE, &status.message)
        + opt_u32_len(status::CODE, status.code as i32 as u32);
    len_field_len(span::STATUS, body)
}

/// The exact length of a span's fields 10-16.
#[inline]
pub fn span_end_len(e: &SpanEnd<'_>) -> usize {
    opt_u32_len(span::DROPPED_ATTRIBUTES_COUNT, e.dropped_attributes_count)
        + e.events.len()
        + opt_u32_len(span::DROPPED_EVENTS_COUNT, e.dropped_events_count)
        + e.links.len()
        + opt_u32_len(span::DROPPED_LINKS_COUNT, e.dropped_links_count)
        + e.status.map_or(0, status_len)
        + if e.flags != 0 {
            fixed32_field_len(span::FLAGS)
        } else {
            0
        }
}

/// Appends a span's fields 10-16.
///
/// Hot path (runs per span): one claimed slice, filled in place.
#[inline]
pub fn put_span_end(buf: &mut SpanBuf, e: &SpanEnd<'_>) {
    let mut w: &mut [u8] = buf.claim(span_end_len(e));
    put_opt_u32(
        &mut w,
        span::DROPPED_ATTRIBUTES_COUNT,
        e.dropped_attributes_count,
    );
    if !e.events.is_empty() {
        w.put_slice(e.events);
    }
    put_opt_u32(&mut w, span::DROPPED_EVENTS_COUNT, e.dropped_events_count);
    if !e.links.is_empty() {
        w.put_slice(e.links);
    }
    put_opt_u32(&mut w, span::DROPPED_LINKS_COUNT, e.dropped_links_count);
    if let Some(status) = e.status {
        put_status(&mut w, status);
    }
    if e.flags != 0 {
        put_fixed32_field(&mut w, span::FLAGS, e.flags);
    }
}

/// Encodes a whole [`SpanData`] as a `Span` message body, appended to `buf`.
///
/// No limits are applied: the record is encoded as it is (its `dropped_*`
/// fields are written as given). Values nested deeper than
/// [`MAX_VALUE_DEPTH`] are written anyway; callers that take such records
/// from outside should check [`EncodeValue::deeper_than`] first.
///
/// ```
/// use tracewire::encode::otlp::encode_span;
/// use tracewire::span::{KeyValue, SpanData, SpanId, SpanKind, TraceId};
///
/// let span = SpanData {
///     trace_id: TraceId::from_bytes([1; 16]),
///     span_id: SpanId::from_bytes([2; 8]),
///     name: "GET /".into(),
///     kind: SpanKind::Server,
///     start_time_unix_nano: 1,
///     end_time_unix_nano: 2,
///     attributes: vec![KeyValue::new("http.request.method", "GET")],
///     ..SpanData::default()
/// };
/// let mut body = Vec::new();
/// encode_span(&mut body, &span);
/// assert_eq!(&body[..2], &[0x0a, 16]); // trace_id: field 1, 16 bytes
/// ```
pub fn encode_span(buf: &mut Vec<u8>, span: &SpanData) {
    let mut body = SpanBuf::with_capacity(256);
    encode_span_into(&mut body, span);
    buf.extend_from_slice(body.as_slice());
}

/// [`encode_span`] into a [`SpanBuf`], with the writers the recording path
/// uses.
pub fn encode_span_into(buf: &mut SpanBuf, span: &SpanData) {
    let limit = usize::MAX;
    let layout = put_span_start(
        buf,
        &SpanStart {
            trace_id: &span.trace_id,
            span_id: &span.span_id,
            trace_state: &span.trace_state,
            parent_span_id: span.parent_span_id.as_ref(),
            name: &span.name,
            kind: span.kind,
            start_time_unix_nano: span.start_time_unix_nano,
        },
    );
    if span.end_time_unix_nano == 0 {
        // Canonical form leaves a zero end time out: drop the reserved slot.
        buf.truncate(layout.end_time_at as usize - 1);
    } else {
        patch_end_time(buf, &layout, span.end_time_unix_nano);
    }
    // The recording path's writers, so everything that tests and fuzzes
    // `encode_span` covers them too.
    for kv in &span.attributes {
        match &kv.value {
            AnyValue::String(s) => put_str_kv(buf, span::ATTRIBUTES, &kv.key, s, limit),
            AnyValue::Int(i) => put_i64_kv(buf, span::ATTRIBUTES, &kv.key, *i),
            other => put_kv_span(buf, span::ATTRIBUTES, &kv.key, other, limit),
        }
    }
    let mut events = Vec::new();
    for e in &span.events {
        let attrs = e.attributes.as_slice();
        put_event(
            &mut events,
            e.time_unix_nano,
            &e.name,
            attrs,
            attrs.len(),
            e.dropped_attributes_count,
            limit,
        );
    }
    let mut links = Vec::new();
    for l in &span.links {
        let target = LinkTarget {
            trace_id: &l.trace_id,
            span_id: &l.span_id,
            trace_state: &l.trace_state,
            flags: l.flags,
        };
        let attrs = l.attributes.as_slice();
        put_link(
            &mut links,
            &target,
            attrs,
            attrs.len(),
            l.dropped_attributes_count,
            limit,
        );
    }
    put_span_end(
        buf,
        &SpanEnd {
            dropped_attributes_count: span.dropped_attributes_count,
            events: &events,
            dropped_events_count: span.dropped_events_count,
            links: &links,
            dropped_links_count: span.dropped_links_count,
            status: span.status.as_ref(),
            flags: span.flags,
        },
    );
}

// ---------------------------------------------------------------------------
// Resource, scope, request envelope
// ---------------------------------------------------------------------------

/// A [`Resource`] encoded once, reused for every request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EncodedResource {
    body: Vec<u8>,
    schema_url: String,
}

impl EncodedResource {
    /// Encodes `resource` (no limits applied).
    ///
    /// ```
    /// use tracewire::encode::otlp::EncodedResource;
    /// use tracewire::span::{KeyValue, Resource};
    /// let r = EncodedResource::new(&Resource {
    ///     attributes: vec![KeyValue::new("service.name", "edge")],
    ///     ..Resource::default()
    /// });
    /// assert!(!r.body().is_empty());
    /// ```
    pub fn new(resource: &Resource) -> Self {
        let mut body = Vec::new();
        put_key_values(
            &mut body,
            field::resource::ATTRIBUTES,
            &resource.attributes,
            usize::MAX,
        );
        put_opt_u32(
            &mut body,
            field::resource::DROPPED_ATTRIBUTES_COUNT,
            resource.dropped_attributes_count,
        );
        EncodedResource {
            body,
            schema_url: resource.schema_url.clone(),
        }
    }

    /// The encoded `Resource` message body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// An [`InstrumentationScope`] encoded once, reused for every request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EncodedScope {
    body: Vec<u8>,
    schema_url: String,
}

impl EncodedScope {
    /// Encodes `scope` (no limits applied).
    ///
    /// ```
    /// use tracewire::encode::otlp::EncodedScope;
    /// use tracewire::span::InstrumentationScope;
    /// let s = EncodedScope::new(&InstrumentationScope::named("edge-proxy"));
    /// assert_eq!(s.body()[0], 0x0a); // name: field 1
    /// ```
    pub fn new(scope: &InstrumentationScope) -> Self {
        let mut body = Vec::new();
        put_opt_str(&mut body, field::scope::NAME, &scope.name);
        put_opt_str(&mut body, field::scope::VERSION, &scope.version);
        put_key_values(
            &mut body,
            field::scope::ATTRIBUTES,
            &scope.attributes,
            usize::MAX,
        );
        put_opt_u32(
            &mut body,
            field::scope::DROPPED_ATTRIBUTES_COUNT,
            scope.dropped_attributes_count,
        );
        EncodedScope {
            body,
            schema_url: scope.schema_url.clone(),
        }
    }

    /// The encoded `InstrumentationScope` message body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

/// The spans of one instrumentation scope within a request.
pub struct ScopeGroup<'a, S> {
    /// The scope.
    pub scope: &'a EncodedScope,
    /// Encoded `Span` bodies.
    pub spans: &'a [S],
}

fn scope_spans_len<S: AsRef<[u8]>>(g: &ScopeGroup<'_, S>) -> usize {
    len_field_len(scope_spans::SCOPE, g.scope.body.len())
        + g.spans
            .iter()
            .map(|s| len_field_len(scope_spans::SPANS, s.as_ref().len()))
            .sum::<usize>()
        + opt_str_len(scope_spans::SCHEMA_URL, &g.scope.schema_url)
}

fn resource_spans_len<S: AsRef<[u8]>>(
    resource: &EncodedResource,
    groups: &[ScopeGroup<'_, S>],
) -> usize {
    len_field_len(resource_spans::RESOURCE, resource.body.len())
        + groups
            .iter()
            .filter(|g| !g.spans.is_empty())
            .map(|g| len_field_len(resource_spans::SCOPE_SPANS, scope_spans_len(g)))
            .sum::<usize>()
        + opt_str_len(resource_spans::SCHEMA_URL, &resource.schema_url)
}

/// The exact number of bytes [`put_request`] appends.
pub fn request_len<S: AsRef<[u8]>>(
    resource: &EncodedResource,
    groups: &[ScopeGroup<'_, S>],
) -> usize {
    if groups.iter().all(|g| g.spans.is_empty()) {
        return 0;
    }
    len_field_len(
        request::RESOURCE_SPANS,
        resource_spans_len(resource, groups),
    )
}

/// Appends an `ExportTraceServiceRequest` holding one `ResourceSpans` with a
/// `ScopeSpans` per non-empty group, copying each span body once.
///
/// With no spans at all it appends nothing: the empty request.
///
/// Runs per batch; copies each span body exactly once. Reserve
/// [`request_len`] bytes first to grow `out` at most once.
///
/// ```
/// use bytes::BytesMut;
/// use tracewire::encode::otlp::{put_request, request_len, EncodedResource, EncodedScope, ScopeGroup};
/// use tracewire::span::{InstrumentationScope, Resource};
///
/// let resource = EncodedResource::new(&Resource::default());
/// let scope = EncodedScope::new(&InstrumentationScope::named("demo"));
/// let spans: Vec<Vec<u8>> = vec![vec![0x2a, 0x01, b'x']]; // a span named "x"
/// let groups = [ScopeGroup { scope: &scope, spans: &spans }];
/// let mut out = BytesMut::new();
/// put_request(&mut out, &resource, &groups);
/// assert_eq!(out.len(), request_len(&resource, &groups));
/// ```
pub fn put_request<B: BufMut + ?Sized, S: AsRef<[u8]>>(
    out: &mut B,
    resource: &EncodedResource,
    groups: &[ScopeGroup<'_, S>],
) {
    if groups.iter().all(|g| g.spans.is_empty()) {
        return;
    }
    put_len_header(
        out,
        request::RESOURCE_SPANS,
        resource_spans_len(resource, groups),
    );
    put_bytes_field(out, resource_spans::RESOURCE, &resource.body);
    for g in groups.iter().filter(|g| !g.spans.is_empty()) {
        put_len_header(out, resource_spans::SCOPE_SPANS, scope_spans_len(g));
        put_bytes_field(out, scope_spans::SCOPE, &g.scope.body);
        for s in g.spans {
            put_bytes_field(out, scope_spans::SPANS, s.as_ref());
        }
        put_opt_str(out, scope_spans::SCHEMA_URL, &g.scope.schema_url);
    }
    put_opt_str(out, resource_spans::SCHEMA_URL, &resource.schema_url);
}
