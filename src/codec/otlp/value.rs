//! `AnyValue` and `KeyValue` writers, and the proto3 scalar helpers every
//! other writer shares (empty strings and zero numbers left out, values cut
//! to the attribute length limit on a UTF-8 boundary).
//!
//! This module must never allocate (beyond the caller's buffer growing).

use bytes::BufMut;

use super::field::{any_value, key, key_value, LIST_VALUES};
use crate::codec::buf::SpanSink;
use crate::codec::wire::{
    self, fixed64_field_len, len_field_len, put_bytes_field, put_fixed64_field, put_len_header,
    put_varint_field, varint_field_len,
};
use crate::model::{AnyValue, KeyValue, ValueRef};

/// The deepest nesting of arrays / key-value lists inside one attribute value
/// that tracewire encodes. A value at depth 0 is a scalar; `[[1]]` has depth 2.
pub const MAX_VALUE_DEPTH: usize = 16;

// ---------------------------------------------------------------------------
// Scalars and proto3 defaults
// ---------------------------------------------------------------------------

#[inline]
pub(super) fn opt_str_len(field: u32, s: &str) -> usize {
    if s.is_empty() {
        0
    } else {
        len_field_len(field, s.len())
    }
}

#[inline]
pub(super) fn put_opt_str<B: BufMut + ?Sized>(buf: &mut B, field: u32, s: &str) {
    if !s.is_empty() {
        put_bytes_field(buf, field, s.as_bytes());
    }
}

#[inline]
pub(super) fn opt_u32_len(field: u32, v: u32) -> usize {
    if v == 0 {
        0
    } else {
        varint_field_len(field, u64::from(v))
    }
}

#[inline]
pub(super) fn put_opt_u32<B: BufMut + ?Sized>(buf: &mut B, field: u32, v: u32) {
    if v != 0 {
        put_varint_field(buf, field, u64::from(v));
    }
}

/// `s` cut to at most `limit` bytes on a UTF-8 character boundary.
#[inline]
pub(crate) fn truncate_str(s: &str, limit: usize) -> &str {
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
pub(super) fn truncate_bytes(b: &[u8], limit: usize) -> &[u8] {
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
pub(crate) fn kv_len<V: EncodeValue + ?Sized>(key: &str, value: &V, limit: usize) -> usize {
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

/// Writes a whole `KeyValue` field numbered `field` into a [`SpanSink`]:
/// the exact size is claimed once and filled in place.
///
/// Hot path (runs per attribute): must not allocate beyond the span's
/// buffer growing.
#[inline]
pub fn put_kv_span<S: SpanSink + ?Sized, V: EncodeValue + ?Sized>(
    buf: &mut S,
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
pub fn put_str_kv<S: SpanSink + ?Sized>(
    buf: &mut S,
    field: u32,
    key: &str,
    value: &str,
    limit: usize,
) {
    let value = truncate_str(value, limit);
    // Both lengths as bytes first: the sums below cannot wrap, so the
    // compiler drops the bounds checks of the splits and copies.
    let (Ok(k), Ok(v)) = (u8::try_from(key.len()), u8::try_from(value.len())) else {
        return put_kv_span(buf, field, key, &ValueRef::Str(value), usize::MAX);
    };
    let (k, v) = (usize::from(k), usize::from(v));
    // key field (2 + k) + value field header (2) + AnyValue.string_value (2 + v)
    let body = 2 + k + 2 + 2 + v;
    if body < 0x80 && field < 16 && k > 0 {
        let out = buf.claim(2 + body);
        let (head, rest) = out.split_at_mut(4);
        // field key, KeyValue length, KeyValue.key, key length
        head.copy_from_slice(&[
            wire::key(field, wire::WireType::LengthDelimited) as u8,
            body as u8,
            key::KEY_VALUE_KEY,
            k as u8,
        ]);
        let (key_bytes, rest) = rest.split_at_mut(k);
        wire::copy_short(key_bytes, key.as_bytes());
        let (value_head, value_bytes) = rest.split_at_mut(4);
        // KeyValue.value, AnyValue length, AnyValue.string_value, length
        value_head.copy_from_slice(&[
            key::KEY_VALUE_VALUE,
            (2 + v) as u8,
            key::ANY_VALUE_STRING,
            v as u8,
        ]);
        wire::copy_short(value_bytes, value.as_bytes());
    } else {
        put_kv_span(buf, field, key, &ValueRef::Str(value), usize::MAX);
    }
}

/// [`put_str_kv`] for an integer value.
///
/// Hot path (runs per attribute): must not allocate beyond the span's
/// buffer growing.
#[inline(always)]
pub fn put_i64_kv<S: SpanSink + ?Sized>(buf: &mut S, field: u32, key: &str, value: i64) {
    let n = wire::varint_len(value as u64);
    let k = key.len();
    // key field (2 + k) + value field header (2) + AnyValue.int_value (1 + n)
    let body = 2 + k + 2 + 1 + n;
    if body < 0x80 && field < 16 && k > 0 {
        let out = buf.claim(2 + body);
        let (head, rest) = out.split_at_mut(4);
        head.copy_from_slice(&[
            wire::key(field, wire::WireType::LengthDelimited) as u8,
            body as u8,
            key::KEY_VALUE_KEY,
            k as u8,
        ]);
        let (key_bytes, rest) = rest.split_at_mut(k);
        wire::copy_short(key_bytes, key.as_bytes());
        // KeyValue.value, AnyValue length, AnyValue.int_value, the varint.
        rest[..3].copy_from_slice(&[key::KEY_VALUE_VALUE, (1 + n) as u8, key::ANY_VALUE_INT]);
        wire::write_varint(&mut rest[3..], value as u64);
    } else {
        put_kv_span(buf, field, key, &ValueRef::I64(value), usize::MAX);
    }
}

/// The length of a whole `KeyValue` field numbered `field`.
#[inline]
pub(crate) fn kv_field_len<V: EncodeValue + ?Sized>(
    field: u32,
    key: &str,
    value: &V,
    limit: usize,
) -> usize {
    len_field_len(field, kv_len(key, value, limit))
}

pub(super) fn key_values_len(field: u32, kvs: &[KeyValue], limit: usize) -> usize {
    kvs.iter()
        .map(|kv| kv_field_len(field, &kv.key, &kv.value, limit))
        .sum()
}

pub(super) fn put_key_values<B: BufMut + ?Sized>(
    buf: &mut B,
    field: u32,
    kvs: &[KeyValue],
    limit: usize,
) {
    for kv in kvs {
        put_kv(buf, field, &kv.key, &kv.value, limit);
    }
}

/// A list of attributes an event or link carries: either borrowed pairs
/// (recording API) or owned [`KeyValue`]s.
pub(crate) trait AttributeList {
    /// The length of the first `n` pairs written as fields numbered `field`.
    fn fields_len(&self, field: u32, n: usize, limit: usize) -> usize;
    /// Writes the first `n` pairs as fields numbered `field`.
    fn put_fields<B: BufMut + ?Sized>(&self, buf: &mut B, field: u32, n: usize, limit: usize);
}

impl AttributeList for [(&str, ValueRef<'_>)] {
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
    fn fields_len(&self, field: u32, n: usize, limit: usize) -> usize {
        key_values_len(field, &self[..n.min(self.len())], limit)
    }
    fn put_fields<B: BufMut + ?Sized>(&self, buf: &mut B, field: u32, n: usize, limit: usize) {
        put_key_values(buf, field, &self[..n.min(self.len())], limit);
    }
}
