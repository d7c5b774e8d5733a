//! The record format of a span log: a 6-byte header (`u32` little-endian
//! length, `u16` scope index) and the span framed as a `ScopeSpans.spans`
//! field, or a jump record (length `u32::MAX`) that sends the reader on to
//! the next chunk.
//!
//! Runs per span ([`frame_in_place`]): a few stores; it must never
//! allocate, lock or make a syscall.

use crate::codec::otlp::field::key;
use crate::codec::wire::write_varint;

/// Bytes of a record's header.
pub(crate) const HEADER: usize = 6;
/// The most bytes a record puts in front of a span body: the header and
/// the `ScopeSpans.spans` key and length. The recording path leaves this
/// much room in front of a span's scratch bytes, so that the whole record
/// is one contiguous copy ([`frame_in_place`]).
pub(crate) const HEADROOM: usize = HEADER + 6;
/// The length that marks a jump to the next chunk.
pub(super) const JUMP: u32 = u32::MAX;

/// Writes a record's header and framing into the [`HEADROOM`] bytes in
/// front of a span body (`buf[HEADROOM..]`, for scope `scope`); returns
/// where the record starts in `buf`, or `None` when the body is larger
/// than a record can say (4 GiB).
///
/// Hot path (runs per span): a few stores.
#[inline]
pub(crate) fn frame_in_place(buf: &mut [u8], scope: u16) -> Option<usize> {
    let body_len = u32::try_from(buf.len().checked_sub(HEADROOM)?).ok()?;
    let (prefix, prefix_len) = frame(body_len);
    let framed = u32::try_from(prefix_len + body_len as usize)
        .ok()
        .filter(|&f| f != JUMP)?;
    let start = HEADROOM - HEADER - prefix_len;
    let room = &mut buf[start..HEADROOM];
    room[..4].copy_from_slice(&framed.to_le_bytes());
    room[4..HEADER].copy_from_slice(&scope.to_le_bytes());
    for (dst, src) in room[HEADER..].iter_mut().zip(&prefix[..prefix_len]) {
        *dst = *src;
    }
    Some(start)
}

/// Frames a span body as a `ScopeSpans.spans` field: its key and the
/// varint length (with the codec's one varint encoder); returns the prefix
/// and its length. `body_len` is below 4 GiB (checked by the caller), so
/// the length takes at most 5 bytes.
#[inline(always)]
pub(super) fn frame(body_len: u32) -> ([u8; 6], usize) {
    let mut out = [key::SCOPE_SPANS_SPANS, 0, 0, 0, 0, 0];
    let n = write_varint(&mut out[1..], u64::from(body_len));
    (out, 1 + n)
}
