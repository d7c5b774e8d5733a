//! What propagates between spans and services: the W3C trace state and the
//! span context, plus the OTLP flag bits that record whether a parent was
//! remote (part of the OTLP data model, not of its encoding).
//!
//! This module must never allocate except to share a non-empty trace state.

use std::fmt;
use std::sync::Arc;

use super::ids::{SpanId, TraceFlags, TraceId};

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

    /// How many holders share this trace state's text (0 when empty): for
    /// tests that a consumed span lets its share go.
    #[cfg(test)]
    pub(crate) fn holders(&self) -> usize {
        self.0.as_ref().map_or(0, Arc::strong_count)
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
/// use tracewire::model::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
/// let ctx = SpanContext::new(
///     TraceId::from_bytes([1; 16]),
///     SpanId::from_bytes([2; 8]),
///     TraceFlags::SAMPLED,
///     true,
///     TraceState::EMPTY,
/// );
/// assert!(ctx.is_valid() && ctx.is_sampled() && ctx.is_remote());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    trace_state: TraceState,
    /// The trace flags (bits 0-7), whether the context is remote
    /// ([`REMOTE`]) and whether the pipeline shed its trace ([`SHED`]):
    /// one word, written and copied whole (a span is moved by value, and
    /// a copy reading bytes written one by one waits for every one).
    bits: u32,
}

/// [`SpanContext::bits`]: the context came from another process.
const REMOTE: u32 = 1 << 8;
/// [`SpanContext::bits`]: the pipeline shed this span's trace under
/// overload: its local children are shed too (never propagated).
const SHED: u32 = 1 << 9;

impl fmt::Debug for SpanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanContext")
            .field("trace_id", &self.trace_id)
            .field("span_id", &self.span_id)
            .field("flags", &self.trace_flags())
            .field("is_remote", &self.is_remote())
            .field("trace_state", &self.trace_state)
            .field("shed", &self.is_shed())
            .finish()
    }
}

impl SpanContext {
    /// Assembles a context.
    #[inline]
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
            trace_state,
            bits: flags.bits() as u32 | if is_remote { REMOTE } else { 0 },
        }
    }

    /// This context, marked as belonging to a trace the pipeline shed.
    pub(crate) fn into_shed(mut self) -> Self {
        self.bits |= SHED;
        self
    }

    /// Takes the trace state out (leaving it empty): what a span being
    /// consumed drops of its context.
    #[inline(always)]
    pub(crate) fn take_trace_state(&mut self) -> TraceState {
        std::mem::take(&mut self.trace_state)
    }

    /// Whether the pipeline shed this span's trace (its local children
    /// are shed too).
    #[inline]
    pub(crate) fn is_shed(&self) -> bool {
        self.bits & SHED != 0
    }

    /// The trace id.
    #[inline]
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    #[inline]
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags.
    #[inline]
    pub fn trace_flags(&self) -> TraceFlags {
        TraceFlags::new(self.bits as u8)
    }

    /// Whether the context came from another process (extracted from a
    /// request) rather than from a local span.
    #[inline]
    pub fn is_remote(&self) -> bool {
        self.bits & REMOTE != 0
    }

    /// The W3C trace state.
    #[inline]
    pub fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// Whether the `sampled` flag is set.
    #[inline]
    pub fn is_sampled(&self) -> bool {
        self.trace_flags().is_sampled()
    }

    /// Both ids are non-zero.
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    /// The OTLP `Span.flags` / `Link.flags` value for a span whose parent (or
    /// link target) is this context: the trace flags in bits 0-7, plus
    /// `CONTEXT_HAS_IS_REMOTE` (bit 8) and `CONTEXT_IS_REMOTE` (bit 9).
    pub fn otlp_flags(&self) -> u32 {
        otlp_flags(self.trace_flags(), self.is_remote())
    }
}

/// OTLP `SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`: the flags say
/// whether the parent (or link target) was remote.
pub const CONTEXT_HAS_IS_REMOTE: u32 = 0x100;
/// OTLP `SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`: the parent (or link
/// target) was remote.
pub const CONTEXT_IS_REMOTE: u32 = 0x200;

/// The OTLP `Span.flags` / `Link.flags` value for trace flags `flags` whose
/// context is (or is not) remote: the trace flags in bits 0-7, plus
/// [`CONTEXT_HAS_IS_REMOTE`] and, when remote, [`CONTEXT_IS_REMOTE`].
///
/// ```
/// use tracewire::model::{otlp_flags, TraceFlags};
/// assert_eq!(otlp_flags(TraceFlags::SAMPLED, true), 0x301);
/// ```
#[inline]
pub const fn otlp_flags(flags: TraceFlags, is_remote: bool) -> u32 {
    flags.bits() as u32 | CONTEXT_HAS_IS_REMOTE | if is_remote { CONTEXT_IS_REMOTE } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            bits: local.bits | REMOTE,
            ..local
        };
        assert_eq!(remote.otlp_flags(), 0x301);
    }
}
