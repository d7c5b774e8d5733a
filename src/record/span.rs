//! [`Span`]: a span being recorded. Its fields are encoded as they are set
//! straight into its slot in its thread's log (or, when it is not in place,
//! into its own buffer; see `recording`); `end` (or drop) writes the
//! closing fields and publishes it.
//!
//! A `Span` is a small handle: its context and a pointer to its
//! [`Recording`] (where its bytes are, the layout, the counts), which lives
//! in a pooled box that the recording threads reuse (`thread`), so
//! returning a span from `start` and passing it to `end` moves 64 bytes.
//!
//! This module runs per span: the setters and `end` must never block, do
//! I/O, lock, or allocate once warm (events and links take a pooled side
//! buffer on first use).

use std::time::SystemTime;

use super::recording::Recording;
use super::thread::{end_span, extend_slot, with_pipeline};
use crate::clock;
use crate::codec::buf::SpanSink;
use crate::codec::otlp::{
    field, patch_end_time, put_end_time, put_event, put_i64_kv, put_kv_span, put_link, put_name,
    put_span_end, put_status_and_flags, put_str_kv, replace_span_name, EncodeValue, LinkTarget,
    SpanEnd, MAX_VALUE_DEPTH,
};
use crate::model::{SpanContext, Status, StatusCode, ValueRef};

/// `Span.attributes` field number.
const ATTRIBUTES: u32 = field::span::ATTRIBUTES;

/// A span being recorded. Ends on [`Span::end`] or when dropped.
///
/// Every setter is a no-op on a span that is not sampled; its
/// [`context`](Span::context) still propagates.
///
/// Attributes are encoded as they are set, in order, and not de-duplicated
/// (as in the OpenTelemetry Rust SDK): set each key once.
pub struct Span {
    pub(super) ctx: SpanContext,
    pub(super) rec: Option<Box<Recording>>,
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Span")
            .field("context", &self.ctx)
            .field("recording", &self.rec.is_some())
            .finish()
    }
}

impl Span {
    /// A span that records nothing and has an invalid context (for code
    /// paths where tracing is off).
    pub fn noop() -> Span {
        Span {
            ctx: SpanContext::default(),
            rec: None,
        }
    }

    /// This span's context: what children and upstream requests inherit.
    pub fn context(&self) -> &SpanContext {
        &self.ctx
    }

    /// Whether the span is sampled and not yet ended.
    pub fn is_recording(&self) -> bool {
        self.rec.is_some()
    }

    /// Sets a string attribute.
    ///
    /// Hot path: copies `key` and `value` into the span's buffer once.
    #[inline(always)]
    pub fn set_str(&mut self, key: &str, value: &str) {
        if let Some(r) = self.rec.as_mut() {
            if r.admit_attribute() {
                let limit = r.value_limit as usize;
                put_str_kv(&mut **r, ATTRIBUTES, key, value, limit);
            }
        }
    }

    /// Sets an integer attribute.
    #[inline(always)]
    pub fn set_i64(&mut self, key: &str, value: i64) {
        if let Some(r) = self.rec.as_mut() {
            if r.admit_attribute() {
                put_i64_kv(&mut **r, ATTRIBUTES, key, value);
            }
        }
    }

    /// Sets a double attribute.
    #[inline]
    pub fn set_f64(&mut self, key: &str, value: f64) {
        self.set_attribute(key, ValueRef::F64(value));
    }

    /// Sets a boolean attribute.
    #[inline]
    pub fn set_bool(&mut self, key: &str, value: bool) {
        self.set_attribute(key, ValueRef::Bool(value));
    }

    /// Sets a bytes attribute.
    #[inline]
    pub fn set_bytes(&mut self, key: &str, value: &[u8]) {
        self.set_attribute(key, ValueRef::Bytes(value));
    }

    /// Sets an attribute of any type: strings, numbers, booleans, bytes,
    /// arrays, nested key-value lists, or an owned
    /// [`AnyValue`](crate::model::AnyValue).
    ///
    /// A value nested deeper than
    /// [`MAX_VALUE_DEPTH`] is dropped
    /// and counted in `dropped_attributes_count`.
    pub fn set_attribute<'v>(&mut self, key: &str, value: impl Into<ValueRef<'v>>) {
        let Some(r) = self.rec.as_mut() else { return };
        let value = value.into();
        if value.deeper_than(MAX_VALUE_DEPTH) {
            r.dropped_attributes = r.dropped_attributes.saturating_add(1);
            return;
        }
        if !r.admit_attribute() {
            return;
        }
        let limit = r.value_limit as usize;
        let r = &mut **r;
        match value {
            ValueRef::Str(s) => put_str_kv(r, ATTRIBUTES, key, s, limit),
            ValueRef::I64(v) => put_i64_kv(r, ATTRIBUTES, key, v),
            other => put_kv_span(r, ATTRIBUTES, key, &other, limit),
        }
    }

    /// Adds an event, timestamped now.
    ///
    /// ```no_run
    /// # fn f(span: &mut tracewire::Span) {
    /// span.add_event("retry", &[("attempt", 2i64.into())]);
    /// # }
    /// ```
    pub fn add_event(&mut self, name: &str, attributes: &[(&str, ValueRef<'_>)]) {
        if self.rec.is_some() {
            self.add_event_at_nanos(name, clock::now_unix_nanos(), attributes);
        }
    }

    /// Adds an event with an explicit timestamp.
    pub fn add_event_at(
        &mut self,
        name: &str,
        time: SystemTime,
        attributes: &[(&str, ValueRef<'_>)],
    ) {
        self.add_event_at_nanos(name, clock::to_unix_nanos(time), attributes);
    }

    fn add_event_at_nanos(&mut self, name: &str, time: u64, attributes: &[(&str, ValueRef<'_>)]) {
        let Some(r) = self.rec.as_mut() else { return };
        let Some(limits) = with_pipeline(r.pipeline, |shared| shared.limits) else {
            return;
        };
        if r.event_count >= limits.max_events_per_span {
            r.dropped_events = r.dropped_events.saturating_add(1);
            return;
        }
        r.ensure_side();
        let at = r.side.len();
        with_encodable(
            attributes,
            limits.max_attributes_per_event,
            |attrs, kept, dropped| {
                put_event(
                    &mut r.side,
                    time,
                    name,
                    attrs,
                    kept,
                    dropped,
                    limits.value_limit(),
                );
            },
        );
        // Events go before any links (canonical field order): rotate the new
        // event in front of the links.
        let events_end = r.events_end as usize;
        let added = r.side.len() - at;
        r.side[events_end..].rotate_right(added);
        r.events_end = (events_end + added) as u32;
        r.event_count += 1;
    }

    /// Adds a link to another span.
    pub fn add_link(&mut self, ctx: &SpanContext, attributes: &[(&str, ValueRef<'_>)]) {
        let Some(r) = self.rec.as_mut() else { return };
        if !ctx.is_valid() {
            return;
        }
        let Some(limits) = with_pipeline(r.pipeline, |shared| shared.limits) else {
            return;
        };
        if r.link_count >= limits.max_links_per_span {
            r.dropped_links = r.dropped_links.saturating_add(1);
            return;
        }
        r.ensure_side();
        let trace_id = ctx.trace_id();
        let span_id = ctx.span_id();
        let target = LinkTarget {
            trace_id: &trace_id,
            span_id: &span_id,
            trace_state: ctx.trace_state().as_str(),
            flags: ctx.otlp_flags(),
        };
        with_encodable(
            attributes,
            limits.max_attributes_per_link,
            |attrs, kept, dropped| {
                put_link(
                    &mut r.side,
                    &target,
                    attrs,
                    kept,
                    dropped,
                    limits.value_limit(),
                );
            },
        );
        r.link_count += 1;
    }

    /// Sets the status, following OpenTelemetry's rules: `Ok` is final,
    /// `Error` replaces `Unset`, `Unset` changes nothing, and a message is
    /// only kept for `Error`.
    #[inline]
    pub fn set_status(&mut self, status: Status) {
        let Some(r) = self.rec.as_mut() else { return };
        let current = r.status.as_ref().map_or(StatusCode::Unset, |s| s.code);
        match (current, status.code) {
            (StatusCode::Ok, _) | (_, StatusCode::Unset) => {}
            (_, StatusCode::Ok) => r.status = Some(Status::OK),
            (_, StatusCode::Error) => r.status = Some(status),
        }
    }

    /// Replaces the span's name.
    pub fn update_name(&mut self, name: &str) {
        let Some(r) = self.rec.as_mut() else { return };
        // Rare: the name moves what follows it, so the span leaves its
        // slot for its own buffer first.
        r.move_to_own_buffer();
        if r.is_split() {
            put_name(&mut **r, name);
        } else {
            r.layout = replace_span_name(&mut r.buf, &r.layout, name);
        }
    }

    /// Ends the span now and queues it for export.
    ///
    /// Hot path: one counter read, the closing fields, one release store
    /// (or, for a span not in place, one copy into the log).
    #[inline(always)]
    pub fn end(self) {
        if let Some(rec) = self.into_recording() {
            finish(rec, None);
        }
    }

    /// Ends the span at an explicit time.
    pub fn end_at(self, time: SystemTime) {
        if let Some(rec) = self.into_recording() {
            finish(rec, Some(clock::to_unix_nanos(time)));
        }
    }

    /// Consumes the span, its recording (if sampled) taken out for the
    /// caller to finish: the rest it owns (its trace state) is dropped
    /// here, in line, not through the span's drop glue, an out-of-line call
    /// that was about a sixth of an unsampled span's instructions.
    ///
    /// Hot path (runs per span end): a few loads and one check.
    #[inline(always)]
    fn into_recording(mut self) -> Option<Box<Recording>> {
        let rec = self.rec.take();
        let state = self.ctx.take_trace_state();
        // Nothing is left in it to drop or to finish.
        std::mem::forget(self);
        drop(state);
        rec
    }
}

/// Ends the span being recorded in `rec`, now or at `end_time` (out of
/// line: ending an unsampled span is then one check at the call site).
///
/// Hot path (runs per span end): see [`Span::end`].
#[inline(never)]
fn finish(mut rec: Box<Recording>, end_time: Option<u64>) {
    let r = &mut *rec;
    let end = match (end_time, r.start_raw) {
        (Some(t), _) => t,
        (None, Some(raw)) => clock::since(raw, r.start_unix),
        (None, None) => clock::now_unix_nanos(),
    };
    r.settle();
    if r.is_split() {
        put_end_time(r, end);
    } else {
        let layout = r.layout;
        patch_end_time(r, &layout, end);
    }
    // Nearly every span: nothing dropped, no events or links, a status
    // without a message (or none): its status and flags, a few stores.
    let plain =
        r.side.is_empty() && (r.dropped_attributes | r.dropped_events | r.dropped_links) == 0;
    let code = match &r.status {
        None => Some(None),
        Some(st) if st.message.is_empty() => Some(Some(st.code)),
        Some(_) => None,
    };
    match (plain, code) {
        (true, Some(code)) => {
            let flags = r.flags;
            put_status_and_flags(r, code, flags);
        }
        _ => put_closing(r),
    }
    end_span(rec);
}

/// The closing fields of a span with something dropped, events, links or
/// a status message.
#[cold]
fn put_closing(r: &mut Recording) {
    let side = std::mem::take(&mut r.side);
    let status = r.status.take();
    let (events, links) = side.split_at((r.events_end as usize).min(side.len()));
    let closing = SpanEnd {
        dropped_attributes_count: r.dropped_attributes,
        events,
        dropped_events_count: r.dropped_events,
        links,
        dropped_links_count: r.dropped_links,
        status: status.as_ref(),
        flags: r.flags,
    };
    put_span_end(r, &closing);
    r.side = side;
}

impl Drop for Span {
    /// Ends a span dropped without `end` (dropping an ended or unsampled
    /// span is one check).
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(rec) = self.rec.take() {
            finish(rec, None);
        }
    }
}

/// A span's bytes go where it is: its slot while in place and at home,
/// else its own buffer (see `recording`).
impl SpanSink for Recording {
    #[inline(always)]
    fn len(&self) -> usize {
        match &self.slot {
            Some(w) => w.len(),
            None => self.buf.len(),
        }
    }

    /// Hot path (runs per field): in place, the slot's checks and one
    /// store; no allocation, lock or syscall.
    #[inline(always)]
    fn claim(&mut self, n: usize) -> &mut [u8] {
        match &self.slot {
            Some(w) if w.fits(n) => {
                // Checked just now: the slot's own claim succeeds (its
                // checks are the same; the compiler folds them).
                match self.slot.as_mut() {
                    Some(w) => w.claim(n).unwrap_or_default(),
                    None => Default::default(),
                }
            }
            // Not in place: its own buffer.
            None => self.buf.claim(n),
            // Sliced to `n` (which it is): every arm's length is then `n`
            // to the compiler, which drops the callers' bounds checks.
            Some(_) => &mut self.claim_slow(n)[..n],
        }
    }

    #[inline]
    fn written_mut(&mut self) -> &mut [u8] {
        match self.slot.as_mut() {
            // Away from home nothing in the slot may be touched: callers
            // settle first (`Recording::settle`), so this is never empty.
            Some(w) => w.written_mut().unwrap_or_default(),
            None => self.buf.as_mut_slice(),
        }
    }

    fn truncate(&mut self, len: usize) {
        match self.slot.as_mut() {
            Some(w) => w.unclaim(w.len().saturating_sub(len)),
            None => self.buf.truncate(len),
        }
    }
}

impl Recording {
    /// The slot has no room for `n` more bytes, or the span is away from
    /// home (or has no slot): the slot grows (when it is its chunk's
    /// last), or the span moves to its own buffer (at home), or splits
    /// (away); then the bytes come from where it is now.
    #[cold]
    #[inline(never)]
    fn claim_slow(&mut self, n: usize) -> &mut [u8] {
        if let Some(w) = self.slot.as_mut() {
            if w.is_home() {
                if extend_slot(self.pipeline, w, n) {
                    return self.claim_in_slot(n);
                }
                self.move_to_own_buffer();
            } else {
                self.split();
            }
        }
        self.buf.claim(n)
    }

    /// `n` bytes from the slot, which has them (the caller checked): or,
    /// should it not, from the span's own buffer.
    fn claim_in_slot(&mut self, n: usize) -> &mut [u8] {
        if !self.slot.as_ref().is_some_and(|w| w.fits(n)) {
            self.move_to_own_buffer();
            return self.buf.claim(n);
        }
        match self.slot.as_mut() {
            Some(w) => w.claim(n).unwrap_or_default(),
            None => Default::default(),
        }
    }

    /// Away from home (on another thread, or its chunk let go), a span in
    /// place splits now: what it wrote stays in its slot as part one.
    ///
    /// Hot path (runs per span end): the slot's home check.
    #[inline]
    fn settle(&mut self) {
        if self.slot.as_ref().is_some_and(|w| !w.is_home()) {
            self.split();
        }
    }

    /// Gives the slot up without touching it: the rest goes to `buf`.
    fn split(&mut self) {
        if let Some(w) = self.slot.take() {
            self.buf.clear();
            self.part = Some(w.abandon());
        }
    }

    /// Leaves the slot for the span's own buffer: its bytes copied at home,
    /// split away from home.
    fn move_to_own_buffer(&mut self) {
        let Some(w) = self.slot.take() else { return };
        self.buf.clear();
        let buf = &mut self.buf;
        if let Err(w) = w.move_out(|bytes| buf.extend_from_slice(bytes)) {
            self.part = Some(w.abandon());
        }
    }

    /// Takes the side buffer for events and links on first use.
    fn ensure_side(&mut self) {
        if self.side.capacity() == 0 {
            self.side =
                with_pipeline(self.pipeline, |shared| shared.side_pool.take()).unwrap_or_default();
        }
    }

    /// Counts an attribute against the limit; `false` when it must be dropped.
    #[inline(always)]
    fn admit_attribute(&mut self) -> bool {
        if self.attributes < self.max_attributes {
            self.attributes += 1;
            true
        } else {
            self.dropped_attributes = self.dropped_attributes.saturating_add(1);
            false
        }
    }
}

/// Calls `f` with the attributes that can be encoded (nested no deeper than
/// `MAX_VALUE_DEPTH`), how many of them to keep (`max`), and how many are
/// dropped in all.
fn with_encodable<R>(
    attributes: &[(&str, ValueRef<'_>)],
    max: u32,
    f: impl FnOnce(&[(&str, ValueRef<'_>)], usize, u32) -> R,
) -> R {
    let max = max as usize;
    if attributes
        .iter()
        .any(|(_, v)| v.deeper_than(MAX_VALUE_DEPTH))
    {
        // Rare: build the filtered list.
        let ok: Vec<(&str, ValueRef<'_>)> = attributes
            .iter()
            .filter(|(_, v)| !v.deeper_than(MAX_VALUE_DEPTH))
            .copied()
            .collect();
        let kept = ok.len().min(max);
        let dropped = u32::try_from(attributes.len() - kept).unwrap_or(u32::MAX);
        f(&ok, kept, dropped)
    } else {
        let kept = attributes.len().min(max);
        let dropped = u32::try_from(attributes.len() - kept).unwrap_or(u32::MAX);
        f(attributes, kept, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::Span;

    #[test]
    fn a_span_is_a_small_handle() {
        // The context (48 bytes, 16-aligned for the u128 trace id) and the
        // pointer to its pooled recording: what `start` returns and `end`
        // takes is a few stores, not a memcpy call (the 200-byte value of
        // before was copied with one, twice per span).
        let size = std::mem::size_of::<Span>();
        assert!(size <= 64, "Span is {size} bytes");
        assert_eq!(
            std::mem::size_of::<Option<Box<super::Recording>>>(),
            std::mem::size_of::<usize>(),
            "an unsampled span's recording is a null pointer"
        );
    }
}
