//! Decoding what an OTLP client sends, sans-IO: an OTLP/HTTP body (by its
//! `Content-Encoding`) or a gRPC message (by its `grpc-encoding`), within
//! [`Limits`], into the prost `ExportTraceServiceRequest`.
//!
//! Hostile input gets an error, never a panic and never more memory than
//! the limits allow; the fuzz target `receive` holds it to that.

use prost::Message;

use crate::codec::gzip::{self, InflateError};
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;

/// Size limits on what the receiver accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body on the wire (default 16 MiB).
    pub max_request_bytes: usize,
    /// Largest body after gzip decompression (default 64 MiB).
    pub max_decompressed_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// The body is larger than the limit.
    #[error("request body larger than {0} bytes")]
    TooLarge(usize),
    /// gzip inflated past the limit (a gzip bomb, or just too much).
    #[error("decompressed body larger than {0} bytes")]
    DecompressedTooLarge(usize),
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

fn gunzip(body: &[u8], limits: &Limits) -> Result<Vec<u8>, ReceiveError> {
    gzip::decompress(body, limits.max_decompressed_bytes).map_err(|e| match e {
        InflateError::TooLarge(limit) => ReceiveError::DecompressedTooLarge(limit),
        InflateError::Invalid(reason) => ReceiveError::Gzip(reason),
    })
}

fn decode(bytes: &[u8]) -> Result<ExportTraceServiceRequest, ReceiveError> {
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
        None | Some(b"identity") | Some(b"") => decode(body),
        Some(e) if e.eq_ignore_ascii_case(b"gzip") => decode(&gunzip(body, limits)?),
        Some(other) => Err(ReceiveError::Encoding(
            String::from_utf8_lossy(other).into_owned(),
        )),
    }
}

/// Decodes a gRPC request body (one length-prefixed message) given its
/// `grpc-encoding`.
pub fn decode_grpc_body(
    body: &[u8],
    grpc_encoding: Option<&[u8]>,
    limits: &Limits,
) -> Result<ExportTraceServiceRequest, ReceiveError> {
    let prefix = body
        .get(..5)
        .ok_or_else(|| ReceiveError::Framing("shorter than the 5-byte prefix".into()))?;
    let compressed = prefix[0] & 1 == 1;
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if len > limits.max_request_bytes {
        return Err(ReceiveError::TooLarge(limits.max_request_bytes));
    }
    let msg = body.get(5..5 + len).ok_or_else(|| {
        ReceiveError::Framing(format!(
            "prefix announces {len} bytes, {} follow",
            body.len() - 5
        ))
    })?;
    if body.len() != 5 + len {
        return Err(ReceiveError::Framing(
            "more than one message in a unary call".into(),
        ));
    }
    if !compressed {
        return decode(msg);
    }
    match grpc_encoding.map(|e| e.trim_ascii()) {
        Some(e) if e.eq_ignore_ascii_case(b"gzip") => decode(&gunzip(msg, limits)?),
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

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = bytes::BytesMut::new();
        crate::codec::gzip::compress_into(&mut out, data);
        out.to_vec()
    }

    #[test]
    fn gzip_bombs_are_refused() {
        let limits = Limits {
            max_request_bytes: 1 << 20,
            max_decompressed_bytes: 1 << 16,
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
}
