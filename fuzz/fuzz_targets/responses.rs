//! The HTTP and gRPC response handling (status codes, Retry-After,
//! trailers, grpc-status-details-bin, partial-success bodies, gRPC framing)
//! never panics and never reads past its bound.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use tracewire::internal::codec::grpc::{decode_grpc_message, read_message, status_from_headers};
use tracewire::internal::codec::response::*;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    match selector % 8 {
        0 => {
            let _ = decode_export_response(rest);
        }
        1 => {
            if let Ok(st) = decode_rpc_status(rest) {
                // A decoded message never exceeds its input.
                assert!(st.message.len() <= rest.len());
            }
        }
        2 => {
            let _ = decode_status_details_bin(rest);
            let _ = decode_grpc_message(rest);
        }
        3 => {
            let max = 1 + (rest.first().copied().unwrap_or(0) as usize) * 16;
            match read_message(rest, max) {
                Ok(Some(m)) => assert!(m.len() <= max && m.len() + 5 <= rest.len()),
                Ok(None) | Err(_) => {}
            }
        }
        4 => {
            let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
            let _ = parse_retry_after(rest, now);
        }
        5 => {
            // A whole HTTP response: status from the first two bytes.
            let code = u16::from_be_bytes([rest.first().copied().unwrap_or(0), rest.get(1).copied().unwrap_or(0)]);
            if let Ok(status) = http::StatusCode::from_u16(code) {
                let body = rest.get(2..).unwrap_or(&[]);
                let (ra, body) = body.split_at(body.len().min(8));
                let _ = tracewire::internal::otlp_http::classify(status, Some(ra), body, false, SystemTime::now());
            }
        }
        6 => {
            // Trailers: `name: value` lines.
            let mut headers = http::HeaderMap::new();
            for line in rest.split(|&b| b == b'\n') {
                if let Some(i) = line.iter().position(|&b| b == b':') {
                    if let (Ok(n), Ok(v)) = (
                        http::HeaderName::from_bytes(&line[..i]),
                        http::HeaderValue::from_bytes(line[i + 1..].trim_ascii()),
                    ) {
                        headers.append(n, v);
                    }
                }
            }
            if let Some((code, message, details)) = status_from_headers(&headers) {
                let _ = tracewire::internal::otlp_grpc::classify(code, &message, details.as_ref(), Some(rest));
            }
        }
        _ => {
            // gzip bodies, with a small decompression bound.
            let limits = {
                let mut c = tracewire::receive::Limits::default();
                c.max_request_bytes = 1 << 16;
                c.max_decompressed_bytes = 1 << 16;
                c
            };
            if let Err(tracewire::receive::ReceiveError::DecompressedTooLarge(n)) =
                tracewire::receive::decode_http_body(rest, Some(b"gzip"), &limits)
            {
                assert_eq!(n, limits.max_decompressed_bytes);
            }
        }
    }
});
