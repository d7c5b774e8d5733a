//! Reading a span's trace id from its encoded bytes, and splitting an
//! encoded `ExportTraceServiceRequest` by trace id into one request per
//! fleet member (resource and scope envelopes kept around each member's
//! spans).
//!
//! The trace id readers run once per span on the export worker when a fleet
//! routes by trace id: no allocation. [`split_request`] runs only when a
//! fleet member fails and its request is re-routed to the others; it
//! allocates per request and never panics on any input (an export request
//! is ours, but a split must not trust that).

use bytes::{BufMut, BytesMut};

use crate::codec::otlp::field::{key, request, resource_spans, scope_spans, span, TRACE_ID_BYTES};
use crate::codec::wire::{get_varint, put_len_header};

/// Why a request could not be split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The bytes are not a well-formed `ExportTraceServiceRequest`.
    #[error("the export request is malformed at byte {at}: {what}")]
    Malformed {
        /// Offset in the enclosing message.
        at: usize,
        /// What was wrong.
        what: &'static str,
    },
}

/// The trace id of a `Span` message body whose first field is its trace id
/// (as every OTLP encoder writes it, tracewire's included); `None`
/// otherwise.
///
/// Hot path (once per span when routing): no allocation.
///
/// ```
/// use tracewire::internal::fleet::span_trace_id;
/// let mut span = vec![0x0a, 0x10];
/// span.extend_from_slice(&[7; 16]);
/// assert_eq!(span_trace_id(&span), Some([7; 16]));
/// assert_eq!(span_trace_id(&[0x12, 0x00]), None);
/// ```
#[inline]
pub fn span_trace_id(span: &[u8]) -> Option<[u8; 16]> {
    match span {
        [key::SPAN_TRACE_ID, len, rest @ ..]
            if usize::from(*len) == TRACE_ID_BYTES && rest.len() >= TRACE_ID_BYTES =>
        {
            let mut id = [0u8; TRACE_ID_BYTES];
            id.copy_from_slice(&rest[..TRACE_ID_BYTES]);
            Some(id)
        }
        _ => None,
    }
}

/// The trace id of a span framed as a `ScopeSpans.spans` field (key,
/// length, body), from the field's first [`FRAMED_HEAD`] bytes or more.
///
/// Hot path (once per span when routing): no allocation.
///
/// ```
/// use tracewire::internal::fleet::framed_span_trace_id;
/// let mut framed = vec![0x12, 18, 0x0a, 0x10];
/// framed.extend_from_slice(&[3; 16]);
/// assert_eq!(framed_span_trace_id(&framed), Some([3; 16]));
/// ```
#[inline]
pub fn framed_span_trace_id(framed: &[u8]) -> Option<[u8; 16]> {
    // The length is one to three bytes for any span under 2 MiB.
    let n = match framed {
        [_, a, ..] if *a < 0x80 => 1,
        [_, _, b, ..] if *b < 0x80 => 2,
        [_, _, _, c, ..] if *c < 0x80 => 3,
        _ => get_varint(framed.get(1..)?)?.1,
    };
    span_trace_id(framed.get(1 + n..)?)
}

/// Bytes of a framed span enough to read its trace id: key, a length of up
/// to 5 bytes, the trace id's key and the id.
pub const FRAMED_HEAD: usize = 1 + 5 + 2 + 16;

/// One field of a message: its number, the whole field's bytes (key
/// included) and, for a length-delimited field, its payload.
struct Field<'a> {
    number: u64,
    raw: &'a [u8],
    payload: &'a [u8],
}

/// The fields of a message, in order, or the first error.
fn fields(msg: &[u8]) -> Result<Vec<Field<'_>>, SplitError> {
    let bad = |at: usize, what: &'static str| SplitError::Malformed { at, what };
    let mut out = Vec::new();
    let mut at = 0;
    while at < msg.len() {
        let start = at;
        let (key, n) = get_varint(&msg[at..]).ok_or(bad(at, "truncated key"))?;
        at += n;
        let end = match key & 7 {
            0 => at + get_varint(&msg[at..]).ok_or(bad(at, "truncated varint"))?.1,
            1 => at + 8,
            5 => at + 4,
            2 => {
                let (len, n) = get_varint(&msg[at..]).ok_or(bad(at, "truncated length"))?;
                at += n;
                let len = usize::try_from(len).map_err(|_| bad(at, "length too large"))?;
                at.checked_add(len).ok_or(bad(at, "length too large"))?
            }
            _ => return Err(bad(start, "unsupported wire type")),
        };
        if end > msg.len() {
            return Err(bad(at, "field runs past the end"));
        }
        out.push(Field {
            number: key >> 3,
            raw: &msg[start..end],
            payload: &msg[at..end],
        });
        at = end;
    }
    Ok(out)
}

/// One member's share of a split request.
#[derive(Debug)]
pub struct SplitPart {
    /// The member (as `pick` returned it).
    pub member: usize,
    /// `prefix` zero bytes, then the member's `ExportTraceServiceRequest`.
    pub buffer: BytesMut,
    /// Spans in it.
    pub spans: usize,
}

/// Splits an encoded `ExportTraceServiceRequest` by trace id: `pick` names
/// the member of each span's trace; each member's spans keep their
/// resource and scope. Each part's buffer starts with `prefix` zero bytes
/// (room for a transport's framing). Parts come in the order their members
/// first appear. A span without a trace id goes to the member of the empty
/// trace id.
///
/// ```
/// use tracewire::internal::fleet::split_request;
/// // One resource, one scope, two spans of different traces.
/// let span = |t: u8| { let mut s = vec![0x12, 18, 0x0a, 0x10]; s.extend_from_slice(&[t; 16]); s };
/// let mut scope_spans = vec![0x0a, 0x00];
/// scope_spans.extend(span(1));
/// scope_spans.extend(span(2));
/// let mut rs = vec![0x0a, 0x00, 0x12, scope_spans.len() as u8];
/// rs.extend(scope_spans);
/// let mut req = vec![0x0a, rs.len() as u8];
/// req.extend(rs);
/// let parts = split_request(&req, 0, |t| usize::from(t[0])).unwrap();
/// assert_eq!(parts.iter().map(|p| (p.member, p.spans)).collect::<Vec<_>>(), [(1, 1), (2, 1)]);
/// ```
pub fn split_request(
    message: &[u8],
    prefix: usize,
    mut pick: impl FnMut(&[u8; 16]) -> usize,
) -> Result<Vec<SplitPart>, SplitError> {
    // member -> per resource -> per scope -> span fields.
    struct Scope<'a> {
        other: Vec<&'a [u8]>,
        spans: Vec<(usize, &'a [u8])>,
    }
    struct Resource<'a> {
        other: Vec<&'a [u8]>,
        scopes: Vec<Scope<'a>>,
    }
    let mut resources = Vec::new();
    let mut members: Vec<usize> = Vec::new();
    for f in fields(message)? {
        if f.number != u64::from(request::RESOURCE_SPANS) {
            continue;
        }
        let mut resource = Resource {
            other: Vec::new(),
            scopes: Vec::new(),
        };
        for rf in fields(f.payload)? {
            if rf.number != u64::from(resource_spans::SCOPE_SPANS) {
                resource.other.push(rf.raw);
                continue;
            }
            let mut scope = Scope {
                other: Vec::new(),
                spans: Vec::new(),
            };
            for sf in fields(rf.payload)? {
                if sf.number != u64::from(scope_spans::SPANS) {
                    scope.other.push(sf.raw);
                    continue;
                }
                let trace = trace_id_anywhere(sf.payload)?;
                let member = pick(&trace);
                if !members.contains(&member) {
                    members.push(member);
                }
                scope.spans.push((member, sf.raw));
            }
            resource.scopes.push(scope);
        }
        resources.push(resource);
    }
    let mut parts = Vec::with_capacity(members.len());
    for member in members {
        let mut req = Vec::new();
        let mut spans = 0;
        for r in &resources {
            let mut rs_body = Vec::new();
            for o in &r.other {
                rs_body.extend_from_slice(o);
            }
            let mut any = false;
            for s in &r.scopes {
                let mut ss_body = Vec::new();
                for o in &s.other {
                    ss_body.extend_from_slice(o);
                }
                let mut here = 0;
                for &(m, raw) in &s.spans {
                    if m == member {
                        ss_body.extend_from_slice(raw);
                        here += 1;
                    }
                }
                if here > 0 {
                    put_len_header(&mut rs_body, resource_spans::SCOPE_SPANS, ss_body.len());
                    rs_body.extend_from_slice(&ss_body);
                    spans += here;
                    any = true;
                }
            }
            if any {
                put_len_header(&mut req, request::RESOURCE_SPANS, rs_body.len());
                req.extend_from_slice(&rs_body);
            }
        }
        let mut buffer = BytesMut::with_capacity(prefix + req.len());
        buffer.put_bytes(0, prefix);
        buffer.extend_from_slice(&req);
        parts.push(SplitPart {
            member,
            buffer,
            spans,
        });
    }
    Ok(parts)
}

/// A span's trace id wherever its field 1 is (zeros when it has none).
fn trace_id_anywhere(span: &[u8]) -> Result<[u8; 16], SplitError> {
    if let Some(id) = span_trace_id(span) {
        return Ok(id);
    }
    for f in fields(span)? {
        if f.number == u64::from(span::TRACE_ID) && f.raw.first() == Some(&key::SPAN_TRACE_ID) {
            let mut id = [0u8; 16];
            let n = f.payload.len().min(16);
            id[..n].copy_from_slice(&f.payload[..n]);
            return Ok(id);
        }
    }
    Ok([0; 16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::otlp::{put_request, request_len, EncodedResource, EncodedScope, ScopeGroup};
    use crate::model::{InstrumentationScope, KeyValue, Resource};
    use prost::Message;

    fn span_body(trace: u8, name: &str) -> Vec<u8> {
        let mut b = vec![0x0a, 0x10];
        b.extend_from_slice(&[trace; 16]);
        b.extend_from_slice(&[0x12, 0x08]);
        b.extend_from_slice(&[trace; 8]);
        b.push(0x2a);
        b.push(name.len() as u8);
        b.extend_from_slice(name.as_bytes());
        b
    }

    #[test]
    fn a_split_keeps_every_span_once_with_its_resource_and_scope() {
        let resource = EncodedResource::new(&Resource {
            attributes: vec![KeyValue::new("service.name", "edge")],
            ..Resource::default()
        });
        let a = EncodedScope::new(&InstrumentationScope::named("a"));
        let b = EncodedScope::new(&InstrumentationScope::named("b"));
        let spans_a: Vec<Vec<u8>> = (0..6).map(|i| span_body(i, "sa")).collect();
        let spans_b: Vec<Vec<u8>> = (0..4).map(|i| span_body(i + 10, "sb")).collect();
        let refs_a: Vec<&[u8]> = spans_a.iter().map(Vec::as_slice).collect();
        let refs_b: Vec<&[u8]> = spans_b.iter().map(Vec::as_slice).collect();
        let groups = [
            ScopeGroup {
                scope: &a,
                spans: &refs_a,
            },
            ScopeGroup {
                scope: &b,
                spans: &refs_b,
            },
        ];
        let mut msg = Vec::with_capacity(request_len(&resource, &groups));
        put_request(&mut msg, &resource, &groups);
        let parts = split_request(&msg, 5, |t| usize::from(t[0] % 3)).unwrap();
        let mut seen = Vec::new();
        for p in &parts {
            assert_eq!(&p.buffer[..5], &[0; 5]);
            let req = crate::proto::collector::trace::v1::ExportTraceServiceRequest::decode(
                &p.buffer[5..],
            )
            .unwrap();
            let mut n = 0;
            for rs in &req.resource_spans {
                assert_eq!(rs.resource.as_ref().unwrap().attributes.len(), 1);
                for ss in &rs.scope_spans {
                    let scope = ss.scope.as_ref().unwrap().name.clone();
                    for s in &ss.spans {
                        assert_eq!(usize::from(s.trace_id[0] % 3), p.member);
                        assert_eq!(scope, if s.name == "sa" { "a" } else { "b" });
                        seen.push(s.trace_id[0]);
                        n += 1;
                    }
                }
            }
            assert_eq!(n, p.spans);
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5, 10, 11, 12, 13]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &[0x0a, 0x05, 0x01][..],
            &[0x0f],
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            assert!(split_request(bad, 0, |_| 0).is_err(), "{bad:?}");
        }
        assert!(split_request(&[], 0, |_| 0).unwrap().is_empty());
    }

    #[test]
    fn framed_heads_give_the_trace_id() {
        let body = span_body(9, "x");
        let mut framed = Vec::new();
        put_len_header(&mut framed, scope_spans::SPANS, body.len());
        framed.extend_from_slice(&body);
        assert_eq!(framed_span_trace_id(&framed[..FRAMED_HEAD]), Some([9; 16]));
        assert_eq!(framed_span_trace_id(&framed[..5]), None);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_split_or_fail_without_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(parts) = split_request(&data, 5, |t| usize::from(t[3] % 4)) {
                for p in parts {
                    proptest::prop_assert!(p.buffer.len() >= 5);
                }
            }
        }

        #[test]
        fn every_span_lands_once_at_its_member(traces in proptest::collection::vec(0u8..32, 1..200), members in 1usize..6) {
            let resource = EncodedResource::new(&Resource::default());
            let scope = EncodedScope::new(&InstrumentationScope::named("s"));
            let bodies: Vec<Vec<u8>> = traces.iter().map(|&t| span_body(t, "n")).collect();
            let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
            let groups = [ScopeGroup { scope: &scope, spans: &refs }];
            let mut msg = Vec::new();
            put_request(&mut msg, &resource, &groups);
            let parts = split_request(&msg, 0, |t| usize::from(t[0]) % members).unwrap();
            let mut got = Vec::new();
            for p in &parts {
                let req = crate::proto::collector::trace::v1::ExportTraceServiceRequest::decode(&p.buffer[..]).unwrap();
                for s in req.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
                    proptest::prop_assert_eq!(usize::from(s.trace_id[0]) % members, p.member);
                    got.push(s.trace_id[0]);
                }
            }
            let mut want = traces.clone();
            want.sort_unstable();
            got.sort_unstable();
            proptest::prop_assert_eq!(got, want);
        }
    }
}
