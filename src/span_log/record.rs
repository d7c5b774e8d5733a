//! The record format of a span log: a 6-byte header (`u32` little-endian
//! length, `u16` scope index) and the span framed as a `ScopeSpans.spans`
//! field, or a jump record (length `u32::MAX`) that sends the reader on to
//! the next chunk.
//!
//! Runs per span ([`frame_in_place`]): a few stores; it must never
//! allocate, lock or make a syscall.

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
    let body_len = buf.len().checked_sub(HEADROOM)?;
    let (prefix, prefix_len) = frame(body_len);
    let framed = u32::try_from(prefix_len + body_len)
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

/// Frames a span body as a `ScopeSpans.spans` field: key `0x12` and the
/// varint length; returns the prefix and its length.
#[inline(always)]
pub(super) fn frame(body_len: usize) -> ([u8; 6], usize) {
    let mut out = [0x12u8, 0, 0, 0, 0, 0];
    let mut v = body_len as u64;
    let mut n = 1;
    while v >= 0x80 && n < 5 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    (out, n + 1)
}
