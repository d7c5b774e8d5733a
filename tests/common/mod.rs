//! Helpers shared by the integration tests: conversions between tracewire's
//! model and the prost types, NaN-aware comparison, proptest strategies.
#![allow(dead_code)]

use std::fmt::Write as _;

use bytes::BytesMut;
use prost::Message;
use tracewire::internal::codec::otlp::{
    encode_span, put_request, request_len, EncodedResource, EncodedScope, ScopeGroup,
};
use tracewire::model::{AnyValue, InstrumentationScope, KeyValue, Resource, SpanData};
use tracewire::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracewire::proto::{resource_from_proto, scope_from_proto, span_from_proto};

/// One resource's spans, grouped by scope.
pub type Model = (Resource, Vec<(InstrumentationScope, Vec<SpanData>)>);

/// Encodes a model with tracewire into one `ExportTraceServiceRequest`.
pub fn encode_model(
    resource: &Resource,
    scopes: &[(InstrumentationScope, Vec<SpanData>)],
) -> Vec<u8> {
    let encoded_resource = EncodedResource::new(resource);
    let encoded_scopes: Vec<EncodedScope> =
        scopes.iter().map(|(s, _)| EncodedScope::new(s)).collect();
    let bodies: Vec<Vec<Vec<u8>>> = scopes
        .iter()
        .map(|(_, spans)| {
            spans
                .iter()
                .map(|s| {
                    let mut body = Vec::new();
                    encode_span(&mut body, s);
                    body
                })
                .collect()
        })
        .collect();
    let groups: Vec<ScopeGroup<'_, Vec<u8>>> = encoded_scopes
        .iter()
        .zip(&bodies)
        .map(|(scope, spans)| ScopeGroup { scope, spans })
        .collect();
    let mut out = BytesMut::with_capacity(request_len(&encoded_resource, &groups));
    put_request(&mut out, &encoded_resource, &groups);
    assert_eq!(
        out.len(),
        request_len(&encoded_resource, &groups),
        "request_len must be exact"
    );
    out.to_vec()
}

/// Decodes bytes with the prost types.
pub fn decode(bytes: &[u8]) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest::decode(bytes).expect("prost decodes tracewire's output")
}

/// Converts a decoded request back into the model.
pub fn model_of(req: &ExportTraceServiceRequest) -> Vec<Model> {
    req.resource_spans
        .iter()
        .map(|rs| {
            let resource = resource_from_proto(rs.resource.as_ref(), &rs.schema_url);
            let scopes = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    let scope = scope_from_proto(ss.scope.as_ref(), &ss.schema_url);
                    let spans = ss
                        .spans
                        .iter()
                        .map(|s| span_from_proto(s).expect("ids have OTLP lengths"))
                        .collect();
                    (scope, spans)
                })
                .collect();
            (resource, scopes)
        })
        .collect()
}

fn fp_value(v: &AnyValue, out: &mut String) {
    match v {
        AnyValue::Empty => out.push_str("empty"),
        AnyValue::String(s) => write!(out, "s{:?}", s).unwrap(),
        AnyValue::Bool(b) => write!(out, "b{b}").unwrap(),
        AnyValue::Int(i) => write!(out, "i{i}").unwrap(),
        // Doubles compare by bits: NaN payloads and -0.0 must survive.
        AnyValue::Double(d) => write!(out, "d{:016x}", d.to_bits()).unwrap(),
        AnyValue::Bytes(b) => write!(out, "x{:?}", b).unwrap(),
        AnyValue::Array(a) => {
            out.push('[');
            for v in a {
                fp_value(v, out);
                out.push(',');
            }
            out.push(']');
        }
        AnyValue::KvList(kvs) => {
            out.push('{');
            fp_kvs(kvs, out);
            out.push('}');
        }
    }
}

fn fp_kvs(kvs: &[KeyValue], out: &mut String) {
    for kv in kvs {
        write!(out, "{:?}=", kv.key).unwrap();
        fp_value(&kv.value, out);
        out.push(';');
    }
}

/// A string that is equal for two spans exactly when every field is equal
/// (doubles by bit pattern).
pub fn fingerprint(s: &SpanData) -> String {
    let mut out = String::new();
    write!(
        out,
        "trace={} span={} state={:?} parent={:?} flags={} name={:?} kind={:?} start={} end={} dropped_attrs={} dropped_events={} dropped_links={} status={:?}\nattrs:",
        s.trace_id, s.span_id, s.trace_state, s.parent_span_id, s.flags, s.name, s.kind,
        s.start_time_unix_nano, s.end_time_unix_nano, s.dropped_attributes_count,
        s.dropped_events_count, s.dropped_links_count, s.status
    )
    .unwrap();
    fp_kvs(&s.attributes, &mut out);
    for e in &s.events {
        write!(
            out,
            "\nevent t={} name={:?} dropped={} attrs:",
            e.time_unix_nano, e.name, e.dropped_attributes_count
        )
        .unwrap();
        fp_kvs(&e.attributes, &mut out);
    }
    for l in &s.links {
        write!(
            out,
            "\nlink trace={} span={} state={:?} flags={} dropped={} attrs:",
            l.trace_id, l.span_id, l.trace_state, l.flags, l.dropped_attributes_count
        )
        .unwrap();
        fp_kvs(&l.attributes, &mut out);
    }
    out
}

/// Fingerprint of a resource.
pub fn resource_fingerprint(r: &Resource) -> String {
    let mut out = format!(
        "schema={:?} dropped={} attrs:",
        r.schema_url, r.dropped_attributes_count
    );
    fp_kvs(&r.attributes, &mut out);
    out
}

/// Fingerprint of a scope.
pub fn scope_fingerprint(s: &InstrumentationScope) -> String {
    let mut out = format!(
        "name={:?} version={:?} schema={:?} dropped={} attrs:",
        s.name, s.version, s.schema_url, s.dropped_attributes_count
    );
    fp_kvs(&s.attributes, &mut out);
    out
}

/// proptest strategies over the span model.
pub mod strategy {
    use proptest::prelude::*;
    use tracewire::model::*;

    /// Strings: empty, ASCII, multi-byte UTF-8, occasionally long.
    pub fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => Just(String::new()),
            8 => "[a-z._]{1,24}",
            4 => "\\PC{0,40}",
            1 => "\\PC{1000,5000}",
            1 => proptest::collection::vec(any::<char>(), 0..64).prop_map(|c| c.into_iter().collect()),
        ]
    }

    pub fn double() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(-f64::NAN),
            Just(f64::from_bits(0x7ff0_0000_0000_0001)),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
        ]
    }

    pub fn int() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            Just(0),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(-1)
        ]
    }

    pub fn u64_edge() -> impl Strategy<Value = u64> {
        prop_oneof![any::<u64>(), Just(0), Just(u64::MAX), Just(1)]
    }

    pub fn u32_edge() -> impl Strategy<Value = u32> {
        prop_oneof![3 => Just(0u32), 1 => any::<u32>(), 1 => Just(u32::MAX)]
    }

    pub fn any_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            1 => Just(AnyValue::Empty),
            4 => text().prop_map(AnyValue::String),
            1 => any::<bool>().prop_map(AnyValue::Bool),
            2 => int().prop_map(AnyValue::Int),
            2 => double().prop_map(AnyValue::Double),
            1 => proptest::collection::vec(any::<u8>(), 0..64).prop_map(AnyValue::Bytes),
        ];
        // Up to 12 levels of nesting, well inside MAX_VALUE_DEPTH.
        leaf.prop_recursive(12, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(AnyValue::Array),
                proptest::collection::vec((text(), inner), 0..6).prop_map(|kvs| AnyValue::KvList(
                    kvs.into_iter()
                        .map(|(key, value)| KeyValue { key, value })
                        .collect()
                )),
            ]
        })
    }

    pub fn key_values(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
        proptest::collection::vec((text(), any_value()), 0..max).prop_map(|kvs| {
            kvs.into_iter()
                .map(|(key, value)| KeyValue { key, value })
                .collect()
        })
    }

    pub fn trace_id() -> impl Strategy<Value = TraceId> {
        any::<[u8; 16]>().prop_map(TraceId::from_bytes)
    }

    pub fn span_id() -> impl Strategy<Value = SpanId> {
        any::<[u8; 8]>().prop_map(SpanId::from_bytes)
    }

    pub fn kind() -> impl Strategy<Value = SpanKind> {
        (0i32..=5).prop_map(SpanKind::from_i32)
    }

    pub fn status() -> impl Strategy<Value = Option<Status>> {
        proptest::option::of((0i32..=2, text()).prop_map(|(code, message)| Status {
            code: match code {
                1 => StatusCode::Ok,
                2 => StatusCode::Error,
                _ => StatusCode::Unset,
            },
            message: message.into(),
        }))
    }

    pub fn event() -> impl Strategy<Value = Event> {
        (u64_edge(), text(), key_values(4), u32_edge()).prop_map(
            |(time_unix_nano, name, attributes, dropped_attributes_count)| Event {
                time_unix_nano,
                name,
                attributes,
                dropped_attributes_count,
            },
        )
    }

    pub fn link() -> impl Strategy<Value = Link> {
        (
            trace_id(),
            span_id(),
            text(),
            key_values(4),
            u32_edge(),
            u32_edge(),
        )
            .prop_map(
                |(trace_id, span_id, trace_state, attributes, dropped_attributes_count, flags)| {
                    Link {
                        trace_id,
                        span_id,
                        trace_state,
                        attributes,
                        dropped_attributes_count,
                        flags,
                    }
                },
            )
    }

    pub fn span() -> impl Strategy<Value = SpanData> {
        (
            (
                trace_id(),
                span_id(),
                text(),
                proptest::option::of(span_id()),
                u32_edge(),
                text(),
                kind(),
            ),
            (u64_edge(), u64_edge(), key_values(10), u32_edge()),
            (
                proptest::collection::vec(event(), 0..3),
                u32_edge(),
                proptest::collection::vec(link(), 0..3),
                u32_edge(),
                status(),
            ),
        )
            .prop_map(
                |(
                    (trace_id, span_id, trace_state, parent_span_id, flags, name, kind),
                    (
                        start_time_unix_nano,
                        end_time_unix_nano,
                        attributes,
                        dropped_attributes_count,
                    ),
                    (events, dropped_events_count, links, dropped_links_count, status),
                )| SpanData {
                    trace_id,
                    span_id,
                    trace_state,
                    parent_span_id,
                    flags,
                    name,
                    kind,
                    start_time_unix_nano,
                    end_time_unix_nano,
                    attributes,
                    dropped_attributes_count,
                    events,
                    dropped_events_count,
                    links,
                    dropped_links_count,
                    status,
                },
            )
    }

    pub fn resource() -> impl Strategy<Value = Resource> {
        (key_values(6), u32_edge(), text()).prop_map(
            |(attributes, dropped_attributes_count, schema_url)| Resource {
                attributes,
                dropped_attributes_count,
                schema_url,
            },
        )
    }

    pub fn scope() -> impl Strategy<Value = InstrumentationScope> {
        (text(), text(), key_values(3), u32_edge(), text()).prop_map(
            |(name, version, attributes, dropped_attributes_count, schema_url)| {
                InstrumentationScope {
                    name,
                    version,
                    attributes,
                    dropped_attributes_count,
                    schema_url,
                }
            },
        )
    }
}

pub mod collectors;
pub mod python;

/// In-process exporters for tests of the recording side (the transports
/// have their own tests against real collectors).
pub mod exporters {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use prost::Message;
    use tracewire::export::{BoxFuture, ExportError, ExportReport, ExportRequest, Exporter};
    use tracewire::proto::collector::trace::v1::ExportTraceServiceRequest;

    /// What a [`Capture`] exporter does with each request.
    #[derive(Clone, Copy, Debug)]
    pub enum Behaviour {
        /// Accept everything.
        Accept,
        /// Fail every `n`th request (1-based), accept the others.
        FailEvery(usize),
        /// Accept, but report `k` spans rejected per request.
        Reject(u64),
        /// Never answer.
        Hang,
        /// Answer after a delay.
        Slow(Duration),
    }

    /// Decodes and keeps every request it is given.
    #[derive(Clone)]
    pub struct Capture {
        pub requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
        pub spans_accepted: Arc<AtomicU64>,
        pub spans_seen: Arc<AtomicU64>,
        calls: Arc<AtomicUsize>,
        behaviour: Behaviour,
    }

    impl Capture {
        pub fn new(behaviour: Behaviour) -> Self {
            Capture {
                requests: Arc::default(),
                spans_accepted: Arc::default(),
                spans_seen: Arc::default(),
                calls: Arc::default(),
                behaviour,
            }
        }

        /// Every span received in accepted requests, in order.
        pub fn spans(&self) -> Vec<tracewire::proto::trace::v1::Span> {
            self.requests
                .lock()
                .unwrap()
                .iter()
                .flat_map(|r| r.resource_spans.iter())
                .flat_map(|rs| rs.scope_spans.iter())
                .flat_map(|ss| ss.spans.iter().cloned())
                .collect()
        }
    }

    impl Exporter for Capture {
        fn export(&self, request: ExportRequest) -> BoxFuture<'_, ExportReport> {
            Box::pin(async move {
                let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
                let decoded =
                    ExportTraceServiceRequest::decode(request.message()).expect("valid OTLP");
                let n: usize = decoded
                    .resource_spans
                    .iter()
                    .flat_map(|rs| rs.scope_spans.iter())
                    .map(|ss| ss.spans.len())
                    .sum();
                assert_eq!(
                    n, request.spans,
                    "request.spans matches the encoded request"
                );
                self.spans_seen.fetch_add(n as u64, Ordering::SeqCst);
                let bytes = request.message().len() as u64;
                match self.behaviour {
                    Behaviour::FailEvery(k) if call % k == 0 => {
                        return ExportReport::failure(
                            ExportError::Refused("test refusal".into()),
                            1,
                            bytes,
                        )
                    }
                    Behaviour::Hang => std::future::pending::<()>().await,
                    Behaviour::Slow(d) => tokio::time::sleep(d).await,
                    _ => {}
                }
                let rejected = match self.behaviour {
                    Behaviour::Reject(k) => k.min(n as u64),
                    _ => 0,
                };
                self.spans_accepted
                    .fetch_add(n as u64 - rejected, Ordering::SeqCst);
                self.requests.lock().unwrap().push(decoded);
                let mut report = ExportReport::success(bytes, Some(request.buffer));
                report.rejected = rejected;
                report
            })
        }
    }
}
