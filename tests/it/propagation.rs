//! Propagation against the OpenTelemetry Python API's own propagators
//! (opentelemetry-api's W3C Trace Context and Baggage,
//! opentelemetry-propagator-b3's B3 single and multi; provisioned under
//! target/ on first use): what Python injects, tracewire extracts; what
//! tracewire injects, Python extracts; baggage comes through unchanged.
//! Plus `OTEL_PROPAGATORS` in the configuration.

use crate::common;

use common::python::otel_python;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{json, Value};
use tracewire::model::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use tracewire::propagation::baggage::Baggage;
use tracewire::propagation::{Propagator, Propagators};

const TRACE: &str = "80f198ee56343ba864fe8b2a57d3eff7";
const SPAN: &str = "e457b5a2e4d86bd1";

fn headers_of(v: &Value) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in v.as_object().unwrap() {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v.as_str().unwrap()).unwrap(),
        );
    }
    h
}

fn json_of(h: &HeaderMap) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in h {
        m.insert(k.as_str().to_owned(), json!(v.to_str().unwrap()));
    }
    Value::Object(m)
}

#[test]
fn contexts_python_injects_are_the_ones_tracewire_extracts() {
    for (name, format) in [
        ("tracecontext", Propagator::TraceContext),
        ("b3", Propagator::B3),
        ("b3multi", Propagator::B3Multi),
    ] {
        for sampled in [true, false] {
            let headers = otel_python(&json!({
                "op": "inject", "propagator": name,
                "trace_id": TRACE, "span_id": SPAN, "sampled": sampled,
            }));
            let found = Propagators::new([format]).extract(&headers_of(&headers));
            let ctx = found
                .context
                .unwrap_or_else(|| panic!("{name}: nothing extracted from {headers}"));
            assert_eq!(ctx.trace_id().to_string(), TRACE, "{name} {headers}");
            assert_eq!(ctx.span_id().to_string(), SPAN, "{name} {headers}");
            assert_eq!(ctx.is_sampled(), sampled, "{name} {headers}");
            assert!(ctx.is_remote());
        }
    }
}

#[test]
fn contexts_tracewire_injects_are_the_ones_python_extracts() {
    for (name, format) in [
        ("tracecontext", Propagator::TraceContext),
        ("b3", Propagator::B3),
        ("b3multi", Propagator::B3Multi),
    ] {
        for sampled in [true, false] {
            let ctx = SpanContext::new(
                TraceId::from_hex(TRACE).unwrap(),
                SpanId::from_hex(SPAN).unwrap(),
                TraceFlags::new(0).with_sampled(sampled),
                false,
                TraceState::EMPTY,
            );
            let mut h = HeaderMap::new();
            // Stale B3 headers a proxy may have forwarded: never carried on.
            h.insert("x-b3-parentspanid", "05e3ac9a4f6e3b90".parse().unwrap());
            Propagators::new([format]).inject(&ctx, &Baggage::EMPTY, &mut h);
            let got = otel_python(&json!({
                "op": "extract", "propagator": name, "headers": json_of(&h),
            }));
            assert_eq!(got["valid"], true, "{name}: {h:?} -> {got}");
            assert_eq!(got["trace_id"], TRACE, "{name}: {got}");
            assert_eq!(got["span_id"], SPAN, "{name}: {got}");
            assert_eq!(got["sampled"], sampled, "{name}: {got}");
            if format == Propagator::B3Multi {
                assert!(!h.contains_key("x-b3-parentspanid"), "{h:?}");
            }
        }
    }
}

#[test]
fn baggage_from_python_is_carried_on_unchanged() {
    let entries = [
        ("userId", "alice"),
        ("serverNode", "DF 28"),
        ("isProduction", "false"),
        ("note", "a,b;c=d%e"),
        ("city", "Zürich"),
    ];
    let headers = otel_python(&json!({
        "op": "inject", "propagator": "baggage",
        "trace_id": TRACE, "span_id": SPAN, "sampled": true,
        "baggage": entries,
    }));
    let sent = headers["baggage"].as_str().unwrap().to_owned();
    let found = Propagators::default().extract(&headers_of(&headers));
    assert!(found.context.is_none());
    for (k, v) in entries {
        if v.contains(' ') {
            // Python writes a space as `+` (quote_plus); W3C Baggage is
            // percent-encoding, where `+` is a `+`: tracewire reads it so,
            // and carries it on as written (below, Python reads its space).
            assert_eq!(found.baggage.get(k).as_deref(), Some(&*v.replace(' ', "+")));
            continue;
        }
        assert_eq!(found.baggage.get(k).as_deref(), Some(v), "{k} in {sent}");
    }
    // Re-injected byte for byte, and Python reads the same entries back.
    let mut upstream = HeaderMap::new();
    let ctx = SpanContext::new(
        TraceId::from_hex(TRACE).unwrap(),
        SpanId::from_hex(SPAN).unwrap(),
        TraceFlags::SAMPLED,
        false,
        TraceState::EMPTY,
    );
    Propagators::default().inject(&ctx, &found.baggage, &mut upstream);
    assert_eq!(upstream["baggage"], sent.as_str());
    let got = otel_python(&json!({
        "op": "extract", "propagator": "baggage", "headers": json_of(&upstream),
    }));
    let expected: serde_json::Map<String, Value> = entries
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    assert_eq!(got["baggage"], Value::Object(expected), "{got}");
}

#[test]
fn otel_propagators_selects_the_formats() {
    let env = |v: &'static str| move |k: &str| (k == "OTEL_PROPAGATORS").then(|| v.to_owned());
    let c = tracewire::config::load(None, &[] as &[&str], env("b3multi, tracecontext")).unwrap();
    assert_eq!(
        c.propagators.formats(),
        &[Propagator::B3Multi, Propagator::TraceContext]
    );
    let c = tracewire::config::load(None, &[] as &[&str], |_| None).unwrap();
    assert_eq!(c.propagators, Propagators::default());
    let c = tracewire::config::load(None, &[] as &[&str], env("none")).unwrap();
    assert!(c.propagators.formats().is_empty());
    let err = tracewire::config::load(None, &[] as &[&str], env("tracecontext,jaeger"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OTEL_PROPAGATORS") && err.contains("\"jaeger\"") && err.contains("b3multi"),
        "{err}"
    );
}
