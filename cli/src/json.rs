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

/// The JSON lines of a request would pass the limit given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge(pub usize);

/// A buffer that refuses to grow past its limit (serde_json then stops
/// with an error).
struct Capped {
    buf: Vec<u8>,
    max: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len().saturating_add(data.len()) > self.max {
            return Err(std::io::Error::other("over the limit"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn to_json(v: &impl serde::Serialize, max: usize) -> Result<Vec<u8>, TooLarge> {
    let mut w = Capped {
        buf: Vec::new(),
        max,
    };
    serde_json::to_writer(&mut w, v).map_err(|_| TooLarge(max))?;
    Ok(w.buf)
}

/// The error for output that passed `max`, whatever the writer said.
fn over<E>(max: usize) -> impl FnOnce(E) -> TooLarge {
    move |_| TooLarge(max)
}

/// The JSON lines of `req`, one object per span, in order, each ending in
/// a newline; or [`TooLarge`] as soon as they would pass `max` bytes.
///
/// Each span's line repeats its resource and scope; they are serialized
/// once per `ResourceSpans` / `ScopeSpans` and copied, and each line is
/// written straight into the buffer, so memory is the output's size and
/// no more.
pub fn lines(req: &ExportTraceServiceRequest, max: usize) -> Result<Vec<u8>, TooLarge> {
    use std::io::Write as _;
    let mut out = Capped {
        buf: Vec::new(),
        max,
    };
    for rs in &req.resource_spans {
        let resource = to_json(
            &attributes(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes)),
            max,
        )?;
        for ss in &rs.scope_spans {
            let scope = to_json(
                &json!({
                    "name": ss.scope.as_ref().map_or("", |s| s.name.as_str()),
                    "version": ss.scope.as_ref().map_or("", |s| s.version.as_str()),
                }),
                max,
            )?;
            for s in &ss.spans {
                let status = s.status.as_ref();
                // The keys in sorted order, as serde_json writes an object.
                let w = &mut out;
                w.write_all(b"{\"attributes\":").map_err(over(max))?;
                serde_json::to_writer(&mut *w, &attributes(&s.attributes)).map_err(over(max))?;
                write!(w, ",\"end_time_unix_nano\":{}", s.end_time_unix_nano).map_err(over(max))?;
                write!(w, ",\"kind\":\"{}\"", SpanKind::from_i32(s.kind).as_str())
                    .map_err(over(max))?;
                w.write_all(b",\"name\":").map_err(over(max))?;
                serde_json::to_writer(&mut *w, &s.name).map_err(over(max))?;
                write!(w, ",\"parent_span_id\":\"{}\"", hex(&s.parent_span_id))
                    .map_err(over(max))?;
                w.write_all(b",\"resource\":").map_err(over(max))?;
                w.write_all(&resource).map_err(over(max))?;
                w.write_all(b",\"scope\":").map_err(over(max))?;
                w.write_all(&scope).map_err(over(max))?;
                write!(w, ",\"span_id\":\"{}\"", hex(&s.span_id)).map_err(over(max))?;
                write!(w, ",\"start_time_unix_nano\":{}", s.start_time_unix_nano)
                    .map_err(over(max))?;
                write!(
                    w,
                    ",\"status\":{{\"code\":\"{}\",\"message\":",
                    status_code(status.map_or(0, |st| st.code))
                )
                .map_err(over(max))?;
                serde_json::to_writer(&mut *w, status.map_or("", |st| st.message.as_str()))
                    .map_err(over(max))?;
                writeln!(w, "}},\"trace_id\":\"{}\"}}", hex(&s.trace_id)).map_err(over(max))?;
            }
        }
    }
    Ok(out.buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracewire::proto::common::v1::InstrumentationScope;
    use tracewire::proto::resource::v1::Resource;
    use tracewire::proto::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

    fn request() -> ExportTraceServiceRequest {
        let span = Span {
            trace_id: vec![0xab; 16],
            span_id: vec![0xcd; 8],
            name: "GET /\"quoted\"\n".into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_001,
            end_time_unix_nano: 1_700_000_000_000_000_002,
            attributes: vec![
                KeyValue {
                    key: "d".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::DoubleValue(f64::NAN)),
                    }),
                    ..Default::default()
                },
                KeyValue {
                    key: "a".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("x".into())),
                    }),
                    ..Default::default()
                },
            ],
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue("edge".into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: "s".into(),
                        version: "1".into(),
                        ..Default::default()
                    }),
                    spans: vec![span, Span::default()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// The format as it was first written: a `serde_json::Value` per span.
    fn reference(req: &ExportTraceServiceRequest) -> String {
        let mut out = String::new();
        for rs in &req.resource_spans {
            let resource = attributes(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
            for ss in &rs.scope_spans {
                let scope = json!({
                    "name": ss.scope.as_ref().map_or("", |s| s.name.as_str()),
                    "version": ss.scope.as_ref().map_or("", |s| s.version.as_str()),
                });
                for s in &ss.spans {
                    let status = s.status.as_ref();
                    out += &serde_json::to_string(&json!({
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
                    }))
                    .unwrap();
                    out.push('\n');
                }
            }
        }
        out
    }

    #[test]
    fn the_documented_keys() {
        let out = lines(&request(), usize::MAX).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, reference(&request()), "byte for byte the same format");
        let v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(v["trace_id"], "abababababababababababababababab");
        assert_eq!(v["parent_span_id"], "");
        assert_eq!(v["kind"], "SERVER");
        assert_eq!(v["start_time_unix_nano"], 1_700_000_000_000_000_001u64);
        assert_eq!(v["attributes"]["d"], "NaN");
        assert_eq!(v["resource"]["service.name"], "edge");
        assert_eq!(v["scope"]["version"], "1");
        assert_eq!(v["status"]["code"], "ERROR");
        assert!(
            text.contains("\"start_time_unix_nano\":1700000000000000001"),
            "exact integers: {text}"
        );
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn the_output_is_capped() {
        let full = lines(&request(), usize::MAX).unwrap();
        assert_eq!(lines(&request(), full.len()).unwrap(), full);
        assert_eq!(
            lines(&request(), full.len() - 1),
            Err(TooLarge(full.len() - 1))
        );
        // A large resource repeated on many spans: refused at the cap, not
        // built in full.
        let mut req = request();
        let rs = &mut req.resource_spans[0];
        rs.resource.as_mut().unwrap().attributes[0].value = Some(AnyValue {
            value: Some(any_value::Value::StringValue("r".repeat(100_000))),
        });
        rs.scope_spans[0].spans = vec![Span::default(); 10_000];
        assert_eq!(lines(&req, 1 << 20), Err(TooLarge(1 << 20)));
    }
}
