//! Decoding what an OTLP client sends, sans-IO: an OTLP/HTTP body (by its
//! `Content-Encoding`) or a gRPC message (by its `grpc-encoding`), within
//! [`Limits`], into the prost `ExportTraceServiceRequest`.
//!
//! Hostile input gets an error, never a panic and never more memory than
//! the limits allow: the body is bounded on the wire and once inflated, and
//! `scan` counts the spans and estimates the decoded size before prost
//! builds anything. The fuzz target `receive` holds it to that.

use prost::Message;

use super::scan::{scan, ScanError};
use crate::codec::gzip::{self, InflateError};
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;

/// Limits on what one request may cost. Each has a `tracewire receive` flag
/// of the same name (`max_spans`: `--max-spans-per-request`), which the
/// refusal names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request body on the wire (default 16 MiB).
    pub max_request_bytes: usize,
    /// Largest body after gzip decompression (default 64 MiB).
    pub max_decompressed_bytes: usize,
    /// Most spans in one request (default 100,000).
    pub max_spans: usize,
    /// Largest estimated size of a request once decoded, in memory
    /// (default 128 MiB; a proxy's spans take about 4 times their size on
    /// the wire); `tracewire receive --jsonl` also holds one request's JSON
    /// lines to it.
    pub max_decoded_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            max_spans: 100_000,
            max_decoded_bytes: 128 << 20,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// The body is larger than the limit.
    #[error(
        "request body larger than {0} bytes, the limit set by --max-request-bytes; \
         send smaller batches or raise --max-request-bytes"
    )]
    TooLarge(usize),
    /// gzip inflated past the limit (a gzip bomb, or just too much).
    #[error(
        "decompressed body larger than {0} bytes, the limit set by --max-decompressed-bytes; \
         send smaller batches or raise --max-decompressed-bytes"
    )]
    DecompressedTooLarge(usize),
    /// More spans than the limit.
    #[error(
        "request has more than {0} spans, the limit set by --max-spans-per-request; \
         send smaller batches or raise --max-spans-per-request"
    )]
    TooManySpans(usize),
    /// The decoded request would take more memory than the limit.
    #[error(
        "request would take more than {0} bytes once decoded, the limit set by \
         --max-decoded-bytes; send smaller batches or raise --max-decoded-bytes"
    )]
    DecodedTooLarge(usize),
    /// The body is not valid gzip.
    #[error("invalid gzip body: {0}")]
    Gzip(String),
    /// An encoding the receiver does not support.
    #[error("unsupported content encoding {0:?} (supported: gzip, identity)")]
    Encoding(String),
    /// The body is not an `ExportTraceServiceRequest`.
    #[error("malformed ExportTraceServiceRequest: {0}")]
    Protobuf(String),
    /// The gRPC framing is wrong.
    #[error("malformed gRPC message: {0}")]
    Framing(String),
}

impl ReceiveError {
    /// Whether the request was refused for a limit (well-formed, but too
    /// much): gRPC `RESOURCE_EXHAUSTED` rather than `INVALID_ARGUMENT`.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            ReceiveError::TooLarge(_)
                | ReceiveError::DecompressedTooLarge(_)
                | ReceiveError::TooManySpans(_)
                | ReceiveError::DecodedTooLarge(_)
        )
    }
}

fn gunzip(body: &[u8], limits: &Limits) -> Result<Vec<u8>, ReceiveError> {
    // `decompress` reads one byte past its limit to see it passed.
    let limit = limits.max_decompressed_bytes.min(usize::MAX - 1);
    gzip::decompress(body, limit).map_err(|e| match e {
        InflateError::TooLarge(_) => {
            ReceiveError::DecompressedTooLarge(limits.max_decompressed_bytes)
        }
        InflateError::Invalid(reason) => ReceiveError::Gzip(reason),
    })
}

fn decode(bytes: &[u8], limits: &Limits) -> Result<ExportTraceServiceRequest, ReceiveError> {
    scan(bytes, limits.max_spans, limits.max_decoded_bytes).map_err(|e| match e {
        ScanError::TooManySpans => ReceiveError::TooManySpans(limits.max_spans),
        ScanError::TooLarge => ReceiveError::DecodedTooLarge(limits.max_decoded_bytes),
        ScanError::Malformed(why) => ReceiveError::Protobuf(why.into()),
    })?;
    ExportTraceServiceRequest::decode(bytes).map_err(|e| ReceiveError::Protobuf(e.to_string()))
}

/// Decodes an OTLP/HTTP request body given its `Content-Encoding`.
///
/// ```
/// use tracewire::receive::{decode_http_body, Limits};
/// assert!(decode_http_body(b"", None, &Limits::default()).unwrap().resource_spans.is_empty());
/// assert!(decode_http_body(b"\xff\xff", None, &Limits::default()).is_err());
/// ```
pub fn decode_http_body(
    body: &[u8],
    content_encoding: Option<&[u8]>,
    limits: &Limits,
) -> Result<ExportTraceServiceRequest, ReceiveError> {
    if body.len() > limits.max_request_bytes {
        return Err(ReceiveError::TooLarge(limits.max_request_bytes));
    }
    match content_encoding.map(|e| e.trim_ascii()) {
        None | Some(b"identity") | Some(b"") => decode(body, limits),
        Some(e) if e.eq_ignore_ascii_case(b"gzip") => decode(&gunzip(body, limits)?, limits),
        Some(other) => Err(ReceiveError::Encoding(
            String::from_utf8_lossy(other).into_owned(),
        )),
    }
}

/// The message length a gRPC body's 5-byte prefix announces (`None` until
/// five bytes are in), so that a server can refuse an oversized message as
/// soon as its prefix arrives.
///
/// ```
/// use tracewire::receive::grpc_announced_len;
/// assert_eq!(grpc_announced_len(&[0, 0, 0, 1, 0, 7]), Some(256));
/// assert_eq!(grpc_announced_len(&[0, 0]), None);
/// ```
pub fn grpc_announced_len(body: &[u8]) -> Option<usize> {
    let p = body.get(..5)?;
    usize::try_from(u32::from_be_bytes([p[1], p[2], p[3], p[4]])).ok()
}

/// Decodes a gRPC request body (one length-prefixed message) given its
/// `grpc-encoding`.
pub fn decode_grpc_body(
    body: &[u8],
    grpc_encoding: Option<&[u8]>,
    limits: &Limits,
) -> Result<ExportTraceServiceRequest, ReceiveError> {
    let (flags, rest) = match (body.first(), body.get(5..)) {
        (Some(&flags), Some(rest)) => (flags, rest),
        _ => {
            return Err(ReceiveError::Framing(
                "shorter than the 5-byte prefix".into(),
            ))
        }
    };
    let len = grpc_announced_len(body)
        .ok_or_else(|| ReceiveError::Framing("the length does not fit in memory".into()))?;
    if len > limits.max_request_bytes {
        return Err(ReceiveError::TooLarge(limits.max_request_bytes));
    }
    let msg = rest.get(..len).ok_or_else(|| {
        ReceiveError::Framing(format!(
            "prefix announces {len} bytes, {} follow",
            rest.len()
        ))
    })?;
    if rest.len() != len {
        return Err(ReceiveError::Framing(
            "more than one message in a unary call".into(),
        ));
    }
    if flags & 1 == 0 {
        return decode(msg, limits);
    }
    match grpc_encoding.map(|e| e.trim_ascii()) {
        Some(e) if e.eq_ignore_ascii_case(b"gzip") => decode(&gunzip(msg, limits)?, limits),
        Some(other) => Err(ReceiveError::Encoding(
            String::from_utf8_lossy(other).into_owned(),
        )),
        None => Err(ReceiveError::Framing(
            "compressed message without grpc-encoding".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// gzip at its best level: a bomb as small as an attacker makes it
    /// (the exporter's fastest level compresses runs of zeros less).
    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gzip_bombs_are_refused() {
        let limits = Limits {
            max_request_bytes: 1 << 20,
            max_decompressed_bytes: 1 << 16,
            ..Limits::default()
        };
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 8 * 1024, "a small body that inflates a lot");
        assert_eq!(
            decode_http_body(&bomb, Some(b"gzip"), &limits),
            Err(ReceiveError::DecompressedTooLarge(1 << 16))
        );
    }

    #[test]
    fn grpc_framing_is_checked() {
        let l = Limits::default();
        assert!(matches!(
            decode_grpc_body(&[0, 0], None, &l),
            Err(ReceiveError::Framing(_))
        ));
        assert!(matches!(
            decode_grpc_body(&[0, 0, 0, 0, 9, 1], None, &l),
            Err(ReceiveError::Framing(_))
        ));
        assert_eq!(
            decode_grpc_body(&[0, 0xff, 0xff, 0xff, 0xff], None, &l),
            Err(ReceiveError::TooLarge(l.max_request_bytes))
        );
        assert!(decode_grpc_body(&[0, 0, 0, 0, 0], None, &l)
            .unwrap()
            .resource_spans
            .is_empty());
        let msg = gzip(b"");
        let mut framed = vec![1, 0, 0, 0, msg.len() as u8];
        framed.extend(&msg);
        assert!(decode_grpc_body(&framed, Some(b"gzip"), &l).is_ok());
        assert!(matches!(
            decode_grpc_body(&framed, None, &l),
            Err(ReceiveError::Framing(_))
        ));
        assert!(matches!(
            decode_grpc_body(&framed, Some(b"zstd"), &l),
            Err(ReceiveError::Encoding(_))
        ));
    }

    #[test]
    fn malformed_protobuf_is_an_error() {
        assert!(matches!(
            decode_http_body(&[0x0a, 0x05, 1], None, &Limits::default()),
            Err(ReceiveError::Protobuf(_))
        ));
        assert!(matches!(
            decode_http_body(b"x", Some(b"br"), &Limits::default()),
            Err(ReceiveError::Encoding(_))
        ));
    }

    /// A body of `n` empty spans: 2 bytes each on the wire.
    fn empty_spans(n: usize) -> Vec<u8> {
        let mut spans = Vec::with_capacity(2 * n);
        for _ in 0..n {
            spans.extend([0x12, 0x00]);
        }
        let mut scope_spans = vec![0x12];
        prost::encoding::encode_varint(spans.len() as u64, &mut scope_spans);
        scope_spans.extend(spans);
        let mut body = vec![0x0a];
        prost::encoding::encode_varint(scope_spans.len() as u64, &mut body);
        body.extend(scope_spans);
        body
    }

    #[test]
    fn too_many_spans_are_refused_before_decoding() {
        let limits = Limits {
            max_spans: 1000,
            ..Limits::default()
        };
        let body = empty_spans(1000);
        let req = decode_http_body(&body, None, &limits).unwrap();
        assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 1000);
        let body = empty_spans(1001);
        let err = decode_http_body(&body, None, &limits).unwrap_err();
        assert_eq!(err, ReceiveError::TooManySpans(1000));
        assert!(err.is_limit());
        let msg = err.to_string();
        assert!(
            msg.contains("more than 1000 spans") && msg.contains("--max-spans-per-request"),
            "{msg}"
        );
        // The same once inflated: 64 KiB of gzip, millions of spans.
        let bomb = gzip(&empty_spans(4_000_000));
        assert!(bomb.len() < 64 << 10, "{}", bomb.len());
        assert_eq!(
            decode_http_body(&bomb, Some(b"gzip"), &Limits::default()),
            Err(ReceiveError::TooManySpans(100_000))
        );
    }

    #[test]
    fn decoded_size_is_bounded() {
        let limits = Limits {
            max_decoded_bytes: 1 << 20,
            ..Limits::default()
        };
        // 50,000 empty spans: 100 KB on the wire, over 1 MiB decoded.
        let err = decode_http_body(&empty_spans(50_000), None, &limits).unwrap_err();
        assert_eq!(err, ReceiveError::DecodedTooLarge(1 << 20));
        let msg = err.to_string();
        assert!(
            msg.contains("1048576 bytes") && msg.contains("--max-decoded-bytes"),
            "{msg}"
        );
    }

    #[test]
    fn limits_at_the_top_of_the_range_do_not_overflow() {
        let limits = Limits {
            max_request_bytes: usize::MAX,
            max_decompressed_bytes: usize::MAX,
            max_spans: usize::MAX,
            max_decoded_bytes: usize::MAX,
        };
        let msg = gzip(&empty_spans(3));
        let mut framed = vec![1];
        framed.extend((msg.len() as u32).to_be_bytes());
        framed.extend(&msg);
        let req = decode_grpc_body(&framed, Some(b"gzip"), &limits).unwrap();
        assert_eq!(req.resource_spans[0].scope_spans[0].spans.len(), 3);
        assert!(decode_http_body(&msg, Some(b"gzip"), &limits).is_ok());
        assert!(matches!(
            decode_grpc_body(&[0, 0xff, 0xff, 0xff, 0xff, 1], None, &limits),
            Err(ReceiveError::Framing(_))
        ));
    }

    #[test]
    fn limit_messages_name_the_value_and_the_flag() {
        for (err, flag) in [
            (ReceiveError::TooLarge(7), "--max-request-bytes"),
            (
                ReceiveError::DecompressedTooLarge(7),
                "--max-decompressed-bytes",
            ),
            (ReceiveError::TooManySpans(7), "--max-spans-per-request"),
            (ReceiveError::DecodedTooLarge(7), "--max-decoded-bytes"),
        ] {
            let msg = err.to_string();
            assert!(msg.contains(" 7 ") && msg.contains(flag), "{msg}");
            assert!(err.is_limit());
        }
        assert!(!ReceiveError::Protobuf("x".into()).is_limit());
    }

    /// The fuzz target `receive` on its committed seeds: the same limits,
    /// the same selector byte, and what the new seeds must come to.
    #[test]
    fn the_fuzz_seeds_replay() {
        let limits = Limits {
            max_request_bytes: 1 << 20,
            max_decompressed_bytes: 1 << 20,
            max_spans: 10_000,
            max_decoded_bytes: 16 << 20,
        };
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/receive");
        if !dir.exists() {
            return; // a packaged crate (the corpus is excluded)
        }
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let Some((&selector, body)) = data.split_first() else {
                continue;
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
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let spans = |r: &ExportTraceServiceRequest| -> usize {
                r.resource_spans
                    .iter()
                    .flat_map(|rs| &rs.scope_spans)
                    .map(|ss| ss.spans.len())
                    .sum()
            };
            if name.contains("dup_id_cycle") || name.contains("max_time") {
                assert_eq!(decoded.as_ref().map(spans), Ok(2), "{name}");
            }
            if name.contains("max_time") {
                let s = &decoded.as_ref().unwrap().resource_spans[0].scope_spans[0].spans[0];
                assert_eq!(s.start_time_unix_nano, u64::MAX);
                assert_eq!(s.end_time_unix_nano, u64::MAX);
            }
            if name.contains("many_empty_spans") {
                assert_eq!(decoded, Err(ReceiveError::TooManySpans(10_000)), "{name}");
            }
            if let Ok(req) = decoded {
                let again = req.encode_to_vec();
                let back = decode_http_body(&again, None, &Limits::default()).unwrap();
                assert_eq!(back.encode_to_vec(), again, "{name}");
            }
            seen += 1;
        }
        assert!(seen >= 15, "{seen} seeds");
    }
}
