//! Differential and property tests of the hand-rolled encoder: tracewire
//! encodes, prost (the build.rs types) decodes, every field is compared, and
//! prost's canonical re-encoding must equal tracewire's bytes.

use crate::common;

use common::{
    decode, encode_model, fingerprint, model_of, resource_fingerprint, scope_fingerprint, strategy,
};
use proptest::prelude::*;
use prost::Message;
use tracewire::internal::codec::otlp::{EncodeValue, MAX_VALUE_DEPTH};
use tracewire::model::*;
use tracewire::proto::common::v1::any_value::Value as PV;

fn every_field_span() -> SpanData {
    SpanData {
        trace_id: TraceId::from_bytes([0xab; 16]),
        span_id: SpanId::from_bytes([0xcd; 8]),
        trace_state: "vendor=opaque,other=1".into(),
        parent_span_id: Some(SpanId::from_bytes([0xef; 8])),
        flags: 0x301,
        name: "GET /users/{id}".into(),
        kind: SpanKind::Server,
        start_time_unix_nano: 1_700_000_000_000_000_001,
        end_time_unix_nano: 1_700_000_000_000_999_999,
        attributes: vec![
            KeyValue::new("s", "v"),
            KeyValue::new("b", true),
            KeyValue::new("i", -42i64),
            KeyValue::new("d", 2.5f64),
            KeyValue::new("x", vec![0u8, 255]),
            KeyValue::new("a", vec![AnyValue::Int(1), AnyValue::String("two".into())]),
            KeyValue::new(
                "kv",
                vec![KeyValue::new(
                    "inner",
                    AnyValue::Array(vec![AnyValue::Bool(false)]),
                )],
            ),
        ],
        dropped_attributes_count: 7,
        events: vec![Event {
            time_unix_nano: 1_700_000_000_000_500_000,
            name: "retry".into(),
            attributes: vec![KeyValue::new("attempt", 2i64)],
            dropped_attributes_count: 1,
        }],
        dropped_events_count: 3,
        links: vec![Link {
            trace_id: TraceId::from_bytes([0x11; 16]),
            span_id: SpanId::from_bytes([0x22; 8]),
            trace_state: "a=b".into(),
            attributes: vec![KeyValue::new("why", "fan-in")],
            dropped_attributes_count: 4,
            flags: 0x101,
        }],
        dropped_links_count: 5,
        status: Some(Status::error("upstream reset")),
    }
}

#[test]
fn every_field_decodes_under_prost() {
    let resource = Resource {
        attributes: vec![KeyValue::new("service.name", "edge")],
        dropped_attributes_count: 9,
        schema_url: "https://opentelemetry.io/schemas/1.27.0".into(),
    };
    let scope = InstrumentationScope {
        name: "tracewire".into(),
        version: "0.1.0".into(),
        attributes: vec![KeyValue::new("scope.k", 1i64)],
        dropped_attributes_count: 2,
        schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
    };
    let bytes = encode_model(&resource, &[(scope, vec![every_field_span()])]);
    let req = decode(&bytes);

    assert_eq!(req.resource_spans.len(), 1);
    let rs = &req.resource_spans[0];
    assert_eq!(rs.schema_url, "https://opentelemetry.io/schemas/1.27.0");
    let r = rs.resource.as_ref().unwrap();
    assert_eq!(r.dropped_attributes_count, 9);
    assert_eq!(r.attributes[0].key, "service.name");
    assert_eq!(
        r.attributes[0].value.as_ref().unwrap().value,
        Some(PV::StringValue("edge".into()))
    );
    assert_eq!(rs.scope_spans.len(), 1);
    let ss = &rs.scope_spans[0];
    assert_eq!(ss.schema_url, "https://opentelemetry.io/schemas/1.26.0");
    let sc = ss.scope.as_ref().unwrap();
    assert_eq!(
        (
            sc.name.as_str(),
            sc.version.as_str(),
            sc.dropped_attributes_count
        ),
        ("tracewire", "0.1.0", 2)
    );
    assert_eq!(
        sc.attributes[0].value.as_ref().unwrap().value,
        Some(PV::IntValue(1))
    );

    let s = &ss.spans[0];
    assert_eq!(s.trace_id, vec![0xab; 16]);
    assert_eq!(s.span_id, vec![0xcd; 8]);
    assert_eq!(s.trace_state, "vendor=opaque,other=1");
    assert_eq!(s.parent_span_id, vec![0xef; 8]);
    assert_eq!(s.flags, 0x301);
    assert_eq!(s.name, "GET /users/{id}");
    assert_eq!(s.kind, 2);
    assert_eq!(s.start_time_unix_nano, 1_700_000_000_000_000_001);
    assert_eq!(s.end_time_unix_nano, 1_700_000_000_000_999_999);
    let vals: Vec<_> = s
        .attributes
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.clone().unwrap().value.unwrap()))
        .collect();
    assert_eq!(vals[0], ("s", PV::StringValue("v".into())));
    assert_eq!(vals[1], ("b", PV::BoolValue(true)));
    assert_eq!(vals[2], ("i", PV::IntValue(-42)));
    assert_eq!(vals[3], ("d", PV::DoubleValue(2.5)));
    assert_eq!(vals[4], ("x", PV::BytesValue(vec![0, 255])));
    match &vals[5].1 {
        PV::ArrayValue(a) => {
            assert_eq!(a.values[0].value, Some(PV::IntValue(1)));
            assert_eq!(a.values[1].value, Some(PV::StringValue("two".into())));
        }
        other => panic!("array expected, got {other:?}"),
    }
    match &vals[6].1 {
        PV::KvlistValue(l) => {
            assert_eq!(l.values[0].key, "inner");
            match &l.values[0].value.as_ref().unwrap().value {
                Some(PV::ArrayValue(a)) => {
                    assert_eq!(a.values[0].value, Some(PV::BoolValue(false)))
                }
                other => panic!("nested array expected, got {other:?}"),
            }
        }
        other => panic!("kvlist expected, got {other:?}"),
    }
    assert_eq!(s.dropped_attributes_count, 7);
    assert_eq!(s.events.len(), 1);
    let e = &s.events[0];
    assert_eq!(
        (
            e.time_unix_nano,
            e.name.as_str(),
            e.dropped_attributes_count
        ),
        (1_700_000_000_000_500_000, "retry", 1)
    );
    assert_eq!(e.attributes[0].key, "attempt");
    assert_eq!(s.dropped_events_count, 3);
    let l = &s.links[0];
    assert_eq!(
        (l.trace_id.clone(), l.span_id.clone()),
        (vec![0x11; 16], vec![0x22; 8])
    );
    assert_eq!(
        (l.trace_state.as_str(), l.dropped_attributes_count, l.flags),
        ("a=b", 4, 0x101)
    );
    assert_eq!(l.attributes[0].key, "why");
    assert_eq!(s.dropped_links_count, 5);
    let st = s.status.as_ref().unwrap();
    assert_eq!((st.code, st.message.as_str()), (2, "upstream reset"));

    // Byte-identical to prost's canonical encoding of the same content.
    assert_eq!(req.encode_to_vec(), bytes);
}

#[test]
fn empty_batch_is_the_empty_request() {
    let bytes = encode_model(&Resource::default(), &[]);
    assert!(bytes.is_empty());
    assert!(decode(&bytes).resource_spans.is_empty());
    let scopes_without_spans = encode_model(
        &Resource::default(),
        &[(InstrumentationScope::named("x"), vec![])],
    );
    assert!(scopes_without_spans.is_empty());
}

#[test]
fn zero_end_time_is_left_out_like_prost() {
    let span = SpanData {
        trace_id: TraceId::from_bytes([1; 16]),
        span_id: SpanId::from_bytes([1; 8]),
        ..SpanData::default()
    };
    let bytes = encode_model(
        &Resource::default(),
        &[(InstrumentationScope::default(), vec![span])],
    );
    let req = decode(&bytes);
    assert_eq!(
        req.resource_spans[0].scope_spans[0].spans[0].end_time_unix_nano,
        0
    );
    assert_eq!(req.encode_to_vec(), bytes);
}

fn nested(depth: usize) -> AnyValue {
    let mut v = AnyValue::Int(7);
    for level in 0..depth {
        v = if level % 2 == 0 {
            AnyValue::Array(vec![v])
        } else {
            AnyValue::KvList(vec![KeyValue::new("k", v)])
        };
    }
    v
}

#[test]
fn deepest_allowed_nesting_decodes_under_prost() {
    let deepest = nested(MAX_VALUE_DEPTH);
    assert!(!deepest.deeper_than(MAX_VALUE_DEPTH));
    assert!(nested(MAX_VALUE_DEPTH + 1).deeper_than(MAX_VALUE_DEPTH));
    let span = SpanData {
        trace_id: TraceId::from_bytes([1; 16]),
        span_id: SpanId::from_bytes([1; 8]),
        attributes: vec![KeyValue::new("deep", deepest)],
        ..SpanData::default()
    };
    let bytes = encode_model(
        &Resource::default(),
        &[(InstrumentationScope::default(), vec![span.clone()])],
    );
    let back = &model_of(&decode(&bytes))[0].1[0].1[0];
    assert_eq!(fingerprint(back), fingerprint(&span));
}

#[test]
fn megabyte_strings_roundtrip() {
    let big = "é".repeat(512 * 1024);
    let span = SpanData {
        trace_id: TraceId::from_bytes([1; 16]),
        span_id: SpanId::from_bytes([1; 8]),
        name: big.clone(),
        attributes: vec![KeyValue::new(big.clone(), big.clone())],
        ..SpanData::default()
    };
    let bytes = encode_model(
        &Resource::default(),
        &[(InstrumentationScope::default(), vec![span.clone()])],
    );
    let req = decode(&bytes);
    assert_eq!(req.encode_to_vec(), bytes);
    assert_eq!(
        fingerprint(&model_of(&req)[0].1[0].1[0]),
        fingerprint(&span)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random batches: every field survives a prost decode, and prost's
    /// canonical re-encoding is byte-identical to tracewire's output.
    #[test]
    fn random_batches_roundtrip_through_prost(
        resource in strategy::resource(),
        scopes in proptest::collection::vec((strategy::scope(), proptest::collection::vec(strategy::span(), 0..5)), 0..4),
    ) {
        let bytes = encode_model(&resource, &scopes);
        let req = decode(&bytes);
        prop_assert_eq!(req.encode_to_vec(), bytes.clone());

        let non_empty: Vec<_> = scopes.iter().filter(|(_, spans)| !spans.is_empty()).collect();
        let decoded = model_of(&req);
        if non_empty.is_empty() {
            prop_assert!(bytes.is_empty());
            prop_assert!(decoded.is_empty());
        } else {
            prop_assert_eq!(decoded.len(), 1);
            let (r, decoded_scopes) = &decoded[0];
            prop_assert_eq!(resource_fingerprint(r), resource_fingerprint(&resource));
            prop_assert_eq!(decoded_scopes.len(), non_empty.len());
            for ((scope, spans), (dscope, dspans)) in non_empty.iter().zip(decoded_scopes) {
                prop_assert_eq!(scope_fingerprint(dscope), scope_fingerprint(scope));
                prop_assert_eq!(dspans.len(), spans.len());
                for (a, b) in spans.iter().zip(dspans) {
                    prop_assert_eq!(fingerprint(b), fingerprint(a));
                }
            }
        }
    }

    /// Value length limits truncate on UTF-8 boundaries and what is written
    /// is exactly what `value_len` announced.
    #[test]
    fn truncation_is_exact_and_valid_utf8(s in "\\PC{0,200}", limit in 0usize..64) {
        let v = ValueRef::Str(&s);
        let mut buf = Vec::new();
        v.put_value(&mut buf, limit);
        prop_assert_eq!(buf.len(), v.value_len(limit));
        let decoded = tracewire::proto::common::v1::AnyValue::decode(&buf[..]).unwrap();
        match decoded.value {
            Some(PV::StringValue(out)) => {
                prop_assert!(out.len() <= limit);
                prop_assert!(s.starts_with(&out));
                prop_assert!(s.len() <= limit || out.len() + 4 > limit);
            }
            other => prop_assert!(false, "string expected, got {:?}", other),
        }
    }
}

proptest! {
    /// The recording path's fast writers produce exactly what the generic
    /// writer produces, across the one-byte-length boundary, for every
    /// integer size and with value length limits.
    #[test]
    fn fast_writers_match_the_generic_writer(
        // Past 255 bytes too: the fast writers take a key or value that
        // long to the generic path.
        key in "\\PC{0,70}|[a-z.]{250,270}",
        value in "\\PC{0,130}|[a-zA-Z0-9/]{250,300}",
        int in prop_oneof![any::<i64>(), Just(0i64), Just(-1i64), Just(i64::MIN), 0i64..300],
        limit in prop_oneof![Just(usize::MAX), 0usize..150],
    ) {
        use tracewire::internal::codec::buf::SpanBuf;
        use tracewire::internal::codec::otlp::{put_i64_kv, put_kv_span, put_str_kv};
        let mut fast = SpanBuf::with_capacity(8);
        let mut generic = SpanBuf::with_capacity(8);
        put_str_kv(&mut fast, 9, &key, &value, limit);
        put_kv_span(&mut generic, 9, &key, &ValueRef::Str(&value), limit);
        prop_assert_eq!(fast.as_slice(), generic.as_slice());
        fast.clear();
        generic.clear();
        put_i64_kv(&mut fast, 9, &key, int);
        put_kv_span(&mut generic, 9, &key, &ValueRef::I64(int), usize::MAX);
        prop_assert_eq!(fast.as_slice(), generic.as_slice());
        // And it is a valid KeyValue field, whatever its length prefix's
        // size: field 9, length-delimited, then the KeyValue itself.
        use tracewire::internal::codec::wire::get_varint;
        let bytes = fast.as_slice();
        let (tag, n) = get_varint(bytes).unwrap();
        prop_assert_eq!(tag, (9 << 3) | 2);
        let (len, m) = get_varint(&bytes[n..]).unwrap();
        let body = &bytes[n + m..];
        prop_assert_eq!(body.len() as u64, len);
        let kv = tracewire::proto::common::v1::KeyValue::decode(body).unwrap();
        prop_assert_eq!(&kv.key, &key);
        prop_assert_eq!(
            kv.value.and_then(|v| v.value),
            Some(PV::IntValue(int))
        );
    }
}
