//! The B3 and W3C Baggage parsers, and every `OTEL_PROPAGATORS` format
//! reading a request's headers, never panic on hostile bytes; an accepted
//! B3 context re-formats and re-parses to itself (both forms), and accepted
//! baggage is stable under re-parsing and within its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracewire::propagation::b3::{format_b3, format_b3_multi, parse_b3, parse_b3_multi};
use tracewire::propagation::baggage::{Baggage, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS};
use tracewire::propagation::{Propagator, Propagators};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(ctx)) = parse_b3(data) {
        let mut buf = [0u8; 51];
        let single = format_b3(&ctx, &mut buf).to_owned();
        assert_eq!(parse_b3(single.as_bytes()), Ok(Some(ctx.clone())));
        let (mut t, mut s) = ([0u8; 32], [0u8; 16]);
        let (trace, span, sampled) = format_b3_multi(&ctx, &mut t, &mut s);
        let multi = parse_b3_multi(
            Some(trace.as_bytes()),
            Some(span.as_bytes()),
            Some(sampled.as_bytes()),
            None,
        );
        assert_eq!(multi, Ok(ctx));
    }
    // Up to four header values, split at newlines.
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let (a, b, c, d) = (parts.next(), parts.next(), parts.next(), parts.next());
    let _ = parse_b3_multi(a, b, c, d);
    let baggage = Baggage::parse(data.split(|&b| b == b'\n'));
    assert!(baggage.as_str().len() <= MAX_BAGGAGE_BYTES);
    assert!(baggage.as_str().split(',').count() <= MAX_BAGGAGE_MEMBERS);
    assert_eq!(Baggage::parse([baggage.as_str().as_bytes()]), baggage);
    let _ = baggage.get("k");
    let mut headers = http::HeaderMap::new();
    for (name, value) in ["traceparent", "tracestate", "baggage", "b3", "x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags"]
        .into_iter()
        .zip(data.split(|&b| b == b'\n'))
    {
        if let Ok(v) = http::HeaderValue::from_bytes(value) {
            headers.insert(name, v);
        }
    }
    let all = Propagators::new([
        Propagator::TraceContext,
        Propagator::Baggage,
        Propagator::B3,
        Propagator::B3Multi,
    ]);
    let found = all.extract(&headers);
    if let Some(ctx) = &found.context {
        let mut out = http::HeaderMap::new();
        all.inject(ctx, &found.baggage, &mut out);
        assert_eq!(all.extract(&out).context.map(|c| c.trace_id()), Some(ctx.trace_id()));
    }
});
