//! gRPC's wire format, shared by the exporter and the receiver: the export
//! method's path, status codes, the 5-byte message prefix, `grpc-timeout`,
//! `grpc-message` percent-encoding, and the final status read from a header
//! block.
//!
//! Sans-IO: nothing here knows about connections or streams. None of it
//! panics on peer input, and a hostile length prefix is refused before
//! anything is buffered for it.
//!
//! ```
//! use tracewire::internal::codec::grpc::{finish_frame, read_message};
//! let mut framed = vec![0u8; 5];
//! framed.extend_from_slice(b"msg");
//! finish_frame(&mut framed, false).unwrap();
//! assert_eq!(read_message(&framed, 1024), Ok(Some(&b"msg"[..])));
//! ```

use std::time::Duration;

use http::HeaderMap;

use super::response::{decode_status_details_bin, DecodeError, RpcStatus};

/// The method path of the OTLP trace export call.
pub(crate) const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// gRPC status codes tracewire distinguishes.
#[allow(missing_docs)]
pub mod code {
    pub const OK: u32 = 0;
    pub const CANCELLED: u32 = 1;
    pub const UNKNOWN: u32 = 2;
    pub const INVALID_ARGUMENT: u32 = 3;
    pub const DEADLINE_EXCEEDED: u32 = 4;
    pub const NOT_FOUND: u32 = 5;
    pub const PERMISSION_DENIED: u32 = 7;
    pub const RESOURCE_EXHAUSTED: u32 = 8;
    pub const ABORTED: u32 = 10;
    pub const OUT_OF_RANGE: u32 = 11;
    pub const UNIMPLEMENTED: u32 = 12;
    pub const INTERNAL: u32 = 13;
    pub const UNAVAILABLE: u32 = 14;
    pub const DATA_LOSS: u32 = 15;
    pub const UNAUTHENTICATED: u32 = 16;
}

/// The name of a gRPC status code.
pub(crate) fn code_name(c: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(c as usize).copied().unwrap_or("UNKNOWN")
}

/// The gRPC code for a non-200 HTTP status, as gRPC's HTTP mapping says.
pub(crate) fn code_for_http_status(status: u16) -> u32 {
    match status {
        400 => code::INTERNAL,
        401 => code::UNAUTHENTICATED,
        403 => code::PERMISSION_DENIED,
        404 => code::UNIMPLEMENTED,
        429 | 502 | 503 | 504 => code::UNAVAILABLE,
        _ => code::UNKNOWN,
    }
}

/// Encodes a `grpc-message` value: percent-encoded UTF-8, as gRPC sends it.
///
/// ```
/// use tracewire::internal::codec::grpc::{decode_grpc_message, encode_grpc_message};
/// let v = encode_grpc_message("quota exceeded: retry");
/// assert_eq!(decode_grpc_message(v.as_bytes()), "quota exceeded: retry");
/// ```
pub fn encode_grpc_message(message: &str) -> String {
    percent_encoding::utf8_percent_encode(message, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Decodes a `grpc-message` value (percent-encoded UTF-8, as gRPC sends it);
/// invalid sequences are replaced, never rejected.
pub fn decode_grpc_message(value: &[u8]) -> String {
    percent_encoding::percent_decode(value)
        .decode_utf8_lossy()
        .into_owned()
}

/// The largest gRPC response message tracewire reads (responses to exports
/// are a few bytes; anything near this is hostile).
pub(crate) const MAX_GRPC_RESPONSE: usize = 4 * 1024 * 1024;

/// Why a gRPC message could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The buffer has no room for the 5-byte prefix.
    #[error("no room for the 5-byte gRPC message prefix")]
    NoPrefix,
    /// The message is longer than a gRPC length prefix can say.
    #[error("message of {0} bytes is larger than gRPC's 4 GiB message limit; lower tracing.batch.maxExportBatchSize")]
    TooLarge(u64),
}

/// Reads the first length-prefixed gRPC message from `buf`: `Ok(None)` when
/// more bytes are needed, the message when complete. A prefix announcing
/// more than `max` bytes is an error before anything is buffered for it; a
/// compressed message is [`DecodeError::Compressed`] (the caller decides
/// whether it can decompress).
pub fn read_message(buf: &[u8], max: usize) -> Result<Option<&[u8]>, DecodeError> {
    let Some(prefix) = buf.get(..5) else {
        return Ok(None);
    };
    if prefix[0] & 1 != 0 {
        return Err(DecodeError::Compressed);
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]);
    if len as usize > max {
        return Err(DecodeError::TooLarge(u64::from(len)));
    }
    Ok(buf.get(5..5 + len as usize))
}

/// Writes gRPC's 5-byte message prefix (compressed flag, big-endian length)
/// into the first five bytes of `framed`, which the caller reserved before
/// writing the message: the message itself is never copied.
///
/// ```
/// use tracewire::internal::codec::grpc::finish_frame;
/// let mut framed = vec![0u8; 5 + 300];
/// finish_frame(&mut framed, false).unwrap();
/// assert_eq!(&framed[..5], &[0, 0, 0, 1, 44]);
/// ```
pub fn finish_frame(framed: &mut [u8], compressed: bool) -> Result<(), FrameError> {
    let len = framed.len().checked_sub(5).ok_or(FrameError::NoPrefix)?;
    let len32 = u32::try_from(len).map_err(|_| FrameError::TooLarge(len as u64))?;
    framed[0] = u8::from(compressed);
    framed[1..5].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

/// Formats a `grpc-timeout` header value: at most 8 digits and a unit,
/// rounded up so the server never sees a shorter deadline than ours.
///
/// ```
/// use std::time::Duration;
/// use tracewire::internal::codec::grpc::grpc_timeout;
/// assert_eq!(grpc_timeout(Duration::from_millis(1500)), "1500000u");
/// assert_eq!(grpc_timeout(Duration::from_micros(1)), "1000n");
/// ```
pub fn grpc_timeout(d: Duration) -> String {
    let nanos = d.as_nanos();
    let units: [(u128, char); 6] = [
        (1, 'n'),
        (1_000, 'u'),
        (1_000_000, 'm'),
        (1_000_000_000, 'S'),
        (60_000_000_000, 'M'),
        (3_600_000_000_000, 'H'),
    ];
    for (per, unit) in units {
        let value = nanos.div_ceil(per);
        if value < 100_000_000 {
            return format!("{value}{unit}");
        }
    }
    "99999999H".to_owned()
}

/// The final status of a call read from a header block (trailers, or the
/// headers of a trailers-only response): code, message, details.
pub fn status_from_headers(headers: &HeaderMap) -> Option<(u32, String, Option<RpcStatus>)> {
    let status = headers.get("grpc-status")?;
    let code = std::str::from_utf8(status.as_bytes())
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(code::UNKNOWN);
    let message = headers
        .get("grpc-message")
        .map(|v| decode_grpc_message(v.as_bytes()))
        .unwrap_or_default();
    let details = headers
        .get("grpc-status-details-bin")
        .and_then(|v| decode_status_details_bin(v.as_bytes()).ok());
    Some((code, message, details))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn grpc_framing() {
        assert_eq!(read_message(&[0, 0, 0], 10), Ok(None));
        assert_eq!(read_message(&[0, 0, 0, 0, 2, 7], 10), Ok(None));
        assert_eq!(
            read_message(&[0, 0, 0, 0, 2, 7, 8], 10),
            Ok(Some(&[7u8, 8][..]))
        );
        assert_eq!(
            read_message(&[0, 0xff, 0xff, 0xff, 0xff], 10),
            Err(DecodeError::TooLarge(u32::MAX as u64))
        );
        assert_eq!(
            read_message(&[1, 0, 0, 0, 0], 10),
            Err(DecodeError::Compressed)
        );
    }

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(grpc_timeout(Duration::from_secs(30)), "30000000u");
        assert_eq!(grpc_timeout(Duration::from_secs(300)), "300000m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "200000S");
        assert_eq!(grpc_timeout(Duration::ZERO), "0n");
    }

    #[test]
    fn grpc_message_percent_decoding() {
        assert_eq!(
            decode_grpc_message(b"quota%20exceeded%3A%20retry"),
            "quota exceeded: retry"
        );
        assert_eq!(decode_grpc_message(b"bad%ZZ"), "bad%ZZ");
    }

    #[test]
    fn status_from_trailers() {
        let mut h = HeaderMap::new();
        h.insert("grpc-status", HeaderValue::from_static("14"));
        h.insert(
            "grpc-message",
            HeaderValue::from_static("collector%20draining"),
        );
        let (c, m, d) = status_from_headers(&h).unwrap();
        assert_eq!((c, m.as_str(), d), (14, "collector draining", None));
        assert!(status_from_headers(&HeaderMap::new()).is_none());
        h.insert("grpc-status", HeaderValue::from_static("banana"));
        assert_eq!(status_from_headers(&h).unwrap().0, code::UNKNOWN);
    }

    #[test]
    fn http_statuses_map_to_grpc_codes() {
        assert_eq!(code_for_http_status(503), code::UNAVAILABLE);
        assert_eq!(code_for_http_status(401), code::UNAUTHENTICATED);
        assert_eq!(code_for_http_status(418), code::UNKNOWN);
    }

    #[test]
    fn frames_need_their_prefix_room() {
        assert_eq!(
            finish_frame(&mut [0u8; 4], false),
            Err(FrameError::NoPrefix)
        );
        let mut framed = [0u8; 6];
        finish_frame(&mut framed, true).unwrap();
        assert_eq!(framed, [1, 0, 0, 0, 1, 0]);
    }
}
