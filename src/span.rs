//! The span model: ids, trace flags, span context, kinds, status, attribute
//! values, span limits, and [`SpanData`], an owned span record.
//!
//! These are plain values. This module must never do I/O, lock, read a
//! clock, or know how spans are encoded or sent.
//!
//! The recording API (`crate::tracer`) writes spans straight into encoded
//! buffers and never builds a [`SpanData`]; `SpanData` exists for code that
//! already holds complete spans (tests, fuzzing, bridges from other
//! libraries) and is encoded by the same writers (`crate::encode`).
//!
//! ```
//! use tracewire::span::{SpanId, TraceId, ValueRef};
//!
//! let id = TraceId::from_bytes([0x4b; 16]);
//! assert!(id.is_valid());
//! assert_eq!(SpanId::INVALID.to_string(), "0000000000000000");
//! let v: ValueRef<'_> = "GET".into();
//! assert!(matches!(v, ValueRef::Str("GET")));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn fmt_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut out = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    // Only ASCII hex digits were written.
    f.write_str(std::str::from_utf8(&out[..bytes.len() * 2]).map_err(|_| fmt::Error)?)
}

/// Decodes lowercase hex into `out`; `None` on a wrong length or any other
/// character (W3C Trace Context allows only lowercase).
pub(crate) fn decode_lower_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = (lower_hex_digit(pair[0])? << 4) | lower_hex_digit(pair[1])?;
    }
    Some(out)
}

#[inline]
fn lower_hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// A 16-byte trace id. All zeros is the invalid id.
///
/// ```
/// use tracewire::span::TraceId;
/// let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
///
/// Held as a big-endian `u128` (the bytes in order), so ids move through
/// registers rather than byte arrays on the recording path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct TraceId(u128);

impl TraceId {
    /// The invalid (all-zero) trace id.
    pub const INVALID: TraceId = TraceId(0);

    /// Wraps 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        TraceId(u128::from_be_bytes(bytes))
    }

    /// The id as a big-endian number (its 16 bytes, in order).
    pub const fn from_u128(value: u128) -> Self {
        TraceId(value)
    }

    /// The 16 bytes.
    #[inline]
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The id as a big-endian number.
    #[inline]
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// `false` for the all-zero id.
    pub fn is_valid(&self) -> bool {
        self.0 != 0
    }

    /// Parses 32 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        decode_lower_hex(hex.as_bytes()).map(TraceId::from_bytes)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_hex(&self.to_bytes(), f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// An 8-byte span id. All zeros is the invalid id.
///
/// ```
/// use tracewire::span::SpanId;
/// let id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
/// assert_eq!(id.to_bytes(), [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct SpanId(u64);

impl SpanId {
    /// The invalid (all-zero) span id.
    pub const INVALID: SpanId = SpanId(0);

    /// Wraps 8 bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        SpanId(u64::from_be_bytes(bytes))
    }

    /// The id as a big-endian number (its 8 bytes, in order).
    pub const fn from_u64(value: u64) -> Self {
        SpanId(value)
    }

    /// The 8 bytes.
    #[inline]
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The id as a big-endian number.
    #[inline]
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// `false` for the all-zero id.
    pub fn is_valid(&self) -> bool {
        self.0 != 0
    }

    /// Parses 16 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        decode_lower_hex(hex.as_bytes()).map(SpanId::from_bytes)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_hex(&self.to_bytes(), f)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// W3C trace flags (one byte). Bit 0 is `sampled`.
///
/// ```
/// use tracewire::span::TraceFlags;
/// assert!(TraceFlags::SAMPLED.is_sampled());
/// assert!(!TraceFlags::default().is_sampled());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// The `sampled` flag.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);

    /// Wraps a flags byte.
    pub const fn new(bits: u8) -> Self {
        TraceFlags(bits)
    }

    /// The flags byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` bit is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & 0x01 != 0
    }

    /// These flags with `sampled` set or cleared.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        TraceFlags(if sampled {
            self.0 | 0x01
        } else {
            self.0 & !0x01
        })
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

/// A validated W3C `tracestate` value, shared cheaply between the spans of a
/// request (an `Arc<str>` when present, nothing when empty).
///
/// Build one with [`crate::propagation::parse_tracestate`], which enforces
/// the W3C grammar and limits.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState(Option<Arc<str>>);

impl TraceState {
    /// The empty trace state.
    pub const EMPTY: TraceState = TraceState(None);

    /// Wraps an already validated header value (internal: use
    /// [`crate::propagation::parse_tracestate`]).
    pub(crate) fn from_validated(value: &str) -> Self {
        if value.is_empty() {
            TraceState(None)
        } else {
            TraceState(Some(Arc::from(value)))
        }
    }

    /// The header value, `""` when empty.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or("")
    }

    /// Whether there is no trace state.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.as_str())
    }
}

/// The identity of a span as it propagates: what a child needs from its
/// parent, and what `traceparent`/`tracestate` carry between services.
///
/// ```
/// use tracewire::span::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// let ctx = SpanContext::new(
///     TraceId::from_bytes([1; 16]),
///     SpanId::from_bytes([2; 8]),
///     TraceFlags::SAMPLED,
///     true,
///     TraceState::EMPTY,
/// );
/// assert!(ctx.is_valid() && ctx.is_sampled() && ctx.is_remote());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
    is_remote: bool,
    trace_state: TraceState,
}

impl SpanContext {
    /// Assembles a context.
    pub const fn new(
        trace_id: TraceId,
        span_id: SpanId,
        flags: TraceFlags,
        is_remote: bool,
        trace_state: TraceState,
    ) -> Self {
        SpanContext {
            trace_id,
            span_id,
            flags,
            is_remote,
            trace_state,
        }
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags.
    pub fn trace_flags(&self) -> TraceFlags {
        self.flags
    }

    /// Whether the context came from another process (extracted from a
    /// request) rather than from a local span.
    pub fn is_remote(&self) -> bool {
        self.is_remote
    }

    /// The W3C trace state.
    pub fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// Whether the `sampled` flag is set.
    pub fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }

    /// Both ids are non-zero.
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// The OTLP `Span.flags` / `Link.flags` value for a span whose parent (or
    /// link target) is this context: the trace flags in bits 0-7, plus
    /// `CONTEXT_HAS_IS_REMOTE` (bit 8) and `CONTEXT_IS_REMOTE` (bit 9).
    pub fn otlp_flags(&self) -> u32 {
        u32::from(self.flags.bits()) | 0x100 | if self.is_remote { 0x200 } else { 0 }
    }
}

/// What kind of operation a span describes.
///
/// Discriminants are the OTLP `Span.SpanKind` numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(i32)]
pub enum SpanKind {
    /// Unknown kind. The recording API never produces it; decoded data may.
    Unspecified = 0,
    /// An internal operation.
    #[default]
    Internal = 1,
    /// The server side of a request (a proxy's entrypoint span).
    Server = 2,
    /// The client side of a request (a proxy's upstream call).
    Client = 3,
    /// The sender of an asynchronous message.
    Producer = 4,
    /// The receiver of an asynchronous message.
    Consumer = 5,
}

impl SpanKind {
    /// The kind for an OTLP number; unknown numbers map to `Unspecified`.
    pub fn from_i32(value: i32) -> Self {
        match value {
            1 => SpanKind::Internal,
            2 => SpanKind::Server,
            3 => SpanKind::Client,
            4 => SpanKind::Producer,
            5 => SpanKind::Consumer,
            _ => SpanKind::Unspecified,
        }
    }

    /// The upper-case name used by tracewire's JSON output (`SERVER`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Unspecified => "UNSPECIFIED",
            SpanKind::Internal => "INTERNAL",
            SpanKind::Server => "SERVER",
            SpanKind::Client => "CLIENT",
            SpanKind::Producer => "PRODUCER",
            SpanKind::Consumer => "CONSUMER",
        }
    }
}

/// The status code of a span. Discriminants are the OTLP numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(i32)]
pub enum StatusCode {
    /// Not set (the default).
    #[default]
    Unset = 0,
    /// Explicitly successful.
    Ok = 1,
    /// Failed.
    Error = 2,
}

/// A span status: a code and, for errors, a message.
///
/// ```
/// use tracewire::span::{Status, StatusCode};
/// let s = Status::error("upstream timed out");
/// assert_eq!(s.code, StatusCode::Error);
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Status {
    /// The code.
    pub code: StatusCode,
    /// A developer-facing message; OpenTelemetry only records it for errors.
    pub message: Cow<'static, str>,
}

impl Status {
    /// `Ok`, no message.
    pub const OK: Status = Status {
        code: StatusCode::Ok,
        message: Cow::Borrowed(""),
    };

    /// `Error` with a message (static strings are not copied).
    pub fn error(message: impl Into<Cow<'static, str>>) -> Self {
        Status {
            code: StatusCode::Error,
            message: message.into(),
        }
    }
}

/// An owned attribute value: the OTLP `AnyValue`, nested freely.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum AnyValue {
    /// An `AnyValue` with no value set (valid on the wire, rare in practice).
    #[default]
    Empty,
    /// A UTF-8 string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A double (NaN and infinities are carried bit for bit).
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// An array of values (which may mix types, as OTLP allows).
    Array(Vec<AnyValue>),
    /// A list of key-value pairs.
    KvList(Vec<KeyValue>),
}

/// An owned key-value pair (OTLP `KeyValue`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: AnyValue,
}

impl KeyValue {
    /// Builds a pair from anything convertible.
    ///
    /// ```
    /// use tracewire::span::{AnyValue, KeyValue};
    /// let kv = KeyValue::new("http.response.status_code", 200i64);
    /// assert_eq!(kv.value, AnyValue::Int(200));
    /// ```
    pub fn new(key: impl Into<String>, value: impl Into<AnyValue>) -> Self {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }
}

macro_rules! any_from {
    ($($t:ty => $variant:ident $(via $conv:ident)?),* $(,)?) => {
        $(impl From<$t> for AnyValue {
            fn from(v: $t) -> Self {
                AnyValue::$variant(v $(.$conv())?)
            }
        })*
    };
}

any_from!(
    String => String,
    &str => String via to_owned,
    bool => Bool,
    i64 => Int,
    f64 => Double,
    Vec<u8> => Bytes,
    Vec<AnyValue> => Array,
    Vec<KeyValue> => KvList,
);

impl From<i32> for AnyValue {
    fn from(v: i32) -> Self {
        AnyValue::Int(i64::from(v))
    }
}

/// A borrowed attribute value, as the recording API takes it: nothing is
/// copied until the value is encoded into the span's buffer.
///
/// ```
/// use tracewire::span::ValueRef;
/// let methods: &[&str] = &["GET", "HEAD"];
/// let v = ValueRef::from(methods);
/// assert!(matches!(v, ValueRef::StrArray(_)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// A string.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    I64(i64),
    /// A double.
    F64(f64),
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// An array of strings.
    StrArray(&'a [&'a str]),
    /// An array of integers.
    I64Array(&'a [i64]),
    /// An array of doubles.
    F64Array(&'a [f64]),
    /// An array of booleans.
    BoolArray(&'a [bool]),
    /// An array of arbitrary values.
    Array(&'a [ValueRef<'a>]),
    /// A nested key-value list.
    KvList(&'a [(&'a str, ValueRef<'a>)]),
    /// An owned value, borrowed.
    Any(&'a AnyValue),
}

macro_rules! ref_from {
    ($($t:ty => $variant:ident $(via $conv:ident)?),* $(,)?) => {
        $(impl<'a> From<$t> for ValueRef<'a> {
            fn from(v: $t) -> Self {
                ValueRef::$variant(v $(.$conv())?)
            }
        })*
    };
}

ref_from!(
    &'a str => Str,
    &'a String => Str via as_str,
    &'a Cow<'a, str> => Str via as_ref,
    bool => Bool,
    i64 => I64,
    f64 => F64,
    &'a [u8] => Bytes,
    &'a Vec<u8> => Bytes via as_slice,
    &'a [&'a str] => StrArray,
    &'a [i64] => I64Array,
    &'a [f64] => F64Array,
    &'a [bool] => BoolArray,
    &'a [ValueRef<'a>] => Array,
    &'a [(&'a str, ValueRef<'a>)] => KvList,
    &'a AnyValue => Any,
);

impl From<i32> for ValueRef<'_> {
    fn from(v: i32) -> Self {
        ValueRef::I64(i64::from(v))
    }
}

impl From<u32> for ValueRef<'_> {
    fn from(v: u32) -> Self {
        ValueRef::I64(i64::from(v))
    }
}

impl From<u16> for ValueRef<'_> {
    fn from(v: u16) -> Self {
        ValueRef::I64(i64::from(v))
    }
}

impl From<usize> for ValueRef<'_> {
    /// Values above `i64::MAX` saturate.
    fn from(v: usize) -> Self {
        ValueRef::I64(i64::try_from(v).unwrap_or(i64::MAX))
    }
}

/// Limits on what one span may carry, as OpenTelemetry's `SpanLimits`.
/// What is cut is counted in the span's `dropped_*` fields.
///
/// ```
/// use tracewire::span::SpanLimits;
/// let l = SpanLimits::default();
/// assert_eq!(l.max_attributes_per_span, 128);
/// assert_eq!(l.max_attribute_value_length, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanLimits {
    /// Attributes per span (`OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub max_attributes_per_span: u32,
    /// Events per span (`OTEL_SPAN_EVENT_COUNT_LIMIT`, default 128).
    pub max_events_per_span: u32,
    /// Links per span (`OTEL_SPAN_LINK_COUNT_LIMIT`, default 128).
    pub max_links_per_span: u32,
    /// Attributes per event (`OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub max_attributes_per_event: u32,
    /// Attributes per link (`OTEL_LINK_ATTRIBUTE_COUNT_LIMIT`, default 128).
    pub max_attributes_per_link: u32,
    /// Longest string or byte value, in bytes; longer values are truncated
    /// (strings on a UTF-8 character boundary). `None`: no limit
    /// (`OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`).
    pub max_attribute_value_length: Option<u32>,
}

impl Default for SpanLimits {
    fn default() -> Self {
        SpanLimits {
            max_attributes_per_span: 128,
            max_events_per_span: 128,
            max_links_per_span: 128,
            max_attributes_per_event: 128,
            max_attributes_per_link: 128,
            max_attribute_value_length: None,
        }
    }
}

impl SpanLimits {
    /// The value length limit as a `usize` (`usize::MAX` when unlimited).
    #[inline]
    pub(crate) fn value_limit(&self) -> usize {
        self.max_attribute_value_length
            .map_or(usize::MAX, |l| l as usize)
    }
}

/// A timed event inside a span (OTLP `Span.Event`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Event {
    /// When it happened, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Its name.
    pub name: String,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes cut by limits.
    pub dropped_attributes_count: u32,
}

/// A link from a span to another span (OTLP `Span.Link`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Link {
    /// The linked span's trace.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// The linked span's trace state.
    pub trace_state: String,
    /// The link's attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes cut by limits.
    pub dropped_attributes_count: u32,
    /// Trace flags of the linked context plus the OTLP is-remote bits.
    pub flags: u32,
}

/// A complete span, owned (OTLP `Span`).
///
/// ```
/// use tracewire::span::{SpanData, SpanId, SpanKind, TraceId};
/// let span = SpanData {
///     trace_id: TraceId::from_bytes([1; 16]),
///     span_id: SpanId::from_bytes([2; 8]),
///     name: "GET /".into(),
///     kind: SpanKind::Server,
///     ..SpanData::default()
/// };
/// assert!(span.parent_span_id.is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
pub struct SpanData {
    /// The trace.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// The W3C trace state.
    pub trace_state: String,
    /// The parent span; `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// Trace flags plus the OTLP is-remote bits (see [`SpanContext::otlp_flags`]).
    pub flags: u32,
    /// The operation name.
    pub name: String,
    /// The kind.
    pub kind: SpanKind,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_time_unix_nano: u64,
    /// End, in nanoseconds since the Unix epoch.
    pub end_time_unix_nano: u64,
    /// Attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes cut by limits.
    pub dropped_attributes_count: u32,
    /// Events.
    pub events: Vec<Event>,
    /// Events cut by limits.
    pub dropped_events_count: u32,
    /// Links.
    pub links: Vec<Link>,
    /// Links cut by limits.
    pub dropped_links_count: u32,
    /// The status; `None` leaves the field out of the message.
    pub status: Option<Status>,
}

/// The entity producing telemetry (OTLP `Resource`), with the schema URL of
/// its `ResourceSpans`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resource {
    /// Resource attributes (`service.name`, ...).
    pub attributes: Vec<KeyValue>,
    /// Attributes cut by limits.
    pub dropped_attributes_count: u32,
    /// `ResourceSpans.schema_url`.
    pub schema_url: String,
}

/// The library that produced spans (OTLP `InstrumentationScope`), with the
/// schema URL of its `ScopeSpans`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct InstrumentationScope {
    /// Scope name, such as the proxy's crate name.
    pub name: String,
    /// Scope version.
    pub version: String,
    /// Scope attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes cut by limits.
    pub dropped_attributes_count: u32,
    /// `ScopeSpans.schema_url`.
    pub schema_url: String,
}

impl InstrumentationScope {
    /// A scope with a name and nothing else.
    ///
    /// ```
    /// use tracewire::span::InstrumentationScope;
    /// assert_eq!(InstrumentationScope::named("my-proxy").name, "my-proxy");
    /// ```
    pub fn named(name: impl Into<String>) -> Self {
        InstrumentationScope {
            name: name.into(),
            ..Default::default()
        }
    }
}

impl From<&str> for InstrumentationScope {
    fn from(name: &str) -> Self {
        InstrumentationScope::named(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip_and_rejects_upper_case() {
        let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert_eq!(id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert!(TraceId::from_hex("0AF7651916CD43DD8448EB211C80319C").is_none());
        assert!(TraceId::from_hex("0af7651916cd43dd8448eb211c80319").is_none());
        assert!(SpanId::from_hex("b7ad6b716920333g").is_none());
    }

    #[test]
    fn otlp_flags_carry_remote_bits() {
        let local = SpanContext::new(
            TraceId::from_bytes([1; 16]),
            SpanId::from_bytes([1; 8]),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        );
        assert_eq!(local.otlp_flags(), 0x101);
        let remote = SpanContext {
            is_remote: true,
            ..local
        };
        assert_eq!(remote.otlp_flags(), 0x301);
    }

    #[test]
    fn kinds_map_to_otlp_numbers() {
        for k in [
            SpanKind::Internal,
            SpanKind::Server,
            SpanKind::Client,
            SpanKind::Producer,
            SpanKind::Consumer,
        ] {
            assert_eq!(SpanKind::from_i32(k as i32), k);
        }
        assert_eq!(SpanKind::from_i32(99), SpanKind::Unspecified);
    }
}
