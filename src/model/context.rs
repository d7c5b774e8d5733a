//! What propagates between spans and services: the W3C trace state and the
//! span context, plus the OTLP flag bits that record whether a parent was
//! remote (part of the OTLP data model, not of its encoding).
//!
//! This module must never allocate except to share a non-empty trace state
//! (and to intern a pipeline's constant states once, as it is built).

use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use super::ids::{SpanId, TraceFlags, TraceId};

/// A validated W3C `tracestate` value, shared cheaply between the spans of a
/// request: an `Arc<str>` when it came from a request or was built for one;
/// when it is empty or one of the process's few constant states (the
/// `ot=th:...` a sampler or the shedding levels give every root they
/// keep), a number, copied without a reference count.
///
/// Build one with [`crate::propagation::parse_tracestate`], which enforces
/// the W3C grammar and limits.
///
/// ```
/// use tracewire::propagation::parse_tracestate;
/// let ts = parse_tracestate([&b"vendor=opaque"[..]]).unwrap();
/// assert_eq!(ts.clone().as_str(), "vendor=opaque");
/// assert!(tracewire::model::TraceState::EMPTY.is_empty());
/// ```
#[derive(Clone)]
pub struct TraceState(Repr);

/// The two forms of a trace state (16 bytes, as an `Option<Arc<str>>`
/// was: the `Arc`'s pointer tells them apart, and the empty state is all
/// zeros, as `None` was).
#[derive(Clone)]
enum Repr {
    /// A request's: cloned and dropped through its reference count. Never
    /// empty.
    Shared(Arc<str>),
    /// Empty (0), or the process's constant state with this number in
    /// [`CONSTANT_TEXTS`] (see [`TraceState::constant`]): cloned and
    /// dropped as a plain copy. Spans on every recording thread carry
    /// these at once, so a shared count would be one cache line all of
    /// them write twice per span.
    Constant(u32),
}

/// At most this many constant trace states are interned per process
/// (each a few dozen bytes, kept for good); past it, [`TraceState::constant`]
/// shares an `Arc` as any other state, so a process that keeps building
/// pipelines with new sampling ratios does not grow without bound.
const MAX_CONSTANTS: usize = 255;

/// The interned constant states' texts, by number (0, the empty state,
/// has none): each set once, under [`INTERNING`], and read without it.
static CONSTANT_TEXTS: [OnceLock<&'static str>; MAX_CONSTANTS + 1] =
    [const { OnceLock::new() }; MAX_CONSTANTS + 1];

/// Held while interning, so that two pipelines built at once cannot give
/// one text two numbers.
static INTERNING: Mutex<()> = Mutex::new(());

impl TraceState {
    /// The empty trace state.
    pub const EMPTY: TraceState = TraceState(Repr::Constant(0));

    /// Wraps an already validated header value (internal: use
    /// [`crate::propagation::parse_tracestate`]).
    pub(crate) fn from_validated(value: &str) -> Self {
        if value.is_empty() {
            TraceState::EMPTY
        } else {
            TraceState(Repr::Shared(Arc::from(value)))
        }
    }

    /// This state as one of the process's constant states: interned (once
    /// per distinct text, for the life of the process), so that spans
    /// carrying it clone and drop it without touching a reference count.
    /// For states every root of a pipeline carries (a sampler's or a
    /// shedding level's `ot=th:...`), built when the pipeline is; past
    /// [`MAX_CONSTANTS`] distinct texts, the state is returned as it is.
    pub(crate) fn constant(self) -> Self {
        let text = match &self.0 {
            Repr::Constant(_) => return self,
            Repr::Shared(text) => text,
        };
        // A poisoned lock only means another thread panicked while
        // interning: every text set is whole.
        let _interning = INTERNING.lock().unwrap_or_else(|e| e.into_inner());
        match intern(&CONSTANT_TEXTS, text) {
            Some(n) => TraceState(Repr::Constant(n as u32)),
            None => self,
        }
    }

    /// Whether this state has no reference count (empty or constant): for
    /// tests.
    #[cfg(test)]
    pub(crate) fn is_constant(&self) -> bool {
        matches!(self.0, Repr::Constant(_))
    }

    /// How many holders share this trace state's text (0 when it has no
    /// reference count: empty or constant): for tests that a consumed span
    /// lets its share go.
    #[cfg(test)]
    pub(crate) fn holders(&self) -> usize {
        match &self.0 {
            Repr::Shared(text) => Arc::strong_count(text),
            Repr::Constant(_) => 0,
        }
    }

    /// The header value, `""` when empty.
    #[inline]
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Shared(text) => text,
            Repr::Constant(0) => "",
            Repr::Constant(n) => constant_text(*n),
        }
    }

    /// Whether there is no trace state.
    #[inline]
    pub fn is_empty(&self) -> bool {
        matches!(self.0, Repr::Constant(0))
    }
}

/// The text of constant state `n` (set before any state with its number
/// existed).
fn constant_text(n: u32) -> &'static str {
    CONSTANT_TEXTS
        .get(n as usize)
        .and_then(OnceLock::get)
        .copied()
        .unwrap_or("")
}

/// The number of `text` in `table` (from 1: slot 0 is the empty state's
/// and stays unset), set in the first free slot (and kept for the life of
/// the process) when new; `None` when it is new and `table` is full.
/// Callers hold [`INTERNING`].
fn intern(table: &[OnceLock<&'static str>], text: &str) -> Option<usize> {
    for (n, slot) in table.iter().enumerate().skip(1) {
        match slot.get() {
            Some(known) if *known == text => return Some(n),
            Some(_) => {}
            None => {
                // Free, and set by no one else under the lock: this set
                // succeeds.
                let text: &'static str = Box::leak(Box::from(text));
                return slot.set(text).ok().map(|()| n);
            }
        }
    }
    None
}

impl Default for TraceState {
    fn default() -> Self {
        TraceState::EMPTY
    }
}

/// Two trace states are equal when their text is, whatever their form.
impl PartialEq for TraceState {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TraceState {}

impl std::hash::Hash for TraceState {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
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
    use std::hash::BuildHasher;

    #[test]
    fn a_constant_state_is_interned_once_and_cloned_without_a_count() {
        let shared = TraceState::from_validated("ot=th:c");
        assert_eq!(shared.holders(), 1);
        let a = shared.clone().constant();
        let b = TraceState::from_validated("ot=th:c").constant();
        assert!(a.is_constant() && b.is_constant());
        // One text, interned once: the same number.
        match (&a.0, &b.0) {
            (Repr::Constant(x), Repr::Constant(y)) => assert!(x == y && *x != 0),
            _ => panic!("not constant"),
        }
        // Equal (and hashed alike) whatever the form.
        assert_eq!(a, shared);
        let h = std::hash::RandomState::new();
        assert_eq!(h.hash_one(&a), h.hash_one(&shared));
        let copies: Vec<TraceState> = (0..4).map(|_| a.clone()).collect();
        assert!(copies
            .iter()
            .all(|c| c.as_str() == "ot=th:c" && c.is_constant()));
        assert_eq!(
            shared.holders(),
            1,
            "interning keeps no share of the original"
        );
        // The empty state is constant, and stays so.
        assert!(TraceState::EMPTY.is_constant() && TraceState::EMPTY.is_empty());
        assert!(TraceState::default().clone().constant().is_empty());
        assert_eq!(std::mem::size_of::<TraceState>(), 16);
    }

    #[test]
    fn interning_stops_at_its_bound() {
        // Slot 0 (the empty state's) and room for two texts.
        let table: [OnceLock<&'static str>; 3] = [const { OnceLock::new() }; 3];
        assert_eq!(intern(&table, "ot=th:8"), Some(1));
        assert_eq!(intern(&table, "ot=th:8"), Some(1), "known");
        assert_eq!(intern(&table, "ot=th:c"), Some(2));
        assert_eq!(intern(&table, "ot=th:e"), None, "full");
        assert_eq!(intern(&table, "ot=th:c"), Some(2), "known ones still found");
        assert_eq!(table[0].get(), None, "slot 0 stays the empty state's");
        let texts: Vec<&str> = table[1..].iter().filter_map(|t| t.get().copied()).collect();
        assert_eq!(texts, ["ot=th:8", "ot=th:c"]);
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
            bits: local.bits | REMOTE,
            ..local
        };
        assert_eq!(remote.otlp_flags(), 0x301);
    }
}
