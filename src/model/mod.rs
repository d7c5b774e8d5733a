//! The span model: ids, trace flags, span context, kinds, status, attribute
//! values, span limits, and [`SpanData`], an owned span record.
//!
//! These are plain values, at the bottom of the house: this module imports
//! nothing else from tracewire. It knows the OTLP data model (what a field
//! means, the flag bits of `Span.flags`) but never the wire encoding, and it
//! must never do I/O, lock or read a clock.
//!
//! The recording API ([`crate::Tracer`], [`crate::Span`]) writes spans
//! straight into encoded buffers and never builds a [`SpanData`];
//! `SpanData` exists for code that already holds complete spans (tests,
//! fuzzing, bridges from other libraries) and is encoded by the same
//! writers.
//!
//! ```
//! use tracewire::model::{SpanId, TraceId, ValueRef};
//!
//! let id = TraceId::from_bytes([0x4b; 16]);
//! assert!(id.is_valid());
//! assert_eq!(SpanId::INVALID.to_string(), "0000000000000000");
//! let v: ValueRef<'_> = "GET".into();
//! assert!(matches!(v, ValueRef::Str("GET")));
//! ```

mod context;
mod ids;
mod span;
mod value;

pub use context::{otlp_flags, SpanContext, TraceState, CONTEXT_HAS_IS_REMOTE, CONTEXT_IS_REMOTE};
pub(crate) use ids::decode_lower_hex;
pub use ids::{SpanId, TraceFlags, TraceId};
pub use span::{
    Event, InstrumentationScope, Link, Resource, SpanData, SpanKind, SpanLimits, Status, StatusCode,
};
pub use value::{AnyValue, KeyValue, ValueRef};
