//! The JSON-lines span format of `tracewire receive --jsonl`: one object
//! per span, a stable format documented in the README.

use base64::Engine as _;
use serde_json::{json, Map, Value};
use tracewire::model::SpanKind;
use tracewire::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracewire::proto::common::v1::{any_value, AnyValue, KeyValue};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn value(v: Option<&AnyValue>) -> Value {
    match v.and_then(|v| v.value.as_ref()) {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(d)) => match serde_json::Number::from_f64(*d) {
            Some(n) => Value::Number(n),
            // JSON has no NaN or infinities.
            None => Value::String(if d.is_nan() {
                "NaN".into()
            } else if *d > 0.0 {
                "Infinity".into()
            } else {
                "-Infinity".into()
            }),
        },
        Some(any_value::Value::BytesValue(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(|v| value(Some(v))).collect())
        }
        Some(any_value::Value::KvlistValue(l)) => attributes(&l.values),
        Some(any_value::Value::StringValueStrindex(i)) => json!(i),
    }
}

fn attributes(kvs: &[KeyValue]) -> Value {
    let mut m = Map::new();
    for kv in kvs {
        m.insert(kv.key.clone(), value(kv.value.as_ref()));
    }
    Value::Object(m)
}

fn status_code(code: i32) -> &'static str {
    match code {
        1 => "OK",
        2 => "ERROR",
        _ => "UNSET",
    }
}

/// One JSON object per span in `req`, in order.
pub fn spans(req: &ExportTraceServiceRequest) -> Vec<Value> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let resource = attributes(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
        for ss in &rs.scope_spans {
            let scope = json!({
                "name": ss.scope.as_ref().map_or("", |s| s.name.as_str()),
                "version": ss.scope.as_ref().map_or("", |s| s.version.as_str()),
            });
            for s in &ss.spans {
                let status = s.status.as_ref();
                out.push(json!({
                    "trace_id": hex(&s.trace_id),
                    "span_id": hex(&s.span_id),
                    "parent_span_id": hex(&s.parent_span_id),
                    "name": s.name,
                    "kind": SpanKind::from_i32(s.kind).as_str(),
                    "start_time_unix_nano": s.start_time_unix_nano,
                    "end_time_unix_nano": s.end_time_unix_nano,
                    "attributes": attributes(&s.attributes),
                    "resource": resource.clone(),
                    "scope": scope.clone(),
                    "status": {
                        "code": status_code(status.map_or(0, |st| st.code)),
                        "message": status.map_or("", |st| st.message.as_str()),
                    },
                }));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracewire::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

    #[test]
    fn the_documented_keys() {
        let req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0xcd; 8],
                        name: "GET /".into(),
                        kind: 2,
                        start_time_unix_nano: 1_700_000_000_000_000_001,
                        end_time_unix_nano: 1_700_000_000_000_000_002,
                        attributes: vec![KeyValue {
                            key: "d".into(),
                            value: Some(AnyValue {
                                value: Some(any_value::Value::DoubleValue(f64::NAN)),
                            }),
                            ..Default::default()
                        }],
                        status: Some(Status {
                            code: 2,
                            message: "boom".into(),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let v = &spans(&req)[0];
        assert_eq!(v["trace_id"], "abababababababababababababababab");
        assert_eq!(v["parent_span_id"], "");
        assert_eq!(v["kind"], "SERVER");
        assert_eq!(v["start_time_unix_nano"], 1_700_000_000_000_000_001u64);
        assert_eq!(v["attributes"]["d"], "NaN");
        assert_eq!(v["status"]["code"], "ERROR");
        let line = serde_json::to_string(v).unwrap();
        assert!(
            line.contains("\"start_time_unix_nano\":1700000000000000001"),
            "exact integers: {line}"
        );
    }
}
