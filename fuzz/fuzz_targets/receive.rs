//! The embedded receiver's decode path on arbitrary bodies, both protocols,
//! with and without gzip: errors, never panics; what it accepts re-encodes
//! to something it accepts again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use tracewire::receive::{decode_grpc_body, decode_http_body, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let limits = Limits {
        max_request_bytes: 1 << 20,
        max_decompressed_bytes: 1 << 20,
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
        let back = decode_http_body(&again, None, &limits).expect("re-encoded request decodes");
        assert_eq!(back.encode_to_vec(), again);
    }
});
