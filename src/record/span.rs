//! [`Span`]: a span being recorded. Its fields are encoded straight into
//! its buffer as they are set; `end` (or drop) writes the closing fields and
//! queues the buffer through this thread's handle on its pipeline.
//!
//! A `Span` is a small handle: its context and a pointer to its
//! [`Recording`] (the buffer, the layout, the counts), which lives in a
//! pooled box that the recording threads reuse (`thread`), so returning a
//! span from `start` and passing it to `end` moves 64 bytes, not 200.
//!
//! This module runs per span: the setters and `end` must never block, do
//! I/O, lock, or allocate once warm (events and links take a pooled side
//! buffer on first use).

use std::time::SystemTime;

use super::recording::Recording;
use super::thread::{end_span, with_pipeline};
use crate::clock;
use crate::codec::otlp::{
    field, patch_end_time, put_event, put_i64_kv, put_kv_span, put_link, put_span_end, put_str_kv,
    replace_span_name, EncodeValue, LinkTarget, SpanEnd, MAX_VALUE_DEPTH,
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
                put_str_kv(&mut r.buf, ATTRIBUTES, key, value, r.value_limit as usize);
            }
        }
    }

    /// Sets an integer attribute.
    #[inline(always)]
    pub fn set_i64(&mut self, key: &str, value: i64) {
        if let Some(r) = self.rec.as_mut() {
            if r.admit_attribute() {
                put_i64_kv(&mut r.buf, ATTRIBUTES, key, value);
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
        match value {
            ValueRef::Str(s) => put_str_kv(&mut r.buf, ATTRIBUTES, key, s, limit),
            ValueRef::I64(v) => put_i64_kv(&mut r.buf, ATTRIBUTES, key, v),
            other => put_kv_span(&mut r.buf, ATTRIBUTES, key, &other, limit),
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
        if let Some(r) = self.rec.as_mut() {
            r.layout = replace_span_name(&mut r.buf, &r.layout, name);
        }
    }

    /// Ends the span now and queues it for export.
    ///
    /// Hot path: one clock read, the closing fields, one lock-free push.
    #[inline]
    pub fn end(mut self) {
        self.finish(None);
    }

    /// Ends the span at an explicit time.
    pub fn end_at(mut self, time: SystemTime) {
        self.finish(Some(clock::to_unix_nanos(time)));
    }

    #[inline]
    fn finish(&mut self, end_time: Option<u64>) {
        let Some(mut rec) = self.rec.take() else {
            return;
        };
        let r = &mut *rec;
        let end = end_time.unwrap_or_else(clock::now_unix_nanos);
        patch_end_time(&mut r.buf, &r.layout, end);
        let (events, links) = r.side.split_at(r.events_end as usize);
        put_span_end(
            &mut r.buf,
            &SpanEnd {
                dropped_attributes_count: r.dropped_attributes,
                events,
                dropped_events_count: r.dropped_events,
                links,
                dropped_links_count: r.dropped_links,
                status: r.status.as_ref(),
                flags: r.flags,
            },
        );
        end_span(rec);
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.finish(None);
    }
}

impl Recording {
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
