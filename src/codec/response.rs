//! Decoding what collectors answer: `ExportTraceServiceResponse` (partial
//! success), `google.rpc.Status` (error details, over HTTP bodies and gRPC's
//! `grpc-status-details-bin`), `google.rpc.RetryInfo`, and the
//! `Retry-After` header.
//!
//! Sans-IO and hand-rolled (the export path never uses the prost types):
//! every function takes bytes and returns a value or a [`DecodeError`]. None
//! panics on any input, none reads past the slice it is given, and none
//! allocates more than the input's length; the fuzz target `responses`
//! holds them to that.
//!
//! ```
//! use tracewire::internal::codec::response::decode_export_response;
//! // partial_success { rejected_spans: 3, error_message: "bad" }
//! let body = [0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd'];
//! let ps = decode_export_response(&body).unwrap();
//! assert_eq!((ps.rejected_spans, ps.error_message.as_str()), (3, "bad"));
//! ```

use std::time::{Duration, SystemTime};

use crate::codec::wire::get_varint;

/// Why a response could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ends inside a field.
    #[error("truncated protobuf message")]
    Truncated,
    /// A wire type protobuf does not define (or a deprecated group).
    #[error("unsupported protobuf wire type {0}")]
    WireType(u8),
    /// Field number 0.
    #[error("invalid protobuf field number 0")]
    FieldZero,
    /// A string field is not UTF-8.
    #[error("protobuf string field is not UTF-8")]
    Utf8,
    /// A gRPC message is larger than the limit.
    #[error("gRPC message of {0} bytes exceeds the limit")]
    TooLarge(u64),
    /// A compressed gRPC message without an agreed encoding.
    #[error("compressed gRPC message but no grpc-encoding to decompress it")]
    Compressed,
    /// Base64 in `grpc-status-details-bin` is invalid.
    #[error("grpc-status-details-bin is not valid base64")]
    Base64,
}

/// One protobuf field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32,
}

/// Iterates the top-level fields of a message.
struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        Some(self.read())
    }
}

impl<'a> Fields<'a> {
    fn read(&mut self) -> Result<(u32, Value<'a>), DecodeError> {
        let (key, n) = get_varint(self.rest).ok_or(DecodeError::Truncated)?;
        self.rest = &self.rest[n..];
        let field = u32::try_from(key >> 3).map_err(|_| DecodeError::FieldZero)?;
        if field == 0 {
            return Err(DecodeError::FieldZero);
        }
        let value = match (key & 7) as u8 {
            0 => {
                let (v, n) = get_varint(self.rest).ok_or(DecodeError::Truncated)?;
                self.rest = &self.rest[n..];
                Value::Varint(v)
            }
            1 => {
                self.rest = self.rest.get(8..).ok_or(DecodeError::Truncated)?;
                Value::Fixed64
            }
            2 => {
                let (len, n) = get_varint(self.rest).ok_or(DecodeError::Truncated)?;
                let body = &self.rest[n..];
                let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
                if len > body.len() {
                    return Err(DecodeError::Truncated);
                }
                self.rest = &body[len..];
                Value::Bytes(&body[..len])
            }
            5 => {
                self.rest = self.rest.get(4..).ok_or(DecodeError::Truncated)?;
                Value::Fixed32
            }
            other => return Err(DecodeError::WireType(other)),
        };
        Ok((field, value))
    }
}

fn fields(input: &[u8]) -> Fields<'_> {
    Fields { rest: input }
}

fn string(bytes: &[u8]) -> Result<String, DecodeError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| DecodeError::Utf8)
}

/// `ExportTraceServiceResponse.partial_success`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialSuccess {
    /// Spans the collector rejected (0: all accepted).
    pub rejected_spans: i64,
    /// Why, if the collector said.
    pub error_message: String,
}

/// Decodes an `ExportTraceServiceResponse`; an empty body is full success.
pub fn decode_export_response(body: &[u8]) -> Result<PartialSuccess, DecodeError> {
    let mut out = PartialSuccess::default();
    for f in fields(body) {
        if let (1, Value::Bytes(ps)) = f? {
            for g in fields(ps) {
                match g? {
                    (1, Value::Varint(v)) => out.rejected_spans = v as i64,
                    (2, Value::Bytes(m)) => out.error_message = string(m)?,
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// A `google.rpc.Status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RpcStatus {
    /// The gRPC status code.
    pub code: i32,
    /// The developer-facing message.
    pub message: String,
    /// How long the server asks the client to wait, from a
    /// `google.rpc.RetryInfo` detail.
    pub retry_delay: Option<Duration>,
}

/// The type URL of `google.rpc.RetryInfo` inside a `google.protobuf.Any`.
pub const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// Decodes a `google.rpc.Status`, picking out a `RetryInfo` detail.
pub fn decode_rpc_status(body: &[u8]) -> Result<RpcStatus, DecodeError> {
    let mut out = RpcStatus::default();
    for f in fields(body) {
        match f? {
            (1, Value::Varint(v)) => out.code = v as i32,
            (2, Value::Bytes(m)) => out.message = string(m)?,
            (3, Value::Bytes(any)) => {
                let mut type_url: &[u8] = &[];
                let mut value: &[u8] = &[];
                for g in fields(any) {
                    match g? {
                        (1, Value::Bytes(t)) => type_url = t,
                        (2, Value::Bytes(v)) => value = v,
                        _ => {}
                    }
                }
                if type_url == RETRY_INFO_TYPE.as_bytes() {
                    out.retry_delay = Some(decode_retry_info(value)?);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Decodes a `google.rpc.RetryInfo` into its delay (negative parts count as
/// zero).
pub fn decode_retry_info(body: &[u8]) -> Result<Duration, DecodeError> {
    let mut delay = Duration::ZERO;
    for f in fields(body) {
        if let (1, Value::Bytes(d)) = f? {
            let (mut secs, mut nanos) = (0i64, 0i32);
            for g in fields(d) {
                match g? {
                    (1, Value::Varint(v)) => secs = v as i64,
                    (2, Value::Varint(v)) => nanos = v as i32,
                    _ => {}
                }
            }
            delay = Duration::from_secs(secs.max(0) as u64)
                + Duration::from_nanos(u64::from(nanos.clamp(0, 999_999_999) as u32));
        }
    }
    Ok(delay)
}

/// Decodes the base64 value of a `grpc-status-details-bin` trailer (padded
/// or not, as gRPC allows) into a `google.rpc.Status`.
pub fn decode_status_details_bin(value: &[u8]) -> Result<RpcStatus, DecodeError> {
    use base64::Engine as _;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(value).map_err(|_| DecodeError::Base64)?;
    decode_rpc_status(&bytes)
}

/// Parses `Retry-After`: delta seconds, or an HTTP-date relative to `now`.
/// `None` when it is neither.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tracewire::internal::codec::response::parse_retry_after;
/// assert_eq!(parse_retry_after(b"3", SystemTime::now()), Some(Duration::from_secs(3)));
/// assert_eq!(parse_retry_after(b"soon", SystemTime::now()), None);
/// ```
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let s = std::str::from_utf8(value).ok()?.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .or(Some(Duration::MAX));
    }
    let at = httpdate::parse_http_date(s).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn partial_success_matches_prost() {
        use crate::proto::collector::trace::v1::{
            ExportTracePartialSuccess, ExportTraceServiceResponse,
        };
        let msg = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 42,
                error_message: "span too large".into(),
            }),
        };
        let ps = decode_export_response(&msg.encode_to_vec()).unwrap();
        assert_eq!(ps.rejected_spans, 42);
        assert_eq!(ps.error_message, "span too large");
        assert_eq!(
            decode_export_response(&[]).unwrap(),
            PartialSuccess::default()
        );
    }

    fn retry_info_status(secs: u8, nanos: u32) -> Vec<u8> {
        // Duration { seconds, nanos } inside RetryInfo { retry_delay } inside Any inside Status.
        let mut duration = vec![0x08, secs];
        duration.push(0x10);
        crate::codec::wire::put_varint(&mut duration, u64::from(nanos));
        let mut retry = vec![0x0a, duration.len() as u8];
        retry.extend(&duration);
        let mut any = vec![0x0a, RETRY_INFO_TYPE.len() as u8];
        any.extend(RETRY_INFO_TYPE.as_bytes());
        any.extend([0x12, retry.len() as u8]);
        any.extend(&retry);
        let mut status = vec![0x08, 8, 0x12, 4];
        status.extend(b"slow");
        status.extend([0x1a, any.len() as u8]);
        status.extend(&any);
        status
    }

    #[test]
    fn rpc_status_with_retry_info() {
        let st = decode_rpc_status(&retry_info_status(2, 500_000_000)).unwrap();
        assert_eq!(st.code, 8);
        assert_eq!(st.message, "slow");
        assert_eq!(st.retry_delay, Some(Duration::from_millis(2500)));
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(retry_info_status(1, 0));
        let st = decode_status_details_bin(b64.as_bytes()).unwrap();
        assert_eq!(st.retry_delay, Some(Duration::from_secs(1)));
        assert!(decode_status_details_bin(b"%%%").is_err());
    }

    #[test]
    fn truncated_and_hostile_inputs_error() {
        assert_eq!(
            decode_export_response(&[0x0a, 0x05, 0x08]),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            decode_export_response(&[0x0b]),
            Err(DecodeError::WireType(3))
        );
        assert_eq!(decode_rpc_status(&[0x00]), Err(DecodeError::FieldZero));
        assert_eq!(
            decode_rpc_status(&[0x12, 0x01, 0xff]),
            Err(DecodeError::Utf8)
        );
        // A huge declared length is refused without allocating.
        assert_eq!(
            decode_rpc_status(&[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]),
            Err(DecodeError::Truncated)
        );
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(b" 120 ", now),
            Some(Duration::from_secs(120))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(date.as_bytes(), now),
            Some(Duration::from_secs(30))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(past.as_bytes(), now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(b"-1", now), None);
        assert_eq!(
            parse_retry_after(b"99999999999999999999999", now),
            Some(Duration::MAX)
        );
    }
}
