//! Splitting an encoded `ExportTraceServiceRequest` by trace id (a fleet's
//! failover path) never panics, and when it succeeds every span lands in
//! exactly one part: the parts of a request that decodes decode, and hold
//! its spans, each once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tracewire::internal::fleet::split_request;
use tracewire::proto::collector::trace::v1::ExportTraceServiceRequest;

fuzz_target!(|data: &[u8]| {
    let pick = |t: &[u8; 16]| usize::from(t[15] % 3);
    let Ok(parts) = split_request(data, 5, pick) else { return };
    let mut total = 0;
    for p in &parts {
        assert_eq!(&p.buffer[..5], &[0; 5]);
        total += p.spans;
    }
    if let Ok(whole) = ExportTraceServiceRequest::decode(data) {
        for p in &parts {
            let req = ExportTraceServiceRequest::decode(&p.buffer[5..]).expect("a part decodes");
            let n: usize = req
                .resource_spans
                .iter()
                .flat_map(|rs| &rs.scope_spans)
                .map(|ss| ss.spans.len())
                .sum();
            assert_eq!(n, p.spans);
        }
        let spans: usize = whole
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .map(|ss| ss.spans.len())
            .sum();
        assert_eq!(total, spans, "a span was lost or duplicated");
    }
});
