//! The W3C parsers never panic; an accepted version-00 `traceparent`
//! re-formats to the same header, any accepted one re-parses to the same
//! context, and an accepted `tracestate` is stable under re-parsing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracewire::propagation::{format_traceparent, parse_traceparent, parse_tracestate};

fuzz_target!(|data: &[u8]| {
    if let Ok(ctx) = parse_traceparent(data) {
        let mut buf = [0u8; 55];
        let formatted = format_traceparent(&ctx, &mut buf).to_owned();
        let trimmed = data.trim_ascii();
        if trimmed.starts_with(b"00-") {
            assert_eq!(formatted.as_bytes(), trimmed, "version 00 round-trips exactly");
        }
        let again = parse_traceparent(formatted.as_bytes()).expect("what we format, we parse");
        assert_eq!(again.trace_id(), ctx.trace_id());
        assert_eq!(again.span_id(), ctx.span_id());
        assert_eq!(again.trace_flags(), ctx.trace_flags());
    }
    let halves = data.split(|&b| b == b'\n');
    if let Ok(state) = parse_tracestate(halves) {
        let again = parse_tracestate([state.as_str().as_bytes()]).expect("normalized state re-parses");
        assert_eq!(again, state);
        assert!(state.as_str().split(',').filter(|m| !m.is_empty()).count() <= 32);
    }
});
