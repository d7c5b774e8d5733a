//! [`Recording`]: the state of a sampled span while it is recorded (where
//! its bytes are, the start fields' layout, the counts against the limits,
//! the status, its start on the clock), in a box that is pooled: `thread`
//! takes one per span start and gives it back at the span's end, on
//! whichever thread that is.
//!
//! Where the bytes are is one of three places:
//! - in place: the span's slot in its thread's log ([`SlotWriter`]), the
//!   common case;
//! - its own buffer (`buf`, pooled with the box): a span that outgrew its
//!   slot and could not extend it, or that started when no chunk was free;
//!   copied into the log when it ends;
//! - split: part one stays in the slot it left, `part` names it, and `buf`
//!   holds the rest (a span that outlived its chunk, or moved to another
//!   thread while being written); the rest is appended when it ends.
//!
//! Data only: the setters and the moves between those places are in
//! `span`, the pooling in `thread`. Runs per span: it must never allocate,
//! lock or make a syscall.

use crate::codec::buf::SpanBuf;
use crate::codec::otlp::SpanStartLayout;
use crate::model::Status;
use crate::span_log::{PartOne, SlotWriter};

/// What a sampled span carries while it is recorded. Pooled: a box is
/// taken per span start and given back (with its buffer) at its end, on
/// whichever thread that is; its fields are reset by [`Recording::begin`].
pub(super) struct Recording {
    /// The pipeline's id (spans hold no reference count on it; see
    /// `thread::with_pipeline`).
    pub(super) pipeline: u64,
    /// In place: the span's slot.
    pub(super) slot: Option<SlotWriter>,
    /// Split: the slot part one is in.
    pub(super) part: Option<PartOne>,
    /// The span's bytes when not in place (the rest, when split).
    pub(super) buf: SpanBuf,
    /// Encoded `Span.events` fields, then encoded `Span.links` fields, each
    /// in order (a pooled buffer, taken on first use).
    pub(super) side: Vec<u8>,
    /// Where the events end and the links begin in `side`.
    pub(super) events_end: u32,
    pub(super) layout: SpanStartLayout,
    pub(super) attributes: u32,
    pub(super) dropped_attributes: u32,
    pub(super) event_count: u32,
    pub(super) dropped_events: u32,
    pub(super) link_count: u32,
    pub(super) dropped_links: u32,
    /// Copied from the pipeline's limits at start, for the setters' fast path.
    pub(super) max_attributes: u32,
    pub(super) value_limit: u32,
    pub(super) flags: u32,
    pub(super) scope: u16,
    pub(super) status: Option<Status>,
    /// The clock's counter at start, when the start was read from it (the
    /// end is then read relative to it), and the start's Unix time.
    pub(super) start_raw: Option<u64>,
    pub(super) start_unix: u64,
}

impl Recording {
    /// A recording with an empty buffer, not yet begun.
    pub(super) fn new(buf: SpanBuf) -> Recording {
        Recording {
            pipeline: 0,
            slot: None,
            part: None,
            buf,
            side: Vec::new(),
            events_end: 0,
            layout: SpanStartLayout::default(),
            attributes: 0,
            dropped_attributes: 0,
            event_count: 0,
            dropped_events: 0,
            link_count: 0,
            dropped_links: 0,
            max_attributes: 0,
            value_limit: 0,
            flags: 0,
            scope: 0,
            status: None,
            start_raw: None,
            start_unix: 0,
        }
    }

    /// Resets every field for a new span of `pipeline` but where its bytes
    /// go (`slot`, set when it was taken; its own buffer when `None`, which
    /// was emptied when the box was given back).
    ///
    /// Hot path (runs per span start): plain stores into a box in cache.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn begin(
        &mut self,
        pipeline: u64,
        max_attributes: u32,
        value_limit: u32,
        flags: u32,
        scope: u16,
        start: (Option<u64>, u64),
    ) {
        self.pipeline = pipeline;
        self.part = None;
        self.events_end = 0;
        self.attributes = 0;
        self.dropped_attributes = 0;
        self.event_count = 0;
        self.dropped_events = 0;
        self.link_count = 0;
        self.dropped_links = 0;
        self.max_attributes = max_attributes;
        self.value_limit = value_limit;
        self.flags = flags;
        self.scope = scope;
        self.status = None;
        (self.start_raw, self.start_unix) = start;
    }

    /// Whether the span is split (its start fields are out of reach).
    #[inline]
    pub(super) fn is_split(&self) -> bool {
        self.part.is_some()
    }
}
