//! The embedded receiver's decode path on arbitrary bodies, both protocols,
//! with and without gzip: errors, never panics; what it accepts re-encodes
//! to something it accepts again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tracewire::receive::{decode_grpc_body, decode_http_body, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let limits = {
        let mut c = Limits::default();
        c.max_request_bytes = 1 << 20;
        c.max_decompressed_bytes = 1 << 20;
        c.max_spans = 10_000;
        c.max_decoded_bytes = 16 << 20;
        c
    };
    let encoding: Option<&[u8]> = match selector % 3 {
        0 => None,
        1 => Some(b"gzip"),
        _ => Some(b"identity"),
    };
    let decoded = if selector & 0x80 == 0 {
        decode_http_body(body, encoding, &limits)
    } else {
        decode_grpc_body(body, encoding, &limits)
    };
    if let Ok(req) = decoded {
        let again = req.encode_to_vec();
        // Re-encoding merges repeated occurrences of a field, which can
        // change the decoded-size estimate a little: the oracle checks the
        // round trip, not the limits.
        let unlimited = {
            let mut c = Limits::default();
            c.max_request_bytes = usize::MAX;
            c.max_decompressed_bytes = usize::MAX;
            c.max_spans = usize::MAX;
            c.max_decoded_bytes = usize::MAX;
            c
        };
        let back = decode_http_body(&again, None, &unlimited).expect("re-encoded request decodes");
        assert_eq!(back.encode_to_vec(), again);
    }
});
