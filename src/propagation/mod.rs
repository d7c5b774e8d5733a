//! Context propagation: W3C Trace Context here (parsing and formatting the
//! `traceparent` and `tracestate` headers, so a proxy can extract its parent
//! from an incoming request and inject its own context into the upstream
//! request), W3C Baggage in [`baggage`], B3 in [`b3`], and the formats a
//! deployment uses together (`OTEL_PROPAGATORS`) in [`Propagators`].
//!
//! Follows <https://www.w3.org/TR/trace-context/> (Level 1, with Level 2's
//! `random` flag passed through):
//!
//! - version `00`: exactly 55 characters, lowercase hex, non-zero ids;
//! - versions `01`..`fe`: the first 55 characters are read as version 00 and
//!   anything after them must start with `-` (future fields are ignored);
//!   only the `sampled` and `random` flags are kept;
//! - version `ff`, upper-case hex, all-zero ids, wrong lengths or separators:
//!   rejected, and the caller starts a new trace;
//! - `tracestate`: at most 32 list members, keys and values checked against
//!   the W3C grammar, duplicate keys rejected; empty members and optional
//!   white space are dropped. An invalid `tracestate` is discarded without
//!   affecting `traceparent`, as the spec requires.
//!
//! Trace context must never allocate on the happy path of `traceparent`
//! (parsing and formatting use fixed buffers); a non-empty `tracestate` is
//! stored once per request, shared by its spans.
//!
//! ```
//! use tracewire::propagation::{extract, format_traceparent};
//!
//! let ctx = extract(
//!     Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
//!     [&b"congo=t61rcWkgMzE"[..]],
//! )
//! .unwrap();
//! assert!(ctx.is_remote() && ctx.is_sampled());
//! assert_eq!(ctx.trace_state().as_str(), "congo=t61rcWkgMzE");
//!
//! let mut buf = [0u8; 55];
//! assert_eq!(
//!     format_traceparent(&ctx, &mut buf),
//!     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
//! );
//! ```

pub mod b3;
pub mod baggage;
mod composite;
mod trace_context;

pub use composite::{Extracted, Propagator, Propagators, PropagatorsError};
pub use trace_context::{
    extract, extract_from_headers, format_traceparent, inject_into_headers, parse_traceparent,
    parse_tracestate, TraceParentError, TraceStateError, MAX_TRACESTATE_MEMBERS, TRACEPARENT,
    TRACESTATE,
};
