//! A cheap pre-pass over an `ExportTraceServiceRequest`'s protobuf, before
//! prost builds anything: it counts the spans and estimates the memory the
//! decoded request would take, and stops as soon as either passes its
//! limit. It allocates nothing and reads each byte once.
//!
//! Why: protobuf is compact where the decoded structures are not. An empty
//! span is 2 bytes on the wire and a few hundred bytes decoded; an empty
//! attribute, an empty array value or an empty string in a repeated field
//! is 2 bytes that become tens of bytes. A 16 MiB body (or a 64 KiB gzip
//! body that inflates to 64 MiB) could otherwise cost gigabytes.
//!
//! The estimate counts what prost allocates: each message's struct (inline
//! in its parent, or as an element of a `Vec`, whose capacity grows by
//! doubling from 4), and each string or bytes field's length. It follows
//! the OTLP trace schema; unknown fields are skipped, as prost skips them.
//! It is an estimate, not an allocator's count (allocator overhead is not
//! in it), but it grows with the decoded size, never with the wire size.
//!
//! This module must never allocate per field or recurse deeper than prost
//! would decode ([`MAX_DEPTH`]).

use std::mem::size_of;

use crate::codec::wire::{get_varint, MAX_VARINT_LEN};
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;
use crate::proto::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList,
};
use crate::proto::resource::v1::Resource;
use crate::proto::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};

/// Deepest message nesting followed (prost's own recursion limit).
pub(super) const MAX_DEPTH: u32 = 100;

/// What a request would cost once decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Cost {
    /// Spans in the request.
    pub(super) spans: usize,
    /// Estimated bytes of the decoded request in memory.
    pub(super) decoded_bytes: usize,
}

/// Why the pre-pass stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ScanError {
    /// More spans than allowed.
    TooManySpans,
    /// The decoded request would be larger than allowed.
    TooLarge,
    /// Not a well-formed protobuf message of the expected shape.
    Malformed(&'static str),
}

/// The messages of the OTLP trace schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    Request,
    ResourceSpans,
    Resource,
    EntityRef,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    Status,
    KeyValue,
    AnyValue,
    ArrayValue,
    KeyValueList,
}

/// What a field decodes into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    /// A singular message, stored inline in its parent.
    Message(Msg),
    /// A repeated message: a `Vec` of it.
    Repeated(Msg),
    /// A string or bytes field: its length, allocated.
    Bytes,
    /// A repeated string: a `Vec<String>` and each string's length.
    RepeatedString,
    /// A number, enum or bool: stored inline, nothing allocated.
    Scalar,
}

impl Msg {
    /// The decoded struct's size.
    fn size(self) -> usize {
        match self {
            Msg::Request => size_of::<ExportTraceServiceRequest>(),
            Msg::ResourceSpans => size_of::<ResourceSpans>(),
            Msg::Resource => size_of::<Resource>(),
            Msg::EntityRef => size_of::<EntityRef>(),
            Msg::ScopeSpans => size_of::<ScopeSpans>(),
            Msg::Scope => size_of::<InstrumentationScope>(),
            Msg::Span => size_of::<Span>(),
            Msg::Event => size_of::<span::Event>(),
            Msg::Link => size_of::<span::Link>(),
            Msg::Status => size_of::<Status>(),
            Msg::KeyValue => size_of::<KeyValue>(),
            Msg::AnyValue => size_of::<AnyValue>(),
            Msg::ArrayValue => size_of::<ArrayValue>(),
            Msg::KeyValueList => size_of::<KeyValueList>(),
        }
    }

    /// Field `tag` of this message (`None`: unknown, skipped).
    fn field(self, tag: u64) -> Option<Field> {
        use Field::*;
        Some(match (self, tag) {
            (Msg::Request, 1) => Repeated(Msg::ResourceSpans),
            (Msg::ResourceSpans, 1) => Message(Msg::Resource),
            (Msg::ResourceSpans, 2) => Repeated(Msg::ScopeSpans),
            (Msg::ResourceSpans, 3) => Bytes,
            (Msg::Resource, 1) => Repeated(Msg::KeyValue),
            (Msg::Resource, 2) => Scalar,
            (Msg::Resource, 3) => Repeated(Msg::EntityRef),
            (Msg::EntityRef, 1 | 2) => Bytes,
            (Msg::EntityRef, 3 | 4) => RepeatedString,
            (Msg::ScopeSpans, 1) => Message(Msg::Scope),
            (Msg::ScopeSpans, 2) => Repeated(Msg::Span),
            (Msg::ScopeSpans, 3) => Bytes,
            (Msg::Scope, 1 | 2) => Bytes,
            (Msg::Scope, 3) => Repeated(Msg::KeyValue),
            (Msg::Scope, 4) => Scalar,
            (Msg::Span, 1..=5) => Bytes,
            (Msg::Span, 6..=8 | 10 | 12 | 14 | 16) => Scalar,
            (Msg::Span, 9) => Repeated(Msg::KeyValue),
            (Msg::Span, 11) => Repeated(Msg::Event),
            (Msg::Span, 13) => Repeated(Msg::Link),
            (Msg::Span, 15) => Message(Msg::Status),
            (Msg::Event, 1 | 4) => Scalar,
            (Msg::Event, 2) => Bytes,
            (Msg::Event, 3) => Repeated(Msg::KeyValue),
            (Msg::Link, 1..=3) => Bytes,
            (Msg::Link, 4) => Repeated(Msg::KeyValue),
            (Msg::Link, 5 | 6) => Scalar,
            (Msg::Status, 2) => Bytes,
            (Msg::Status, 3) => Scalar,
            (Msg::KeyValue, 1) => Bytes,
            (Msg::KeyValue, 2) => Message(Msg::AnyValue),
            (Msg::KeyValue, 3) => Scalar,
            (Msg::AnyValue, 1 | 7) => Bytes,
            (Msg::AnyValue, 2..=4 | 8) => Scalar,
            (Msg::AnyValue, 5) => Message(Msg::ArrayValue),
            (Msg::AnyValue, 6) => Message(Msg::KeyValueList),
            (Msg::ArrayValue, 1) => Repeated(Msg::AnyValue),
            (Msg::KeyValueList, 1) => Repeated(Msg::KeyValue),
            _ => return None,
        })
    }
}

/// Bytes a `Vec` of `n` elements of `size` bytes holds after `n` pushes
/// (capacity doubling from the standard library's minimum of 4, or 1 for
/// elements over 1 KiB).
fn vec_bytes(n: usize, size: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let min = if size > 1024 { 1 } else { 4 };
    n.checked_next_power_of_two()
        .unwrap_or(usize::MAX)
        .max(min)
        .saturating_mul(size)
}

struct Scan {
    cost: Cost,
    max_spans: usize,
    max_bytes: usize,
}

impl Scan {
    fn add(&mut self, bytes: usize) -> Result<(), ScanError> {
        self.cost.decoded_bytes = self.cost.decoded_bytes.saturating_add(bytes);
        if self.cost.decoded_bytes > self.max_bytes {
            return Err(ScanError::TooLarge);
        }
        Ok(())
    }

    /// Walks one message's fields; adds what it allocates (not its own
    /// struct, which its parent counts).
    fn message(&mut self, mut buf: &[u8], msg: Msg, depth: u32) -> Result<(), ScanError> {
        if depth > MAX_DEPTH {
            return Err(ScanError::Malformed("messages nested too deeply"));
        }
        // Elements per repeated field (tags of the schema are all below 17).
        let mut repeated = [0usize; 17];
        while !buf.is_empty() {
            let key = varint(&mut buf)?;
            let (tag, wire_type) = (key >> 3, key & 7);
            if tag == 0 {
                return Err(ScanError::Malformed("field number 0"));
            }
            let field = msg.field(tag);
            match wire_type {
                0 => {
                    varint(&mut buf)?;
                }
                1 => buf = skip(buf, 8)?,
                5 => buf = skip(buf, 4)?,
                2 => {
                    let len = usize::try_from(varint(&mut buf)?)
                        .map_err(|_| ScanError::Malformed("length out of range"))?;
                    let body = buf
                        .get(..len)
                        .ok_or(ScanError::Malformed("length past the end of the message"))?;
                    buf = &buf[len..];
                    match field {
                        None | Some(Field::Scalar) => {}
                        Some(Field::Bytes) => self.add(len)?,
                        Some(Field::RepeatedString) => {
                            self.add(len)?;
                            count(&mut repeated, tag);
                        }
                        Some(Field::Message(child)) => self.message(body, child, depth + 1)?,
                        Some(Field::Repeated(child)) => {
                            if child == Msg::Span {
                                self.cost.spans += 1;
                                if self.cost.spans > self.max_spans {
                                    return Err(ScanError::TooManySpans);
                                }
                            }
                            count(&mut repeated, tag);
                            self.message(body, child, depth + 1)?;
                        }
                    }
                    continue;
                }
                _ => return Err(ScanError::Malformed("unsupported wire type (group)")),
            }
            if matches!(
                field,
                Some(Field::Bytes | Field::RepeatedString | Field::Message(_) | Field::Repeated(_))
            ) {
                return Err(ScanError::Malformed("wrong wire type for a field"));
            }
        }
        for (tag, &n) in repeated.iter().enumerate() {
            let elem = match msg.field(tag as u64) {
                Some(Field::Repeated(child)) => child.size(),
                Some(Field::RepeatedString) => size_of::<String>(),
                _ => continue,
            };
            self.add(vec_bytes(n, elem))?;
        }
        Ok(())
    }
}

fn count(repeated: &mut [usize; 17], tag: u64) {
    if let Some(n) = usize::try_from(tag).ok().and_then(|t| repeated.get_mut(t)) {
        *n += 1;
    }
}

fn skip(buf: &[u8], n: usize) -> Result<&[u8], ScanError> {
    buf.get(n..).ok_or(ScanError::Malformed(
        "fixed-size field past the end of the message",
    ))
}

fn varint(buf: &mut &[u8]) -> Result<u64, ScanError> {
    match get_varint(buf) {
        Some((value, n)) => {
            *buf = &buf[n..];
            Ok(value)
        }
        None if buf.len() < MAX_VARINT_LEN => {
            Err(ScanError::Malformed("varint past the end of the message"))
        }
        None => Err(ScanError::Malformed("varint longer than 10 bytes")),
    }
}

/// Counts the spans in an encoded `ExportTraceServiceRequest` and
/// estimates its decoded size, stopping at the first limit passed.
pub(super) fn scan(body: &[u8], max_spans: usize, max_bytes: usize) -> Result<Cost, ScanError> {
    let mut s = Scan {
        cost: Cost::default(),
        max_spans,
        max_bytes,
    };
    s.add(Msg::Request.size())?;
    s.message(body, Msg::Request, 0)?;
    Ok(s.cost)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::common::v1::any_value;
    use prost::Message;

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    #[test]
    fn counts_spans_and_stops_at_the_limit() {
        let body = request(vec![Span::default(); 10]).encode_to_vec();
        let cost = scan(&body, 10, usize::MAX).unwrap();
        assert_eq!(cost.spans, 10);
        assert_eq!(scan(&body, 9, usize::MAX), Err(ScanError::TooManySpans));
    }

    #[test]
    fn the_estimate_covers_structs_and_strings() {
        let span = Span {
            name: "x".repeat(1000),
            trace_id: vec![1; 16],
            attributes: vec![kv("k", any_value::Value::StringValue("v".repeat(500)))],
            ..Default::default()
        };
        let body = request(vec![span; 3]).encode_to_vec();
        let cost = scan(&body, usize::MAX, usize::MAX).unwrap();
        let lower = size_of::<ExportTraceServiceRequest>()
            + 4 * size_of::<ResourceSpans>()
            + 4 * size_of::<ScopeSpans>()
            + 3 * (size_of::<Span>() + 1000 + 16 + 4 * size_of::<KeyValue>() + 1 + 500);
        assert!(cost.decoded_bytes >= lower, "{cost:?} < {lower}");
        assert!(cost.decoded_bytes < lower * 2, "{cost:?}");
    }

    #[test]
    fn small_wire_items_with_large_decoded_cost_are_counted() {
        // One span with 100,000 empty attributes: 2 bytes each on the wire.
        let span = Span {
            attributes: vec![KeyValue::default(); 100_000],
            ..Default::default()
        };
        let body = request(vec![span]).encode_to_vec();
        assert!(body.len() < 300_000);
        let cost = scan(&body, usize::MAX, usize::MAX).unwrap();
        assert!(
            cost.decoded_bytes >= 100_000 * size_of::<KeyValue>(),
            "{cost:?}"
        );
        assert_eq!(
            scan(&body, usize::MAX, 1 << 20),
            Err(ScanError::TooLarge),
            "refused before decoding"
        );
        // Nested arrays count too.
        let mut v = AnyValue::default();
        for _ in 0..50 {
            v = AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue {
                    values: vec![v; 2],
                })),
            };
            if v.encoded_len() > 1 << 16 {
                break;
            }
        }
        let span = Span {
            attributes: vec![KeyValue {
                value: Some(v),
                ..Default::default()
            }],
            ..Default::default()
        };
        let body = request(vec![span]).encode_to_vec();
        let cost = scan(&body, usize::MAX, usize::MAX).unwrap();
        assert!(
            cost.decoded_bytes > body.len() * 10,
            "{cost:?} for {}",
            body.len()
        );
    }

    #[test]
    fn malformed_input_is_refused_without_panicking() {
        for body in [
            &[0x0a, 0x05, 0x01][..], // length past the end
            &[0x0a],                 // truncated varint
            &[0x08, 0x01],           // resource_spans as a varint
            &[0x0b, 0x0c],           // a group
            &[0x00, 0x00],           // field 0
            &[
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            assert!(
                matches!(scan(body, 10, 1 << 20), Err(ScanError::Malformed(_))),
                "{body:?}"
            );
            assert!(ExportTraceServiceRequest::decode(body).is_err(), "{body:?}");
        }
        // The two ways a varint goes wrong, each named.
        assert_eq!(
            scan(&[0x0a, 0x80, 0x80], 10, 1 << 20),
            Err(ScanError::Malformed("varint past the end of the message"))
        );
        assert_eq!(
            scan(
                &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                10,
                1 << 20
            ),
            Err(ScanError::Malformed("varint longer than 10 bytes"))
        );
        // Unknown fields are skipped, as prost skips them.
        let body = [0x78, 0x01, 0x82, 0x01, 0x01, 0xff];
        assert_eq!(scan(&body, 10, 1 << 20).unwrap().spans, 0);
        assert!(ExportTraceServiceRequest::decode(&body[..]).is_ok());
    }

    /// A length-delimited field `tag` holding `body`.
    fn ld(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![(tag << 3) | 2];
        prost::encoding::encode_varint(body.len() as u64, &mut out);
        out.extend(body);
        out
    }

    #[test]
    fn nesting_is_bounded() {
        // AnyValue { array { values: [AnyValue { array { ... }}] }}, 200 deep.
        let mut any: Vec<u8> = Vec::new();
        for _ in 0..200 {
            any = ld(5, &ld(1, &any));
        }
        // request.resource_spans[0].scope_spans[0].spans[0].attributes[0].value
        let raw = ld(1, &ld(2, &ld(2, &ld(9, &ld(2, &any)))));
        assert!(matches!(
            scan(&raw, 10, usize::MAX),
            Err(ScanError::Malformed("messages nested too deeply"))
        ));
        assert!(ExportTraceServiceRequest::decode(&raw[..]).is_err());
        // Around the limit, the scan refuses exactly what prost refuses.
        for pairs in 40..60 {
            let mut any: Vec<u8> = Vec::new();
            for _ in 0..pairs {
                any = ld(5, &ld(1, &any));
            }
            let raw = ld(1, &ld(2, &ld(2, &ld(9, &ld(2, &any)))));
            assert_eq!(
                scan(&raw, 10, usize::MAX).is_ok(),
                ExportTraceServiceRequest::decode(&raw[..]).is_ok(),
                "{pairs} nested arrays"
            );
        }
    }
}
