//! What a span is made of, as plain data: kinds, status, limits, events,
//! links, and [`SpanData`], an owned span record; plus the [`Resource`] and
//! [`InstrumentationScope`] spans are exported under.
//!
//! This module must never know how spans are encoded or sent.

use std::borrow::Cow;

use super::ids::{SpanId, TraceId};
use super::value::KeyValue;

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
/// use tracewire::model::{Status, StatusCode};
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

/// Limits on what one span may carry, as OpenTelemetry's `SpanLimits`.
/// What is cut is counted in the span's `dropped_*` fields.
///
/// ```
/// use tracewire::model::SpanLimits;
/// let l = SpanLimits::default();
/// assert_eq!(l.max_attributes_per_span, 128);
/// assert_eq!(l.max_attribute_value_length, None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
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
/// use tracewire::model::{SpanData, SpanId, SpanKind, TraceId};
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
    /// Trace flags plus the OTLP is-remote bits (see [`SpanContext::otlp_flags`](crate::model::SpanContext::otlp_flags)).
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
    /// use tracewire::model::InstrumentationScope;
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
