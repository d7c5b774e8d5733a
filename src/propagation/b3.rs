//! B3 (Zipkin's propagation format), both forms the OpenTelemetry
//! propagators `b3` and `b3multi` use:
//!
//! - single header: `b3: {TraceId}-{SpanId}[-{SamplingState}[-{ParentSpanId}]]`;
//! - multiple headers: `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`,
//!   `X-B3-Flags` (and `X-B3-ParentSpanId`, which is read past).
//!
//! As the OpenTelemetry specification says: a 64-bit trace id is padded on
//! the left with zeros; the debug flag (`d`, `X-B3-Flags: 1`) means
//! sampled; a missing sampling state means not sampled; a sampling state
//! alone (`b3: 0`) carries no context; `X-B3-ParentSpanId` is never
//! injected. B3 carries no trace state. Hex digits are accepted in either
//! case (B3 writers differ) and written in lowercase; all-zero ids, other
//! lengths, and any other character are rejected, and the caller starts a
//! new trace.
//!
//! Sans-IO and allocation-free: parsing reads the bytes given, formatting
//! writes into a fixed buffer.
//!
//! ```
//! use tracewire::propagation::b3::{format_b3, parse_b3};
//! let ctx = parse_b3(b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90")
//!     .unwrap()
//!     .unwrap();
//! assert!(ctx.is_sampled() && ctx.is_remote());
//! let mut buf = [0u8; 51];
//! assert_eq!(format_b3(&ctx, &mut buf), "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1");
//! ```

use crate::model::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// The single-header form's name.
pub const B3: &str = "b3";
/// The multi-header form's trace id header.
pub const X_B3_TRACE_ID: &str = "x-b3-traceid";
/// The multi-header form's span id header.
pub const X_B3_SPAN_ID: &str = "x-b3-spanid";
/// The multi-header form's parent span id header (read past, never written).
pub const X_B3_PARENT_SPAN_ID: &str = "x-b3-parentspanid";
/// The multi-header form's sampling decision.
pub const X_B3_SAMPLED: &str = "x-b3-sampled";
/// The multi-header form's debug flag.
pub const X_B3_FLAGS: &str = "x-b3-flags";

/// The header names as `http` values, made once (see
/// `trace_context::TRACEPARENT_HEADER`).
pub(super) mod headers {
    use http::HeaderName;

    pub(crate) const B3: HeaderName = HeaderName::from_static(super::B3);
    pub(crate) const X_B3_TRACE_ID: HeaderName = HeaderName::from_static(super::X_B3_TRACE_ID);
    pub(crate) const X_B3_SPAN_ID: HeaderName = HeaderName::from_static(super::X_B3_SPAN_ID);
    pub(crate) const X_B3_PARENT_SPAN_ID: HeaderName =
        HeaderName::from_static(super::X_B3_PARENT_SPAN_ID);
    pub(crate) const X_B3_SAMPLED: HeaderName = HeaderName::from_static(super::X_B3_SAMPLED);
    pub(crate) const X_B3_FLAGS: HeaderName = HeaderName::from_static(super::X_B3_FLAGS);
}

/// Why a B3 context was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum B3Error {
    /// The trace id is not 16 or 32 hex digits, or is all zeros.
    #[error("the B3 trace id is not 16 or 32 hex digits, or is all zeros")]
    TraceId,
    /// The span id is not 16 hex digits, or is all zeros.
    #[error("the B3 span id is not 16 hex digits, or is all zeros")]
    SpanId,
    /// The sampling state is not `0`, `1`, `d` (or `true`/`false` in `X-B3-Sampled`).
    #[error("the B3 sampling state is not 0, 1 or d")]
    Sampling,
    /// The single header has the wrong shape.
    #[error("the b3 header is not trace-span[-sampling[-parent]]")]
    Shape,
}

/// Decodes 16 or 32 hex digits (either case) into a 128-bit trace id.
fn trace_id(hex: &[u8]) -> Result<TraceId, B3Error> {
    if hex.len() != 16 && hex.len() != 32 {
        return Err(B3Error::TraceId);
    }
    let mut v: u128 = 0;
    for &c in hex {
        v = (v << 4) | u128::from(nibble(c).ok_or(B3Error::TraceId)?);
    }
    if v == 0 {
        return Err(B3Error::TraceId);
    }
    Ok(TraceId::from_u128(v))
}

/// Decodes 16 hex digits (either case) into a span id.
fn span_id(hex: &[u8]) -> Result<SpanId, B3Error> {
    if hex.len() != 16 {
        return Err(B3Error::SpanId);
    }
    let mut v: u64 = 0;
    for &c in hex {
        v = (v << 4) | u64::from(nibble(c).ok_or(B3Error::SpanId)?);
    }
    if v == 0 {
        return Err(B3Error::SpanId);
    }
    Ok(SpanId::from_u64(v))
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A remote context with B3's ids and decision.
fn context(trace: TraceId, span: SpanId, sampled: bool) -> SpanContext {
    SpanContext::new(
        trace,
        span,
        TraceFlags::new(0).with_sampled(sampled),
        true,
        TraceState::EMPTY,
    )
}

/// Parses a `b3` header: `Ok(None)` for a sampling state alone (no
/// context to continue).
///
/// ```
/// use tracewire::propagation::b3::parse_b3;
/// assert!(parse_b3(b"0").unwrap().is_none());
/// let ctx = parse_b3(b"64fe8b2a57d3eff7-e457b5a2e4d86bd1-d").unwrap().unwrap();
/// assert!(ctx.is_sampled());
/// assert_eq!(ctx.trace_id().to_u128(), 0x64fe8b2a57d3eff7);
/// assert!(parse_b3(b"64fe8b2a57d3eff7-e457b5a2e4d86bd1-x").is_err());
/// ```
pub fn parse_b3(value: &[u8]) -> Result<Option<SpanContext>, B3Error> {
    let value = value.trim_ascii();
    if matches!(value, b"0" | b"1" | b"d") {
        return Ok(None);
    }
    let mut parts = value.split(|&c| c == b'-');
    let trace = trace_id(parts.next().ok_or(B3Error::Shape)?)?;
    let span = span_id(parts.next().ok_or(B3Error::Shape)?)?;
    let sampled = match parts.next() {
        None => false,
        Some(b"1" | b"d") => true,
        Some(b"0") => false,
        Some(_) => return Err(B3Error::Sampling),
    };
    if let Some(parent) = parts.next() {
        span_id(parent)?;
    }
    if parts.next().is_some() {
        return Err(B3Error::Shape);
    }
    Ok(Some(context(trace, span, sampled)))
}

/// Parses the multi-header form from its headers' values.
///
/// ```
/// use tracewire::propagation::b3::parse_b3_multi;
/// let ctx = parse_b3_multi(
///     Some(b"80f198ee56343ba864fe8b2a57d3eff7"),
///     Some(b"e457b5a2e4d86bd1"),
///     Some(b"1"),
///     None,
/// )
/// .unwrap();
/// assert!(ctx.is_sampled());
/// assert!(parse_b3_multi(None, Some(b"e457b5a2e4d86bd1"), None, None).is_err());
/// ```
pub fn parse_b3_multi(
    trace: Option<&[u8]>,
    span: Option<&[u8]>,
    sampled: Option<&[u8]>,
    flags: Option<&[u8]>,
) -> Result<SpanContext, B3Error> {
    let trace = trace_id(trace.ok_or(B3Error::TraceId)?.trim_ascii())?;
    let span = span_id(span.ok_or(B3Error::SpanId)?.trim_ascii())?;
    let debug = flags.is_some_and(|f| f.trim_ascii() == b"1");
    let sampled = match sampled.map(<[u8]>::trim_ascii) {
        None => false,
        Some(b"1") => true,
        Some(b"0") => false,
        Some(s) if s.eq_ignore_ascii_case(b"true") => true,
        Some(s) if s.eq_ignore_ascii_case(b"false") => false,
        Some(_) => return Err(B3Error::Sampling),
    };
    Ok(context(trace, span, sampled || debug))
}

/// Formats `ctx` as a `b3` header value, `{trace}-{span}-{0|1}`, into
/// `buf`.
pub fn format_b3<'b>(ctx: &SpanContext, buf: &'b mut [u8; 51]) -> &'b str {
    put_hex(&mut buf[..32], &ctx.trace_id().to_bytes());
    buf[32] = b'-';
    put_hex(&mut buf[33..49], &ctx.span_id().to_bytes());
    buf[49] = b'-';
    buf[50] = if ctx.is_sampled() { b'1' } else { b'0' };
    // Only ASCII hex digits, dashes and a digit were written.
    std::str::from_utf8(&buf[..]).unwrap_or_default()
}

/// Formats the multi-header form's three values: trace id, span id,
/// sampled (`1` or `0`).
///
/// ```
/// use tracewire::model::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// use tracewire::propagation::b3::format_b3_multi;
/// let ctx = SpanContext::new(TraceId::from_u128(1), SpanId::from_u64(2), TraceFlags::SAMPLED, false, TraceState::EMPTY);
/// let (mut t, mut s) = ([0u8; 32], [0u8; 16]);
/// let (trace, span, sampled) = format_b3_multi(&ctx, &mut t, &mut s);
/// assert_eq!((trace, span, sampled), ("00000000000000000000000000000001", "0000000000000002", "1"));
/// ```
pub fn format_b3_multi<'b>(
    ctx: &SpanContext,
    trace: &'b mut [u8; 32],
    span: &'b mut [u8; 16],
) -> (&'b str, &'b str, &'static str) {
    put_hex(trace, &ctx.trace_id().to_bytes());
    put_hex(span, &ctx.span_id().to_bytes());
    (
        std::str::from_utf8(&trace[..]).unwrap_or_default(),
        std::str::from_utf8(&span[..]).unwrap_or_default(),
        if ctx.is_sampled() { "1" } else { "0" },
    )
}

fn put_hex(out: &mut [u8], bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_header_forms() {
        let full = parse_b3(b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0")
            .unwrap()
            .unwrap();
        assert!(!full.is_sampled());
        assert!(full.trace_state().is_empty());
        let upper = parse_b3(b"80F198EE56343BA864FE8B2A57D3EFF7-E457B5A2E4D86BD1")
            .unwrap()
            .unwrap();
        assert_eq!(upper.trace_id(), full.trace_id());
        assert!(!upper.is_sampled(), "no sampling state: not sampled");
        for bad in [
            &b""[..],
            b"-",
            b"80f198ee56343ba864fe8b2a57d3eff7",
            b"00000000000000000000000000000000-e457b5a2e4d86bd1-1",
            b"80f198ee56343ba864fe8b2a57d3eff7-0000000000000000-1",
            b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-zz",
            b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90-x",
            b"80f198ee56343ba864fe8b2a57d3eff-e457b5a2e4d86bd1-1",
            b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd-1",
            b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-2",
            b"+0f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1",
        ] {
            assert!(parse_b3(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn multi_header_forms() {
        let t = Some(&b"64fe8b2a57d3eff7"[..]);
        let s = Some(&b"e457b5a2e4d86bd1"[..]);
        let debug = parse_b3_multi(t, s, None, Some(b"1")).unwrap();
        assert!(debug.is_sampled(), "debug means sampled");
        assert_eq!(
            debug.trace_id().to_u128(),
            0x64fe8b2a57d3eff7,
            "padded on the left"
        );
        assert!(parse_b3_multi(t, s, Some(b"true"), None)
            .unwrap()
            .is_sampled());
        assert!(!parse_b3_multi(t, s, Some(b"0"), None).unwrap().is_sampled());
        assert!(parse_b3_multi(t, s, Some(b"yes"), None).is_err());
        assert!(parse_b3_multi(t, None, None, None).is_err());
    }

    #[test]
    fn formats_round_trip() {
        let ctx = parse_b3(b"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1")
            .unwrap()
            .unwrap();
        let mut buf = [0u8; 51];
        let single = format_b3(&ctx, &mut buf).to_owned();
        assert_eq!(parse_b3(single.as_bytes()).unwrap().unwrap(), ctx);
        let (mut t, mut s) = ([0u8; 32], [0u8; 16]);
        let (trace, span, sampled) = format_b3_multi(&ctx, &mut t, &mut s);
        let back = parse_b3_multi(
            Some(trace.as_bytes()),
            Some(span.as_bytes()),
            Some(sampled.as_bytes()),
            None,
        )
        .unwrap();
        assert_eq!(back, ctx);
    }
}
