//! Arbitrary span records -> tracewire's encoder -> decoded by the prost
//! types -> equal to the input, field by field (doubles by bit pattern);
//! and prost's canonical re-encoding is byte-identical. Any input that
//! encodes must decode.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use tracewire::internal::codec::otlp::{encode_span, put_request, request_len, EncodedResource, EncodedScope, ScopeGroup};
use tracewire::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracewire::proto::{resource_from_proto, scope_from_proto, span_from_proto};
use tracewire::model::*;

fn value(u: &mut Unstructured<'_>, depth: usize) -> arbitrary::Result<AnyValue> {
    let max = if depth == 0 { 6 } else { 8 };
    Ok(match u.int_in_range(0..=max - 1)? {
        0 => AnyValue::Empty,
        1 => AnyValue::String(String::arbitrary(u)?),
        2 => AnyValue::Bool(bool::arbitrary(u)?),
        3 => AnyValue::Int(i64::arbitrary(u)?),
        4 => AnyValue::Double(f64::from_bits(u64::arbitrary(u)?)),
        5 => AnyValue::Bytes(Vec::arbitrary(u)?),
        6 => {
            let n = u.int_in_range(0..=4)?;
            AnyValue::Array((0..n).map(|_| value(u, depth - 1)).collect::<Result<_, _>>()?)
        }
        _ => AnyValue::KvList(key_values(u, depth - 1)?),
    })
}

fn key_values(u: &mut Unstructured<'_>, depth: usize) -> arbitrary::Result<Vec<KeyValue>> {
    let n = u.int_in_range(0..=4)?;
    (0..n)
        .map(|_| {
            Ok(KeyValue {
                key: String::arbitrary(u)?,
                value: value(u, depth)?,
            })
        })
        .collect()
}

fn span(u: &mut Unstructured<'_>) -> arbitrary::Result<SpanData> {
    let depth = 6;
    Ok(SpanData {
        trace_id: TraceId::from_bytes(<[u8; 16]>::arbitrary(u)?),
        span_id: SpanId::from_bytes(<[u8; 8]>::arbitrary(u)?),
        trace_state: String::arbitrary(u)?,
        parent_span_id: Option::<[u8; 8]>::arbitrary(u)?.map(SpanId::from_bytes),
        flags: u32::arbitrary(u)?,
        name: String::arbitrary(u)?,
        kind: SpanKind::from_i32(u.int_in_range(0..=5)?),
        start_time_unix_nano: u64::arbitrary(u)?,
        end_time_unix_nano: u64::arbitrary(u)?,
        attributes: key_values(u, depth)?,
        dropped_attributes_count: u32::arbitrary(u)?,
        events: (0..u.int_in_range(0..=2)?)
            .map(|_| {
                Ok(Event {
                    time_unix_nano: u64::arbitrary(u)?,
                    name: String::arbitrary(u)?,
                    attributes: key_values(u, 2)?,
                    dropped_attributes_count: u32::arbitrary(u)?,
                })
            })
            .collect::<arbitrary::Result<_>>()?,
        dropped_events_count: u32::arbitrary(u)?,
        links: (0..u.int_in_range(0..=2)?)
            .map(|_| {
                Ok(Link {
                    trace_id: TraceId::from_bytes(<[u8; 16]>::arbitrary(u)?),
                    span_id: SpanId::from_bytes(<[u8; 8]>::arbitrary(u)?),
                    trace_state: String::arbitrary(u)?,
                    attributes: key_values(u, 2)?,
                    dropped_attributes_count: u32::arbitrary(u)?,
                    flags: u32::arbitrary(u)?,
                })
            })
            .collect::<arbitrary::Result<_>>()?,
        dropped_links_count: u32::arbitrary(u)?,
        status: if bool::arbitrary(u)? {
            Some(Status {
                code: match u.int_in_range(0..=2)? {
                    1 => StatusCode::Ok,
                    2 => StatusCode::Error,
                    _ => StatusCode::Unset,
                },
                message: String::arbitrary(u)?.into(),
            })
        } else {
            None
        },
    })
}

/// Equal field for field, doubles compared by their bits.
fn same_value(a: &AnyValue, b: &AnyValue) -> bool {
    match (a, b) {
        (AnyValue::Double(x), AnyValue::Double(y)) => x.to_bits() == y.to_bits(),
        (AnyValue::Array(x), AnyValue::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_value(a, b)),
        (AnyValue::KvList(x), AnyValue::KvList(y)) => same_kvs(x, y),
        _ => a == b,
    }
}

fn same_kvs(a: &[KeyValue], b: &[KeyValue]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.key == y.key && same_value(&x.value, &y.value))
}

fn same_span(a: &SpanData, b: &SpanData) -> bool {
    let strip = |s: &SpanData| SpanData {
        attributes: vec![],
        events: s.events.iter().map(|e| Event { attributes: vec![], ..e.clone() }).collect(),
        links: s.links.iter().map(|l| Link { attributes: vec![], ..l.clone() }).collect(),
        ..s.clone()
    };
    strip(a) == strip(b)
        && same_kvs(&a.attributes, &b.attributes)
        && a.events.iter().zip(&b.events).all(|(x, y)| same_kvs(&x.attributes, &y.attributes))
        && a.links.iter().zip(&b.links).all(|(x, y)| same_kvs(&x.attributes, &y.attributes))
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(resource_attrs) = key_values(&mut u, 2) else { return };
    let Ok(scope_name) = String::arbitrary(&mut u) else { return };
    let Ok(n) = u.int_in_range(0..=4u8) else { return };
    let mut spans = Vec::new();
    for _ in 0..n {
        match span(&mut u) {
            Ok(s) => spans.push(s),
            Err(_) => break,
        }
    }
    let resource = Resource { attributes: resource_attrs, ..Resource::default() };
    let scope = InstrumentationScope::named(scope_name);
    let bodies: Vec<Vec<u8>> = spans
        .iter()
        .map(|s| {
            let mut b = Vec::new();
            encode_span(&mut b, s);
            b
        })
        .collect();
    let er = EncodedResource::new(&resource);
    let es = EncodedScope::new(&scope);
    let groups = [ScopeGroup { scope: &es, spans: &bodies[..] }];
    let mut out = Vec::with_capacity(request_len(&er, &groups));
    put_request(&mut out, &er, &groups);
    assert_eq!(out.len(), request_len(&er, &groups));

    let req = ExportTraceServiceRequest::decode(&out[..]).expect("what tracewire encodes, prost decodes");
    assert_eq!(req.encode_to_vec(), out, "canonical: prost re-encodes the same bytes");
    if spans.is_empty() {
        assert!(req.resource_spans.is_empty());
        return;
    }
    let rs = &req.resource_spans[0];
    let r = resource_from_proto(rs.resource.as_ref(), &rs.schema_url);
    assert!(same_kvs(&r.attributes, &resource.attributes));
    let ss = &rs.scope_spans[0];
    assert_eq!(scope_from_proto(ss.scope.as_ref(), &ss.schema_url), scope);
    assert_eq!(ss.spans.len(), spans.len());
    for (decoded, original) in ss.spans.iter().zip(&spans) {
        let back = span_from_proto(decoded).expect("fixed-size ids");
        assert!(same_span(&back, original), "{back:?}\n!=\n{original:?}");
    }
});
