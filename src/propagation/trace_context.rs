//! W3C Trace Context: the `traceparent` and `tracestate` headers (see the
//! parent module's docs for the rules followed).
//!
//! This module must never allocate on the happy path of `traceparent`
//! (parsing and formatting use fixed buffers); a non-empty `tracestate` is
//! stored once per request, shared by its spans.

use crate::model::{decode_lower_hex, SpanContext, SpanId, TraceFlags, TraceId, TraceState};

/// The `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header name.
pub const TRACESTATE: &str = "tracestate";

/// The header names as `http` values, made once: a lookup or an insert by
/// name string parses the name each time.
pub(super) const TRACEPARENT_HEADER: http::HeaderName = http::HeaderName::from_static(TRACEPARENT);
pub(super) const TRACESTATE_HEADER: http::HeaderName = http::HeaderName::from_static(TRACESTATE);

/// The most list members a `tracestate` may have.
pub const MAX_TRACESTATE_MEMBERS: usize = 32;

/// The `sampled` and `random` flags: the ones kept from a higher version.
const KNOWN_FLAGS: u8 = 0x03;

/// Why a `traceparent` was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceParentError {
    /// Too short, or too long for version 00.
    #[error("traceparent has {0} characters; version 00 needs exactly 55")]
    Length(usize),
    /// The version is not two lowercase hex digits, or is `ff`.
    #[error("traceparent version is invalid (two lowercase hex digits other than ff)")]
    Version,
    /// A separator is not `-` where the format puts one.
    #[error("traceparent fields must be separated by '-'")]
    Separator,
    /// The trace id is not 32 lowercase hex digits.
    #[error("traceparent trace-id is not 32 lowercase hex digits")]
    TraceId,
    /// The parent id is not 16 lowercase hex digits.
    #[error("traceparent parent-id is not 16 lowercase hex digits")]
    ParentId,
    /// The flags are not two lowercase hex digits.
    #[error("traceparent trace-flags is not two lowercase hex digits")]
    Flags,
    /// The trace id is all zeros.
    #[error("traceparent trace-id is all zeros")]
    ZeroTraceId,
    /// The parent id is all zeros.
    #[error("traceparent parent-id is all zeros")]
    ZeroParentId,
}

/// Why a `tracestate` was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceStateError {
    /// More than 32 list members.
    #[error("tracestate has more than {MAX_TRACESTATE_MEMBERS} list members")]
    TooManyMembers,
    /// A member has no `=`, or its key breaks the W3C key grammar.
    #[error("tracestate list member {0} has an invalid key")]
    Key(usize),
    /// A member's value breaks the W3C value grammar (1-256 printable ASCII
    /// characters other than ',' and '=', not ending in a space).
    #[error("tracestate list member {0} has an invalid value")]
    Value(usize),
    /// Two members share a key.
    #[error("tracestate list member {0} repeats an earlier key")]
    DuplicateKey(usize),
    /// Not ASCII / not UTF-8.
    #[error("tracestate is not ASCII")]
    NotAscii,
}

/// Parses a `traceparent` header into a remote [`SpanContext`] (with an
/// empty trace state).
///
/// Never allocates and never panics, whatever the input.
///
/// ```
/// use tracewire::propagation::{parse_traceparent, TraceParentError};
/// assert!(parse_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").is_ok());
/// assert_eq!(
///     parse_traceparent(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
///     Err(TraceParentError::ZeroTraceId)
/// );
/// ```
pub fn parse_traceparent(header: &[u8]) -> Result<SpanContext, TraceParentError> {
    let header = trim_ows(header);
    if header.len() < 55 {
        return Err(TraceParentError::Length(header.len()));
    }
    let version = decode_lower_hex::<1>(&header[0..2]).ok_or(TraceParentError::Version)?[0];
    if version == 0xff {
        return Err(TraceParentError::Version);
    }
    if version == 0 && header.len() != 55 {
        return Err(TraceParentError::Length(header.len()));
    }
    if header[2] != b'-' || header[35] != b'-' || header[52] != b'-' {
        return Err(TraceParentError::Separator);
    }
    if header.len() > 55 && header[55] != b'-' {
        return Err(TraceParentError::Separator);
    }
    let trace_id =
        TraceId::from_bytes(decode_lower_hex(&header[3..35]).ok_or(TraceParentError::TraceId)?);
    let span_id =
        SpanId::from_bytes(decode_lower_hex(&header[36..52]).ok_or(TraceParentError::ParentId)?);
    let mut flags = decode_lower_hex::<1>(&header[53..55]).ok_or(TraceParentError::Flags)?[0];
    if version != 0 {
        flags &= KNOWN_FLAGS;
    }
    if !trace_id.is_valid() {
        return Err(TraceParentError::ZeroTraceId);
    }
    if !span_id.is_valid() {
        return Err(TraceParentError::ZeroParentId);
    }
    Ok(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::new(flags),
        true,
        TraceState::EMPTY,
    ))
}

/// Writes the version-00 `traceparent` for `ctx` into `buf` and returns it
/// as a `&str`. Never allocates.
///
/// ```
/// use tracewire::propagation::format_traceparent;
/// use tracewire::model::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// let ctx = SpanContext::new(TraceId::from_bytes([0xab; 16]), SpanId::from_bytes([0xcd; 8]),
///     TraceFlags::SAMPLED, false, TraceState::EMPTY);
/// let mut buf = [0u8; 55];
/// assert_eq!(format_traceparent(&ctx, &mut buf),
///     "00-abababababababababababababababab-cdcdcdcdcdcdcdcd-01");
/// ```
pub fn format_traceparent<'b>(ctx: &SpanContext, buf: &'b mut [u8; 55]) -> &'b str {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    fn put(out: &mut [u8], bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            out[2 * i] = HEX[usize::from(b >> 4)];
            out[2 * i + 1] = HEX[usize::from(b & 0xf)];
        }
    }
    buf[0] = b'0';
    buf[1] = b'0';
    buf[2] = b'-';
    put(&mut buf[3..35], &ctx.trace_id().to_bytes());
    buf[35] = b'-';
    put(&mut buf[36..52], &ctx.span_id().to_bytes());
    buf[52] = b'-';
    put(&mut buf[53..55], &[ctx.trace_flags().bits()]);
    // Every byte written above is ASCII.
    std::str::from_utf8(&buf[..]).unwrap_or("")
}

#[inline]
fn is_ows(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_ows(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_ows(*last) {
            break;
        }
        s = rest;
    }
    s
}

#[inline]
fn key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

fn valid_key(key: &[u8]) -> bool {
    match key.iter().position(|&c| c == b'@') {
        None => {
            // simple-key = lcalpha 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/")
            matches!(key.first(), Some(c) if c.is_ascii_lowercase())
                && key.len() <= 256
                && key.iter().all(|&c| key_char(c))
        }
        Some(at) => {
            // tenant-id "@" system-id
            let (tenant, system) = (&key[..at], &key[at + 1..]);
            matches!(tenant.first(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
                && tenant.len() <= 241
                && tenant.iter().all(|&c| key_char(c))
                && matches!(system.first(), Some(c) if c.is_ascii_lowercase())
                && system.len() <= 14
                && system.iter().all(|&c| key_char(c))
        }
    }
}

fn valid_value(value: &[u8]) -> bool {
    // value = 0*255(chr) nblk-chr ; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E ; chr = %x20 / nblk-chr
    let nblk = |c: u8| (0x21..=0x7e).contains(&c) && c != b',' && c != b'=';
    !value.is_empty()
        && value.len() <= 256
        && value.iter().all(|&c| c == b' ' || nblk(c))
        && value.last().is_some_and(|&c| nblk(c))
}

/// Parses one or more `tracestate` header values (several headers are one
/// list, joined in order) into a normalized [`TraceState`]: members in their
/// original order, white space and empty members removed.
///
/// ```
/// use tracewire::propagation::parse_tracestate;
/// let ts = parse_tracestate([&b" rojo=00f067aa0ba902b7 ,, "[..], &b"congo=t61rcWkgMzE"[..]]).unwrap();
/// assert_eq!(ts.as_str(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
/// assert!(parse_tracestate([&b"UPPER=1"[..]]).is_err());
/// ```
pub fn parse_tracestate<'a, I>(headers: I) -> Result<TraceState, TraceStateError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    // Collect member ranges first: validate everything before storing anything.
    let mut members: [(&[u8], &[u8]); MAX_TRACESTATE_MEMBERS] =
        [(&[], &[]); MAX_TRACESTATE_MEMBERS];
    let mut count = 0usize;
    let mut total = 0usize;
    for header in headers {
        for raw in header.split(|&c| c == b',') {
            let member = trim_ows(raw);
            if member.is_empty() {
                continue;
            }
            if !member.is_ascii() {
                return Err(TraceStateError::NotAscii);
            }
            if count == MAX_TRACESTATE_MEMBERS {
                return Err(TraceStateError::TooManyMembers);
            }
            let eq = member
                .iter()
                .position(|&c| c == b'=')
                .ok_or(TraceStateError::Key(count))?;
            let (key, value) = (&member[..eq], &member[eq + 1..]);
            if !valid_key(key) {
                return Err(TraceStateError::Key(count));
            }
            if !valid_value(value) {
                return Err(TraceStateError::Value(count));
            }
            if members[..count].iter().any(|(k, _)| *k == key) {
                return Err(TraceStateError::DuplicateKey(count));
            }
            members[count] = (key, value);
            count += 1;
            total += member.len() + 1;
        }
    }
    if count == 0 {
        return Ok(TraceState::EMPTY);
    }
    let mut out = String::with_capacity(total);
    for (i, (k, v)) in members[..count].iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Validated ASCII above.
        out.push_str(std::str::from_utf8(k).unwrap_or(""));
        out.push('=');
        out.push_str(std::str::from_utf8(v).unwrap_or(""));
    }
    Ok(TraceState::from_validated(&out))
}

/// Extracts a remote parent from an incoming request's headers:
/// `traceparent` (if any) and every `tracestate` value.
///
/// `None` when `traceparent` is missing or invalid: the proxy then starts a
/// new trace. An invalid `tracestate` is dropped; the parent is kept.
///
/// ```
/// use tracewire::propagation::extract;
/// assert!(extract(None, std::iter::empty::<&[u8]>()).is_none());
/// let ctx = extract(Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), [&b"BAD"[..]]).unwrap();
/// assert!(ctx.trace_state().is_empty());
/// ```
pub fn extract<'a, I>(traceparent: Option<&[u8]>, tracestate: I) -> Option<SpanContext>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let ctx = parse_traceparent(traceparent?).ok()?;
    let state = parse_tracestate(tracestate).unwrap_or_default();
    Some(SpanContext::new(
        ctx.trace_id(),
        ctx.span_id(),
        ctx.trace_flags(),
        true,
        state,
    ))
}

/// Extracts a remote parent from an `http::HeaderMap`.
///
/// ```
/// use http::HeaderMap;
/// use tracewire::propagation::extract_from_headers;
/// let mut h = HeaderMap::new();
/// h.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// assert!(extract_from_headers(&h).is_some());
/// ```
pub fn extract_from_headers(headers: &http::HeaderMap) -> Option<SpanContext> {
    extract(
        headers.get(&TRACEPARENT_HEADER).map(|v| v.as_bytes()),
        headers
            .get_all(&TRACESTATE_HEADER)
            .iter()
            .map(|v| v.as_bytes()),
    )
}

/// Sets `traceparent` (and `tracestate`, when not empty) for `ctx` on an
/// outgoing request, replacing any previous values.
///
/// ```
/// use http::HeaderMap;
/// use tracewire::propagation::inject_into_headers;
/// use tracewire::model::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// let ctx = SpanContext::new(TraceId::from_bytes([1; 16]), SpanId::from_bytes([2; 8]),
///     TraceFlags::SAMPLED, false, TraceState::EMPTY);
/// let mut h = HeaderMap::new();
/// inject_into_headers(&ctx, &mut h);
/// assert_eq!(h["traceparent"], "00-01010101010101010101010101010101-0202020202020202-01");
/// ```
pub fn inject_into_headers(ctx: &SpanContext, headers: &mut http::HeaderMap) {
    if !ctx.is_valid() {
        return;
    }
    let mut buf = [0u8; 55];
    let tp = format_traceparent(ctx, &mut buf);
    if let Ok(v) = http::HeaderValue::from_str(tp) {
        headers.insert(TRACEPARENT_HEADER, v);
    }
    if ctx.trace_state().is_empty() {
        headers.remove(&TRACESTATE_HEADER);
    } else if let Ok(v) = http::HeaderValue::from_str(ctx.trace_state().as_str()) {
        headers.insert(TRACESTATE_HEADER, v);
    } else {
        headers.remove(&TRACESTATE_HEADER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_the_spec_example() {
        let ctx = parse_traceparent(VALID).unwrap();
        assert_eq!(
            ctx.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(ctx.span_id().to_string(), "00f067aa0ba902b7");
        assert!(ctx.is_sampled() && ctx.is_remote());
        let mut buf = [0u8; 55];
        assert_eq!(format_traceparent(&ctx, &mut buf).as_bytes(), VALID);
    }

    #[test]
    fn rejects_what_the_spec_rejects() {
        use TraceParentError::*;
        let cases: &[(&[u8], TraceParentError)] = &[
            (b"", Length(0)),
            (
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
                Length(54),
            ),
            (
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
                Length(56),
            ),
            (
                b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
            ),
            (
                b"0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Version,
            ),
            (
                b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                Separator,
            ),
            (
                b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                TraceId,
            ),
            (
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
                ParentId,
            ),
            (
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
                Flags,
            ),
            (
                b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                ZeroTraceId,
            ),
            (
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                ZeroParentId,
            ),
            (
                b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                Separator,
            ),
        ];
        for (input, err) in cases {
            assert_eq!(
                parse_traceparent(input),
                Err(*err),
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn higher_versions_parse_the_known_prefix() {
        let ctx = parse_traceparent(
            b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-future-stuff",
        )
        .unwrap();
        assert!(ctx.is_sampled());
        assert_eq!(
            ctx.trace_flags().bits(),
            0x01,
            "unknown flags of a higher version are dropped"
        );
        assert!(
            parse_traceparent(b"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_ok()
        );
    }

    #[test]
    fn tracestate_grammar() {
        assert!(parse_tracestate([&b"a=1,b@c=2,0tenant@sys=x y"[..]]).is_ok());
        assert_eq!(
            parse_tracestate([&b"a=1,a=2"[..]]),
            Err(TraceStateError::DuplicateKey(1))
        );
        assert_eq!(parse_tracestate([&b"a"[..]]), Err(TraceStateError::Key(0)));
        assert_eq!(
            parse_tracestate([&b"a=b,c= "[..]]),
            Err(TraceStateError::Value(1))
        );
        assert_eq!(
            parse_tracestate([&b"a=b=c"[..]]),
            Err(TraceStateError::Value(0))
        );
        assert_eq!(
            parse_tracestate([&b"1a=b"[..]]),
            Err(TraceStateError::Key(0))
        );
        assert_eq!(
            parse_tracestate([&b"a=\xc3\xa9"[..]]),
            Err(TraceStateError::NotAscii)
        );
        let many: String = (0..33).map(|i| format!("k{i}=v,")).collect();
        assert_eq!(
            parse_tracestate([many.as_bytes()]),
            Err(TraceStateError::TooManyMembers)
        );
        let thirty_two: String = (0..32).map(|i| format!("k{i}=v,")).collect();
        assert!(parse_tracestate([thirty_two.as_bytes()]).is_ok());
        assert!(parse_tracestate([&b""[..], &b" , "[..]])
            .unwrap()
            .is_empty());
    }
}
