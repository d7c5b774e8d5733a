//! Protobuf wire-format primitives: varints, keys, fixed-width scalars and
//! length-delimited fields.
//!
//! Each helper is a tiny `#[inline]` function that appends to a
//! [`BufMut`], paired with an `*_len` function returning exactly how many
//! bytes it writes. The pairs are what lets the OTLP writers compute a
//! message's length before writing it, so every length prefix is the
//! canonical (shortest) varint, as prost and the reference implementations
//! write it.
//!
//! This module must never allocate on its own, know about OTLP, or know about
//! sockets.
//!
//! ```
//! use tracewire::internal::codec::wire;
//!
//! let mut buf = Vec::new();
//! wire::put_varint(&mut buf, 300);
//! assert_eq!(buf, [0xac, 0x02]);
//! assert_eq!(wire::varint_len(300), 2);
//! ```

use bytes::BufMut;

/// The protobuf wire types tracewire writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WireType {
    /// int32, int64, uint32, uint64, bool, enum.
    Varint = 0,
    /// fixed64, double.
    Fixed64 = 1,
    /// string, bytes, embedded messages, packed repeated fields.
    LengthDelimited = 2,
    /// fixed32, float.
    Fixed32 = 5,
}

/// The most bytes a varint takes (a `u64`, or a negative `int64`).
pub const MAX_VARINT_LEN: usize = 10;

/// Hands `value`'s base-128 varint bytes, low group first, to `put` (1 to
/// 10 calls). This is tracewire's one varint encoder: [`write_varint`],
/// [`put_varint`], [`Cursor::varint`], the attribute writers and the span
/// log's record framing all go through it, each with its own `put` (a
/// slice store, a `put_u8`), which inlines to the loop written by hand.
///
/// Hot path (runs per field): calls `put` only.
#[inline(always)]
pub fn each_varint_byte(mut value: u64, mut put: impl FnMut(u8)) {
    while value >= 0x80 {
        put((value as u8) | 0x80);
        value >>= 7;
    }
    put(value as u8);
}

/// Writes `value` as a base-128 varint at the front of `out` (through
/// [`each_varint_byte`]); returns the bytes written ([`varint_len`] of
/// `value`).
///
/// Hot path (runs per field): stores only. Panics, like slice indexing, if
/// `out` is shorter than [`varint_len`] of `value` (a length bug, never
/// input).
///
/// ```
/// use tracewire::internal::codec::wire::{write_varint, varint_len};
/// let mut out = [0u8; 10];
/// assert_eq!(write_varint(&mut out, 300), varint_len(300));
/// assert_eq!(out[..2], [0xac, 0x02]);
/// ```
#[inline(always)]
pub fn write_varint(out: &mut [u8], value: u64) -> usize {
    let mut n = 0;
    each_varint_byte(value, |b| {
        out[n] = b;
        n += 1;
    });
    n
}

/// Appends `value` as a base-128 varint (1 to 10 bytes), through
/// [`each_varint_byte`].
///
/// Hot path (runs per attribute): must not allocate beyond `buf`'s own growth.
#[inline]
pub fn put_varint<B: BufMut + ?Sized>(buf: &mut B, value: u64) {
    each_varint_byte(value, |b| buf.put_u8(b));
}

/// The number of bytes [`put_varint`] writes for `value`.
#[inline]
pub const fn varint_len(value: u64) -> usize {
    // Each byte carries 7 bits; zero still takes one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// The key (tag) of field `field` with wire type `wire_type`, as a number.
#[inline]
pub const fn key(field: u32, wire_type: WireType) -> u64 {
    ((field as u64) << 3) | wire_type as u64
}

/// The key of field `field` with wire type `wire_type` as its one byte
/// (fields 1 to 15 have one-byte keys; a larger field fails to compile
/// where this is a constant).
#[inline]
pub(crate) const fn key_byte(field: u32, wire_type: WireType) -> u8 {
    assert!(
        field >= 1 && field < 16,
        "a one-byte key needs a field number below 16"
    );
    key(field, wire_type) as u8
}

/// The two-byte key of `field` (16 to 2047) with `wire_type`, as written.
#[inline]
pub(crate) const fn key_bytes2(field: u32, wire_type: WireType) -> [u8; 2] {
    assert!(
        field >= 16 && field < 2048,
        "a two-byte key needs a field number from 16 to 2047"
    );
    let k = key(field, wire_type);
    [(k as u8 & 0x7f) | 0x80, (k >> 7) as u8]
}

/// Appends the key of field `field` with wire type `wire_type`.
#[inline]
pub(crate) fn put_key<B: BufMut + ?Sized>(buf: &mut B, field: u32, wire_type: WireType) {
    put_varint(buf, key(field, wire_type));
}

/// The number of bytes a key for `field` takes.
#[inline]
pub(crate) const fn key_len(field: u32) -> usize {
    varint_len((field as u64) << 3)
}

/// Appends a length-delimited field header: key, then the length varint.
/// The caller writes exactly `len` bytes of body next.
#[inline]
pub(crate) fn put_len_header<B: BufMut + ?Sized>(buf: &mut B, field: u32, len: usize) {
    put_key(buf, field, WireType::LengthDelimited);
    put_varint(buf, len as u64);
}

/// The size of a whole length-delimited field whose body is `len` bytes.
#[inline]
pub(crate) const fn len_field_len(field: u32, len: usize) -> usize {
    key_len(field) + varint_len(len as u64) + len
}

/// Appends a length-delimited field holding `bytes` (a `string` or `bytes`).
#[inline]
pub(crate) fn put_bytes_field<B: BufMut + ?Sized>(buf: &mut B, field: u32, bytes: &[u8]) {
    put_len_header(buf, field, bytes.len());
    buf.put_slice(bytes);
}

/// Appends a `fixed64` (or `double`, by its bits) field.
#[inline]
pub(crate) fn put_fixed64_field<B: BufMut + ?Sized>(buf: &mut B, field: u32, value: u64) {
    put_key(buf, field, WireType::Fixed64);
    buf.put_u64_le(value);
}

/// The size of a `fixed64` field.
#[inline]
pub(crate) const fn fixed64_field_len(field: u32) -> usize {
    key_len(field) + 8
}

/// Appends a `fixed32` field.
#[inline]
pub(crate) fn put_fixed32_field<B: BufMut + ?Sized>(buf: &mut B, field: u32, value: u32) {
    put_key(buf, field, WireType::Fixed32);
    buf.put_u32_le(value);
}

/// The size of a `fixed32` field.
#[inline]
pub(crate) const fn fixed32_field_len(field: u32) -> usize {
    key_len(field) + 4
}

/// Appends a varint field (`uint32`, `int64`, `bool`, enum).
///
/// Negative `int32`/`int64` values are passed as their two's-complement
/// `u64` (`v as u64`), which is how protobuf encodes them: ten bytes.
#[inline]
pub(crate) fn put_varint_field<B: BufMut + ?Sized>(buf: &mut B, field: u32, value: u64) {
    put_key(buf, field, WireType::Varint);
    put_varint(buf, value);
}

/// The size of a varint field holding `value`.
#[inline]
pub(crate) const fn varint_field_len(field: u32, value: u64) -> usize {
    key_len(field) + varint_len(value)
}

/// Reads a varint from the front of `input`, returning the value and the
/// number of bytes it took, or `None` when `input` ends inside the varint or
/// the varint is longer than ten bytes.
///
/// Used by the sans-IO response parsers; never panics on any input.
#[inline]
pub fn get_varint(input: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i as u32);
        if byte < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Copies `src` into `dst` (of the same length), inline.
///
/// Keys and values of span attributes are mostly under 48 bytes, where a
/// call to `memcpy` costs more than the copy: up to 48 bytes this copies
/// with at most three fixed-size, overlapping loads and stores (16, 8 or
/// 4 bytes wide) and no call; longer slices go to `memcpy`.
///
/// Hot path (runs per attribute key and value): no call, no allocation.
/// Panics if the lengths differ, like `copy_from_slice`.
///
/// ```
/// use tracewire::internal::codec::wire::copy_short;
/// let mut out = [0u8; 13];
/// copy_short(&mut out, b"url.full.path");
/// assert_eq!(&out, b"url.full.path");
/// ```
#[inline(always)]
pub fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    assert_eq!(dst.len(), n, "copy_short: lengths differ");
    if n >= 16 {
        if n > 48 {
            dst.copy_from_slice(src);
        } else if n > 32 {
            dst[..16].copy_from_slice(&src[..16]);
            dst[16..32].copy_from_slice(&src[16..32]);
            dst[n - 16..].copy_from_slice(&src[n - 16..]);
        } else {
            dst[..16].copy_from_slice(&src[..16]);
            dst[n - 16..].copy_from_slice(&src[n - 16..]);
        }
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    }
}

/// Writes the low `dst.len()` bytes of `v`, little-endian (bytes past the
/// 16th are 0), straight from registers: at most two overlapping stores,
/// never bytes stored one by one and read back wider (a load that spans
/// several stores waits for all of them; the stores' data cannot be
/// forwarded to it).
///
/// Hot path (runs per span end): two shifts and two stores.
///
/// ```
/// use tracewire::internal::codec::wire::put_le_short;
/// let mut out = [0u8; 10];
/// put_le_short(&mut out, 0x0a09_0807_0605_0403_0201);
/// assert_eq!(out, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
/// ```
#[inline(always)]
pub fn put_le_short(dst: &mut [u8], v: u128) {
    let n = dst.len();
    if n > 16 {
        put_le_long(dst, v);
    } else if n >= 8 {
        dst[..8].copy_from_slice(&(v as u64).to_le_bytes());
        dst[n - 8..].copy_from_slice(&((v >> (8 * (n - 8))) as u64).to_le_bytes());
    } else if n >= 4 {
        dst[..4].copy_from_slice(&(v as u32).to_le_bytes());
        dst[n - 4..].copy_from_slice(&((v >> (8 * (n - 4))) as u32).to_le_bytes());
    } else if n >= 2 {
        dst[..2].copy_from_slice(&(v as u16).to_le_bytes());
        dst[n - 2..].copy_from_slice(&((v >> (8 * (n - 2))) as u16).to_le_bytes());
    } else if let Some(b) = dst.first_mut() {
        *b = v as u8;
    }
}

#[cold]
fn put_le_long(dst: &mut [u8], v: u128) {
    let (head, rest) = dst.split_at_mut(16);
    head.copy_from_slice(&v.to_le_bytes());
    rest.fill(0);
}

/// Writes fields into a slice whose exact size the caller computed first
/// (with the `*_len` functions): each write is a store and a bounds check,
/// with none of `BufMut`'s bookkeeping.
///
/// Hot path (runs per span and per attribute): never allocates; a write
/// past the end panics like slice indexing (a `*_len` bug, never input).
///
/// ```
/// use tracewire::internal::codec::wire::Cursor;
/// let mut out = [0u8; 5];
/// let mut c = Cursor::new(&mut out);
/// c.key(1, tracewire::internal::codec::wire::WireType::Varint);
/// c.varint(300);
/// c.bytes(b"!!");
/// assert_eq!(c.written(), 5);
/// assert_eq!(out, [0x08, 0xac, 0x02, b'!', b'!']);
/// ```
#[derive(Debug)]
pub struct Cursor<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `out`.
    #[inline(always)]
    pub fn new(out: &'a mut [u8]) -> Self {
        Cursor { out, at: 0 }
    }

    /// Bytes written so far.
    #[inline(always)]
    pub fn written(&self) -> usize {
        self.at
    }

    /// Writes one byte.
    #[inline(always)]
    pub fn byte(&mut self, b: u8) {
        self.out[self.at] = b;
        self.at += 1;
    }

    /// Writes `bytes` (short ones inline, see [`copy_short`]).
    #[inline(always)]
    pub fn bytes(&mut self, bytes: &[u8]) {
        let end = self.at + bytes.len();
        copy_short(&mut self.out[self.at..end], bytes);
        self.at = end;
    }

    /// Writes a base-128 varint (through [`each_varint_byte`]).
    #[inline(always)]
    pub fn varint(&mut self, value: u64) {
        each_varint_byte(value, |b| self.byte(b));
    }

    /// Writes a field key.
    #[inline(always)]
    pub fn key(&mut self, field: u32, wire_type: WireType) {
        self.varint(key(field, wire_type));
    }

    /// Writes a length-delimited field holding `bytes`.
    #[inline(always)]
    pub fn bytes_field(&mut self, field: u32, bytes: &[u8]) {
        self.key(field, WireType::LengthDelimited);
        self.varint(bytes.len() as u64);
        self.bytes(bytes);
    }

    /// Writes a `fixed64` field.
    #[inline(always)]
    pub fn fixed64_field(&mut self, field: u32, value: u64) {
        self.key(field, WireType::Fixed64);
        let end = self.at + 8;
        self.out[self.at..end].copy_from_slice(&value.to_le_bytes());
        self.at = end;
    }

    /// Writes a `fixed32` field.
    #[inline(always)]
    pub fn fixed32_field(&mut self, field: u32, value: u32) {
        self.key(field, WireType::Fixed32);
        let end = self.at + 4;
        self.out[self.at..end].copy_from_slice(&value.to_le_bytes());
        self.at = end;
    }

    /// Writes a varint field.
    #[inline(always)]
    pub fn varint_field(&mut self, field: u32, value: u64) {
        self.key(field, WireType::Varint);
        self.varint(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn copy_short_copies_every_length() {
        let src: Vec<u8> = (0..200u8).collect();
        for n in 0..200 {
            let mut dst = vec![0xffu8; n];
            copy_short(&mut dst, &src[..n]);
            assert_eq!(dst, &src[..n], "length {n}");
        }
    }

    #[test]
    fn the_cursor_writes_what_the_bufmut_helpers_write() {
        let mut theirs = Vec::new();
        put_bytes_field(&mut theirs, 5, b"GET /");
        put_fixed64_field(&mut theirs, 7, 1_700_000_000_000_000_000);
        put_fixed32_field(&mut theirs, 16, 0x101);
        put_varint_field(&mut theirs, 3, 1 << 40);
        let mut ours = vec![0u8; theirs.len()];
        let mut c = Cursor::new(&mut ours);
        c.bytes_field(5, b"GET /");
        c.fixed64_field(7, 1_700_000_000_000_000_000);
        c.fixed32_field(16, 0x101);
        c.varint_field(3, 1 << 40);
        assert_eq!(c.written(), theirs.len());
        assert_eq!(ours, theirs);
    }

    #[test]
    fn put_le_short_writes_the_low_bytes() {
        let v = u128::from_le_bytes(std::array::from_fn(|i| i as u8 + 1));
        for n in 0..=20 {
            let mut out = vec![0xeeu8; n];
            put_le_short(&mut out, v);
            let want: Vec<u8> = (0..n)
                .map(|i| if i < 16 { i as u8 + 1 } else { 0 })
                .collect();
            assert_eq!(out, want, "{n} bytes");
        }
    }

    #[test]
    fn varint_known_values() {
        let cases: &[(u64, &[u8])] = &[
            (0, &[0x00]),
            (1, &[0x01]),
            (127, &[0x7f]),
            (128, &[0x80, 0x01]),
            (300, &[0xac, 0x02]),
            (16_383, &[0xff, 0x7f]),
            (16_384, &[0x80, 0x80, 0x01]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (value, bytes) in cases {
            let mut buf = Vec::new();
            put_varint(&mut buf, *value);
            assert_eq!(&buf[..], *bytes, "varint of {value}");
            assert_eq!(varint_len(*value), bytes.len(), "varint_len of {value}");
            assert_eq!(get_varint(bytes), Some((*value, bytes.len())));
        }
    }

    #[test]
    fn keys_match_protobuf() {
        // Span.flags is field 16, fixed32: key 133 takes two bytes.
        let mut buf = Vec::new();
        put_key(&mut buf, 16, WireType::Fixed32);
        assert_eq!(buf, [0x85, 0x01]);
        assert_eq!(key_len(16), 2);
        assert_eq!(key_len(15), 1);
        assert_eq!(key(9, WireType::LengthDelimited), 0x4a);
    }

    #[test]
    fn get_varint_rejects_truncated_and_overlong() {
        assert_eq!(get_varint(&[]), None);
        assert_eq!(get_varint(&[0x80]), None);
        assert_eq!(get_varint(&[0xff; 11]), None);
    }

    proptest! {
        #[test]
        fn varint_roundtrip_and_len(value: u64) {
            let mut buf = Vec::new();
            put_varint(&mut buf, value);
            prop_assert_eq!(buf.len(), varint_len(value));
            prop_assert_eq!(get_varint(&buf), Some((value, buf.len())));
            // prost agrees byte for byte.
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(value, &mut theirs);
            prop_assert_eq!(&buf, &theirs);
            // The one encoder, on a slice and through a cursor, writes the
            // same bytes.
            let mut out = [0xffu8; MAX_VARINT_LEN];
            let n = write_varint(&mut out, value);
            prop_assert_eq!(&out[..n], &theirs[..]);
            let mut out = [0u8; MAX_VARINT_LEN + 1];
            let mut c = Cursor::new(&mut out);
            c.varint(value);
            prop_assert_eq!(c.written(), theirs.len());
            prop_assert_eq!(&out[..theirs.len()], &theirs[..]);
        }

        #[test]
        fn field_lens_match_writers(field in 1u32..(1 << 29), value: u64, body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut buf = Vec::new();
            put_varint_field(&mut buf, field, value);
            prop_assert_eq!(buf.len(), varint_field_len(field, value));
            buf.clear();
            put_bytes_field(&mut buf, field, &body);
            prop_assert_eq!(buf.len(), len_field_len(field, body.len()));
            buf.clear();
            put_fixed64_field(&mut buf, field, value);
            prop_assert_eq!(buf.len(), fixed64_field_len(field));
            buf.clear();
            put_fixed32_field(&mut buf, field, value as u32);
            prop_assert_eq!(buf.len(), fixed32_field_len(field));
        }

        #[test]
        fn get_varint_never_panics(input in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = get_varint(&input);
        }
    }
}
