//! [`Recording`]: the state of a sampled span while it is recorded (its
//! buffer, the start fields' layout, the counts against the limits, the
//! status), in a box that is pooled: `thread` takes one per span start and
//! gives it back, buffer and all, at the span's end.
//!
//! Data only: the setters are in `span`, the pooling in `thread`. Runs per
//! span: it must never allocate, lock or make a syscall.

use crate::codec::buf::SpanBuf;
use crate::codec::otlp::SpanStartLayout;
use crate::model::Status;

/// What a sampled span carries while it is recorded. Pooled: a box is
/// taken per span start and given back (with its buffer) at its end, on
/// whichever thread that is; its fields are reset by [`Recording::begin`].
pub(super) struct Recording {
    /// The pipeline's id (spans hold no reference count on it; see
    /// `thread::with_pipeline`).
    pub(super) pipeline: u64,
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
}

impl Recording {
    /// A recording with an empty body in `buf` (its headroom reserved by
    /// the caller), not yet begun.
    pub(super) fn new(buf: SpanBuf) -> Recording {
        Recording {
            pipeline: 0,
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
        }
    }

    /// Resets every field for a new span of `pipeline` (the buffer and the
    /// side buffer were reset when the box was given back).
    ///
    /// Hot path (runs per span start): plain stores into a box in cache.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn begin(
        &mut self,
        pipeline: u64,
        layout: SpanStartLayout,
        max_attributes: u32,
        value_limit: u32,
        flags: u32,
        scope: u16,
    ) {
        self.pipeline = pipeline;
        self.events_end = 0;
        self.layout = layout;
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
    }
}
