//! The pieces of an OTLP `Span` as the recording path writes them: the
//! fields known at start (with a reserved end-time slot), events, links,
//! and the closing fields; plus [`encode_span`] for a whole [`SpanData`].
//!
//! The recording path's writers (`put_span_start`, the attribute writers,
//! `put_event`, `put_link`, `put_span_end`) must never allocate beyond the
//! caller's buffer growing. [`encode_span`], for a whole `SpanData` (the
//! integrations and tests, not the recording path), encodes its events and
//! links into scratch vectors first.

use bytes::BufMut;

use super::field::{event, key, link, span, status, SPAN_ID_BYTES, TRACE_ID_BYTES};
use super::value::{
    opt_str_len, opt_u32_len, put_i64_kv, put_kv_span, put_opt_str, put_opt_u32, put_str_kv,
    AttributeList,
};
use crate::codec::buf::{splice, SpanBuf, SpanSink};
use crate::codec::wire::{
    copy_short, fixed32_field_len, fixed64_field_len, len_field_len, put_bytes_field,
    put_fixed32_field, put_fixed64_field, put_le_short, put_len_header, varint_field_len, Cursor,
    WireType,
};
use crate::model::{AnyValue, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId};

/// The fields of a span known when it starts, written first (fields 1-7),
/// followed by a reserved `end_time_unix_nano` (field 8) patched by
/// [`patch_end_time`].
pub struct SpanStart<'a> {
    /// Trace id.
    pub trace_id: &'a TraceId,
    /// Span id.
    pub span_id: &'a SpanId,
    /// W3C trace state ("" for none).
    pub trace_state: &'a str,
    /// Parent span id, `None` for a root.
    pub parent_span_id: Option<&'a SpanId>,
    /// Name.
    pub name: &'a str,
    /// Kind.
    pub kind: SpanKind,
    /// Start time (ns since epoch).
    pub start_time_unix_nano: u64,
}

/// Where [`put_span_start`] put the name and end-time fields, so the name can
/// be replaced and the end time patched without re-encoding.
///
/// The three offsets are kept in one `u128` (built and copied as two whole
/// words): a struct of three `u32`s, copied out of the inlined encoder,
/// was stored as two 4-byte halves and read back as one 8-byte word, a
/// load the processor cannot forward from the stores (it waits for them
/// to retire, a stall on every span start).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct SpanStartLayout {
    /// Name field start (bits 0-31), its end (32-63), end time's offset
    /// (64-95).
    bits: u128,
}

impl SpanStartLayout {
    /// The layout of a name field at `name.0..name.1` (key, length and
    /// bytes) and an end time whose 8 bytes begin at `end_time_at`.
    #[inline(always)]
    pub(crate) fn new(name: (usize, usize), end_time_at: usize) -> Self {
        SpanStartLayout {
            bits: name.0 as u32 as u128
                | (name.1 as u32 as u128) << 32
                | (end_time_at as u32 as u128) << 64,
        }
    }

    /// Byte range of the whole `name` field (key, length and bytes).
    #[inline(always)]
    pub(crate) fn name(&self) -> (usize, usize) {
        (self.bits as u32 as usize, (self.bits >> 32) as u32 as usize)
    }

    /// Offset of the 8 little-endian bytes of `end_time_unix_nano`.
    #[inline(always)]
    pub(crate) fn end_time_at(&self) -> usize {
        (self.bits >> 64) as u32 as usize
    }
}

impl std::fmt::Debug for SpanStartLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanStartLayout")
            .field("name", &self.name())
            .field("end_time_at", &self.end_time_at())
            .finish()
    }
}

/// `trace_id` (16 bytes) and `span_id` (8 bytes), each with key and length.
const IDS_LEN: usize =
    len_field_len(span::TRACE_ID, TRACE_ID_BYTES) + len_field_len(span::SPAN_ID, SPAN_ID_BYTES);
/// `parent_span_id` (8 bytes) with key and length.
const PARENT_LEN: usize = len_field_len(span::PARENT_SPAN_ID, SPAN_ID_BYTES);
/// `kind` with its key (every kind's value is one byte).
const KIND_LEN: usize = varint_field_len(span::KIND, SpanKind::Consumer as u64);

/// Writes a span's fields 1-7 and a zero `end_time_unix_nano` (field 8),
/// appending to `buf` (an empty per-span buffer).
///
/// The end time is always reserved, so a span whose end time is 0 differs
/// from prost's form (which leaves a zero field out) until patched; a span
/// ends with a real timestamp, so the finished span is canonical.
///
/// Hot path (runs per span): one claimed slice, filled in place. Always
/// inlined, with the common case's stores: the layout it returns then
/// goes straight into its place (returned through memory from a call, it
/// is read back wider than it was written, and the load waits for the
/// stores to retire).
#[inline(always)]
pub fn put_span_start<S: SpanSink + ?Sized>(buf: &mut S, s: &SpanStart<'_>) -> SpanStartLayout {
    if s.name.len() < 0x80 && s.kind != SpanKind::Unspecified && s.start_time_unix_nano != 0 {
        if s.trace_state.is_empty() {
            // Nearly every span: the writer inlined with no trace state,
            // its code for one left out.
            return put_span_start_plain(buf, s, "");
        }
        if s.trace_state.len() < 0x80 {
            return put_span_start_short_state(buf, s);
        }
    }
    put_span_start_any(buf, s)
}

/// [`put_span_start`] for a span with a trace state under 128 bytes (the
/// roots of a probability sampler or of shedding carry `ot=th:...`), its
/// name under 128 bytes, a kind and a start time: the plain writer, out of
/// line, so that the common case's inlined copy carries no code for it.
///
/// Hot path (runs per span start with a trace state).
#[inline(never)]
fn put_span_start_short_state<S: SpanSink + ?Sized>(
    buf: &mut S,
    s: &SpanStart<'_>,
) -> SpanStartLayout {
    put_span_start_plain(buf, s, s.trace_state)
}

/// [`put_span_start`] for any span (a trace state or a name of 128 bytes or
/// more, no kind or no start time).
#[inline(never)]
fn put_span_start_any<S: SpanSink + ?Sized>(buf: &mut S, s: &SpanStart<'_>) -> SpanStartLayout {
    let name_len = opt_str_len(span::NAME, s.name);
    let head = IDS_LEN
        + opt_str_len(span::TRACE_STATE, s.trace_state)
        + if s.parent_span_id.is_some() {
            PARENT_LEN
        } else {
            0
        };
    let tail = if s.kind != SpanKind::Unspecified {
        KIND_LEN
    } else {
        0
    } + if s.start_time_unix_nano != 0 {
        fixed64_field_len(span::START_TIME)
    } else {
        0
    } + fixed64_field_len(span::END_TIME);
    let base = buf.len();
    let total = head + name_len + tail;
    {
        let mut w = Cursor::new(buf.claim(total));
        // trace_id and span_id: fixed sizes.
        const SPAN_ID_AT: usize = 2 + TRACE_ID_BYTES;
        let mut ids = [0u8; IDS_LEN];
        ids[0] = key::SPAN_TRACE_ID;
        ids[1] = TRACE_ID_BYTES as u8;
        ids[2..SPAN_ID_AT].copy_from_slice(&s.trace_id.to_bytes());
        ids[SPAN_ID_AT] = key::SPAN_SPAN_ID;
        ids[SPAN_ID_AT + 1] = SPAN_ID_BYTES as u8;
        ids[SPAN_ID_AT + 2..].copy_from_slice(&s.span_id.to_bytes());
        w.bytes(&ids);
        if !s.trace_state.is_empty() {
            w.bytes_field(span::TRACE_STATE, s.trace_state.as_bytes());
        }
        if let Some(parent) = s.parent_span_id {
            w.byte(key::SPAN_PARENT_SPAN_ID);
            w.byte(SPAN_ID_BYTES as u8);
            w.bytes(&parent.to_bytes());
        }
        if !s.name.is_empty() {
            w.bytes_field(span::NAME, s.name.as_bytes());
        }
        if s.kind != SpanKind::Unspecified {
            w.byte(key::SPAN_KIND);
            w.byte(s.kind as i32 as u8);
        }
        if s.start_time_unix_nano != 0 {
            w.fixed64_field(span::START_TIME, s.start_time_unix_nano);
        }
        w.fixed64_field(span::END_TIME, 0);
    }
    let name_start = base + head;
    SpanStartLayout::new((name_start, name_start + name_len), base + total - 8)
}

/// `kind`, `start_time_unix_nano` and the reserved `end_time_unix_nano`:
/// the fixed tail of a span's start fields.
const TAIL_LEN: usize = KIND_LEN + 2 * fixed64_field_len(span::START_TIME);

/// [`put_span_start`] for nearly every span (a name under 128 bytes, a
/// kind and a start time) with `trace_state` (its own, under 128 bytes, or
/// `""`, which the compiler folds away): every field's place is known, so
/// each is a fixed-size store or a short copy.
///
/// Hot path (runs per span start).
#[inline(always)]
fn put_span_start_plain<S: SpanSink + ?Sized>(
    buf: &mut S,
    s: &SpanStart<'_>,
    trace_state: &str,
) -> SpanStartLayout {
    let parent_len = if s.parent_span_id.is_some() {
        PARENT_LEN
    } else {
        0
    };
    let t = trace_state.len();
    let state_len = if t > 0 { 2 + t } else { 0 };
    let n = s.name.len();
    let name_len = if n > 0 { 2 + n } else { 0 };
    let head = IDS_LEN + state_len + parent_len;
    let total = head + name_len + TAIL_LEN;
    let base = buf.len();
    let out = buf.claim(total);
    let (ids, rest) = out.split_at_mut(IDS_LEN);
    const SPAN_ID_AT: usize = 2 + TRACE_ID_BYTES;
    ids[0] = key::SPAN_TRACE_ID;
    ids[1] = TRACE_ID_BYTES as u8;
    ids[2..SPAN_ID_AT].copy_from_slice(&s.trace_id.to_bytes());
    ids[SPAN_ID_AT] = key::SPAN_SPAN_ID;
    ids[SPAN_ID_AT + 1] = SPAN_ID_BYTES as u8;
    ids[SPAN_ID_AT + 2..].copy_from_slice(&s.span_id.to_bytes());
    let (state, rest) = rest.split_at_mut(state_len);
    if t > 0 {
        state[0] = key::SPAN_TRACE_STATE;
        state[1] = t as u8;
        copy_short(&mut state[2..], trace_state.as_bytes());
    }
    let (parent, rest) = rest.split_at_mut(parent_len);
    if let Some(p) = s.parent_span_id {
        parent[0] = key::SPAN_PARENT_SPAN_ID;
        parent[1] = SPAN_ID_BYTES as u8;
        parent[2..].copy_from_slice(&p.to_bytes());
    }
    let (name, tail) = rest.split_at_mut(name_len);
    if n > 0 {
        name[0] = key::SPAN_NAME;
        name[1] = n as u8;
        copy_short(&mut name[2..], s.name.as_bytes());
    }
    let mut fixed = [0u8; TAIL_LEN];
    fixed[0] = key::SPAN_KIND;
    fixed[1] = s.kind as i32 as u8;
    fixed[2] = key::SPAN_START_TIME;
    fixed[3..11].copy_from_slice(&s.start_time_unix_nano.to_le_bytes());
    fixed[11] = key::SPAN_END_TIME;
    tail[..TAIL_LEN].copy_from_slice(&fixed);
    let name_start = base + head;
    SpanStartLayout::new((name_start, name_start + name_len), base + total - 8)
}

/// Writes the end time into the slot [`put_span_start`] reserved.
#[inline]
pub fn patch_end_time<S: SpanSink + ?Sized>(
    buf: &mut S,
    layout: &SpanStartLayout,
    end_time_unix_nano: u64,
) {
    let at = layout.end_time_at();
    if let Some(slot) = buf.written_mut().get_mut(at..at + 8) {
        slot.copy_from_slice(&end_time_unix_nano.to_le_bytes());
    }
}

/// Writes `end_time_unix_nano` as a field of its own (for a span whose
/// start fields are out of reach: a decoder takes the last value of a
/// field written twice).
#[inline]
pub(crate) fn put_end_time<S: SpanSink + ?Sized>(buf: &mut S, end_time_unix_nano: u64) {
    Cursor::new(buf.claim(fixed64_field_len(span::END_TIME)))
        .fixed64_field(span::END_TIME, end_time_unix_nano);
}

/// Writes `name` as a field of its own (see [`put_end_time`]).
pub(crate) fn put_name<S: SpanSink + ?Sized>(buf: &mut S, name: &str) {
    Cursor::new(buf.claim(len_field_len(span::NAME, name.len())))
        .bytes_field(span::NAME, name.as_bytes());
}

/// Replaces the `name` field of a started span in place, moving what
/// follows; returns the updated layout.
pub(crate) fn replace_span_name<S: SpanSink + ?Sized>(
    buf: &mut S,
    layout: &SpanStartLayout,
    name: &str,
) -> SpanStartLayout {
    let mut field = Vec::with_capacity(len_field_len(span::NAME, name.len()));
    put_opt_str(&mut field, span::NAME, name);
    let (start, end) = layout.name();
    splice(buf, start, end, &field);
    let at = layout.end_time_at();
    let end_time_at = if at >= end {
        at + field.len() - (end - start)
    } else {
        at
    };
    SpanStartLayout::new((start, start + field.len()), end_time_at)
}

fn event_body_len<A: AttributeList + ?Sized>(
    time: u64,
    name: &str,
    attributes: &A,
    kept: usize,
    dropped: u32,
    limit: usize,
) -> usize {
    (if time != 0 {
        fixed64_field_len(event::TIME)
    } else {
        0
    }) + opt_str_len(event::NAME, name)
        + attributes.fields_len(event::ATTRIBUTES, kept, limit)
        + opt_u32_len(event::DROPPED_ATTRIBUTES_COUNT, dropped)
}

/// Writes one event as a span's field 11, keeping the first `kept` attributes
/// and recording `dropped` as its dropped-attributes count.
pub(crate) fn put_event<B: BufMut + ?Sized, A: AttributeList + ?Sized>(
    buf: &mut B,
    time_unix_nano: u64,
    name: &str,
    attributes: &A,
    kept: usize,
    dropped: u32,
    limit: usize,
) {
    put_len_header(
        buf,
        span::EVENTS,
        event_body_len(time_unix_nano, name, attributes, kept, dropped, limit),
    );
    if time_unix_nano != 0 {
        put_fixed64_field(buf, event::TIME, time_unix_nano);
    }
    put_opt_str(buf, event::NAME, name);
    attributes.put_fields(buf, event::ATTRIBUTES, kept, limit);
    put_opt_u32(buf, event::DROPPED_ATTRIBUTES_COUNT, dropped);
}

/// What a link points at.
pub(crate) struct LinkTarget<'a> {
    /// Linked trace.
    pub trace_id: &'a TraceId,
    /// Linked span.
    pub span_id: &'a SpanId,
    /// Linked trace state.
    pub trace_state: &'a str,
    /// Flags (trace flags plus is-remote bits).
    pub flags: u32,
}

fn link_body_len<A: AttributeList + ?Sized>(
    t: &LinkTarget<'_>,
    attributes: &A,
    kept: usize,
    dropped: u32,
    limit: usize,
) -> usize {
    len_field_len(link::TRACE_ID, 16)
        + len_field_len(link::SPAN_ID, 8)
        + opt_str_len(link::TRACE_STATE, t.trace_state)
        + attributes.fields_len(link::ATTRIBUTES, kept, limit)
        + opt_u32_len(link::DROPPED_ATTRIBUTES_COUNT, dropped)
        + if t.flags != 0 {
            fixed32_field_len(link::FLAGS)
        } else {
            0
        }
}

/// Writes one link as a span's field 13.
pub(crate) fn put_link<B: BufMut + ?Sized, A: AttributeList + ?Sized>(
    buf: &mut B,
    target: &LinkTarget<'_>,
    attributes: &A,
    kept: usize,
    dropped: u32,
    limit: usize,
) {
    put_len_header(
        buf,
        span::LINKS,
        link_body_len(target, attributes, kept, dropped, limit),
    );
    put_bytes_field(buf, link::TRACE_ID, &target.trace_id.to_bytes());
    put_bytes_field(buf, link::SPAN_ID, &target.span_id.to_bytes());
    put_opt_str(buf, link::TRACE_STATE, target.trace_state);
    attributes.put_fields(buf, link::ATTRIBUTES, kept, limit);
    put_opt_u32(buf, link::DROPPED_ATTRIBUTES_COUNT, dropped);
    if target.flags != 0 {
        put_fixed32_field(buf, link::FLAGS, target.flags);
    }
}

/// The fields of a span written when it ends (10-16), after its attributes.
pub struct SpanEnd<'a> {
    /// Attributes cut by limits.
    pub dropped_attributes_count: u32,
    /// Already encoded event fields (field 11 each), in order.
    pub events: &'a [u8],
    /// Events cut by limits.
    pub dropped_events_count: u32,
    /// Already encoded link fields (field 13 each), in order.
    pub links: &'a [u8],
    /// Links cut by limits.
    pub dropped_links_count: u32,
    /// Status, `None` to leave it out.
    pub status: Option<&'a Status>,
    /// `Span.flags`.
    pub flags: u32,
}

fn status_body_len(status: &Status) -> usize {
    opt_str_len(status::MESSAGE, &status.message)
        + opt_u32_len(status::CODE, status.code as i32 as u32)
}

/// The exact length of a span's fields 10-16.
#[inline]
pub(crate) fn span_end_len(e: &SpanEnd<'_>) -> usize {
    opt_u32_len(span::DROPPED_ATTRIBUTES_COUNT, e.dropped_attributes_count)
        + e.events.len()
        + opt_u32_len(span::DROPPED_EVENTS_COUNT, e.dropped_events_count)
        + e.links.len()
        + opt_u32_len(span::DROPPED_LINKS_COUNT, e.dropped_links_count)
        + e.status
            .map_or(0, |st| len_field_len(span::STATUS, status_body_len(st)))
        + if e.flags != 0 {
            fixed32_field_len(span::FLAGS)
        } else {
            0
        }
}

/// Appends a span's fields 10-16.
///
/// Hot path (runs per span): one claimed slice, filled in place; a span
/// with nothing dropped and no events or links (nearly every one) writes
/// its status and flags with a few stores.
#[inline]
pub fn put_span_end<S: SpanSink + ?Sized>(buf: &mut S, e: &SpanEnd<'_>) {
    if e.dropped_attributes_count == 0
        && e.dropped_events_count == 0
        && e.dropped_links_count == 0
        && e.events.is_empty()
        && e.links.is_empty()
    {
        match e.status {
            Some(st) if st.message.is_empty() => {
                put_status_and_flags(buf, Some(st.code), e.flags);
                return;
            }
            None => {
                put_status_and_flags(buf, None, e.flags);
                return;
            }
            _ => {}
        }
    }
    {
        let mut w = Cursor::new(buf.claim(span_end_len(e)));
        if e.dropped_attributes_count != 0 {
            w.varint_field(
                span::DROPPED_ATTRIBUTES_COUNT,
                u64::from(e.dropped_attributes_count),
            );
        }
        if !e.events.is_empty() {
            w.bytes(e.events);
        }
        if e.dropped_events_count != 0 {
            w.varint_field(
                span::DROPPED_EVENTS_COUNT,
                u64::from(e.dropped_events_count),
            );
        }
        if !e.links.is_empty() {
            w.bytes(e.links);
        }
        if e.dropped_links_count != 0 {
            w.varint_field(span::DROPPED_LINKS_COUNT, u64::from(e.dropped_links_count));
        }
        if let Some(status) = e.status {
            w.key(span::STATUS, WireType::LengthDelimited);
            w.varint(status_body_len(status) as u64);
            if !status.message.is_empty() {
                w.bytes_field(status::MESSAGE, status.message.as_bytes());
            }
            let code = status.code as i32 as u32;
            if code != 0 {
                w.varint_field(status::CODE, u64::from(code));
            }
        }
        if e.flags != 0 {
            w.fixed32_field(span::FLAGS, e.flags);
        }
    }
}

/// A span's fields 15 and 16 when nothing else closes it: its status
/// (`code`, no message; left out when `None`) and `Span.flags` (left out
/// when 0), in one claim: what [`put_span_end`] writes for such a span.
///
/// Hot path (runs per span): a few stores.
#[inline(always)]
pub(crate) fn put_status_and_flags<S: SpanSink + ?Sized>(
    buf: &mut S,
    code: Option<StatusCode>,
    flags: u32,
) {
    let status = match code.map(|c| c as i32 as u8) {
        None => ([0; 4], 0),
        Some(0) => ([key::SPAN_STATUS, 0, 0, 0], 2),
        Some(c) => ([key::SPAN_STATUS, 2, key::STATUS_CODE, c], 4),
    };
    put_status_flags(buf, status, flags);
}

/// The status field as given (the first `status.1` bytes of `status.0`,
/// already encoded) and the flags field (left out when 0), in one claim.
///
/// Both fields are composed in one integer (the status low, the flags
/// field after it) and stored from registers: bytes stored one by one and
/// then read back as a wider word could not be forwarded from the stores
/// (a stall on every span).
#[inline(always)]
fn put_status_flags<S: SpanSink + ?Sized>(buf: &mut S, status: ([u8; 4], usize), flags: u32) {
    let n = status.1.min(4);
    let status = u128::from(u32::from_le_bytes(status.0)) & ((1u128 << (8 * n)) - 1);
    let (flags, flags_len) = if flags != 0 {
        let key = u128::from(u16::from_le_bytes(key::SPAN_FLAGS));
        (
            key | u128::from(flags) << 16,
            fixed32_field_len(span::FLAGS),
        )
    } else {
        (0, 0)
    };
    put_le_short(buf.claim(n + flags_len), status | flags << (8 * n));
}

/// Encodes a whole [`SpanData`] as a `Span` message body, appended to `buf`.
///
/// No limits are applied: the record is encoded as it is (its `dropped_*`
/// fields are written as given). Values nested deeper than
/// [`MAX_VALUE_DEPTH`](super::MAX_VALUE_DEPTH) are written anyway; callers that take such records
/// from outside should check [`EncodeValue::deeper_than`](super::EncodeValue::deeper_than) first.
///
/// ```
/// use tracewire::internal::codec::otlp::encode_span;
/// use tracewire::model::{KeyValue, SpanData, SpanId, SpanKind, TraceId};
///
/// let span = SpanData {
///     trace_id: TraceId::from_bytes([1; 16]),
///     span_id: SpanId::from_bytes([2; 8]),
///     name: "GET /".into(),
///     kind: SpanKind::Server,
///     start_time_unix_nano: 1,
///     end_time_unix_nano: 2,
///     attributes: vec![KeyValue::new("http.request.method", "GET")],
///     ..SpanData::default()
/// };
/// let mut body = Vec::new();
/// encode_span(&mut body, &span);
/// assert_eq!(&body[..2], &[0x0a, 16]); // trace_id: field 1, 16 bytes
/// ```
pub fn encode_span(buf: &mut Vec<u8>, span: &SpanData) {
    let mut body = SpanBuf::with_capacity(256);
    encode_span_into(&mut body, span);
    buf.extend_from_slice(body.as_slice());
}

/// [`encode_span`] into a [`SpanBuf`], with the writers the recording path
/// uses.
pub(crate) fn encode_span_into(buf: &mut SpanBuf, span: &SpanData) {
    let limit = usize::MAX;
    let layout = put_span_start(
        buf,
        &SpanStart {
            trace_id: &span.trace_id,
            span_id: &span.span_id,
            trace_state: &span.trace_state,
            parent_span_id: span.parent_span_id.as_ref(),
            name: &span.name,
            kind: span.kind,
            start_time_unix_nano: span.start_time_unix_nano,
        },
    );
    if span.end_time_unix_nano == 0 {
        // Canonical form leaves a zero end time out: drop the reserved slot.
        buf.truncate(layout.end_time_at() - 1);
    } else {
        patch_end_time(buf, &layout, span.end_time_unix_nano);
    }
    // The recording path's writers, so everything that tests and fuzzes
    // `encode_span` covers them too.
    for kv in &span.attributes {
        match &kv.value {
            AnyValue::String(s) => put_str_kv(buf, span::ATTRIBUTES, &kv.key, s, limit),
            AnyValue::Int(i) => put_i64_kv(buf, span::ATTRIBUTES, &kv.key, *i),
            other => put_kv_span(buf, span::ATTRIBUTES, &kv.key, other, limit),
        }
    }
    let mut events = Vec::new();
    for e in &span.events {
        let attrs = e.attributes.as_slice();
        put_event(
            &mut events,
            e.time_unix_nano,
            &e.name,
            attrs,
            attrs.len(),
            e.dropped_attributes_count,
            limit,
        );
    }
    let mut links = Vec::new();
    for l in &span.links {
        let target = LinkTarget {
            trace_id: &l.trace_id,
            span_id: &l.span_id,
            trace_state: &l.trace_state,
            flags: l.flags,
        };
        let attrs = l.attributes.as_slice();
        put_link(
            &mut links,
            &target,
            attrs,
            attrs.len(),
            l.dropped_attributes_count,
            limit,
        );
    }
    put_span_end(
        buf,
        &SpanEnd {
            dropped_attributes_count: span.dropped_attributes_count,
            events: &events,
            dropped_events_count: span.dropped_events_count,
            links: &links,
            dropped_links_count: span.dropped_links_count,
            status: span.status.as_ref(),
            flags: span.flags,
        },
    );
}

#[cfg(test)]
mod tests;
