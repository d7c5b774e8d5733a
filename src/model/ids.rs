//! Trace and span ids and the W3C trace flags: fixed-size values, printed
//! and parsed as lowercase hex.
//!
//! This module must never allocate, lock or read a clock.

use std::fmt;

const HEX: &[u8; 16] = b"0123456789abcdef";

fn fmt_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut out = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
    // Only ASCII hex digits were written.
    f.write_str(std::str::from_utf8(&out[..bytes.len() * 2]).map_err(|_| fmt::Error)?)
}

/// Decodes lowercase hex into `out`; `None` on a wrong length or any other
/// character (W3C Trace Context allows only lowercase).
pub(crate) fn decode_lower_hex<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = (lower_hex_digit(pair[0])? << 4) | lower_hex_digit(pair[1])?;
    }
    Some(out)
}

#[inline]
fn lower_hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// A 16-byte trace id. All zeros is the invalid id.
///
/// ```
/// use tracewire::model::TraceId;
/// let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// ```
///
/// Held as a big-endian `u128` (the bytes in order), so ids move through
/// registers rather than byte arrays on the recording path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct TraceId(u128);

impl TraceId {
    /// The invalid (all-zero) trace id.
    pub const INVALID: TraceId = TraceId(0);

    /// Wraps 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        TraceId(u128::from_be_bytes(bytes))
    }

    /// The id as a big-endian number (its 16 bytes, in order).
    pub const fn from_u128(value: u128) -> Self {
        TraceId(value)
    }

    /// The 16 bytes.
    #[inline]
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// The id as a big-endian number.
    #[inline]
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// `false` for the all-zero id.
    pub fn is_valid(&self) -> bool {
        self.0 != 0
    }

    /// Parses 32 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        decode_lower_hex(hex.as_bytes()).map(TraceId::from_bytes)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_hex(&self.to_bytes(), f)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// An 8-byte span id. All zeros is the invalid id.
///
/// ```
/// use tracewire::model::SpanId;
/// let id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
/// assert_eq!(id.to_bytes(), [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct SpanId(u64);

impl SpanId {
    /// The invalid (all-zero) span id.
    pub const INVALID: SpanId = SpanId(0);

    /// Wraps 8 bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        SpanId(u64::from_be_bytes(bytes))
    }

    /// The id as a big-endian number (its 8 bytes, in order).
    pub const fn from_u64(value: u64) -> Self {
        SpanId(value)
    }

    /// The 8 bytes.
    #[inline]
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// The id as a big-endian number.
    #[inline]
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// `false` for the all-zero id.
    pub fn is_valid(&self) -> bool {
        self.0 != 0
    }

    /// Parses 16 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        decode_lower_hex(hex.as_bytes()).map(SpanId::from_bytes)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_hex(&self.to_bytes(), f)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// W3C trace flags (one byte). Bit 0 is `sampled`.
///
/// ```
/// use tracewire::model::TraceFlags;
/// assert!(TraceFlags::SAMPLED.is_sampled());
/// assert!(!TraceFlags::default().is_sampled());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// The `sampled` flag.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);

    /// Wraps a flags byte.
    pub const fn new(bits: u8) -> Self {
        TraceFlags(bits)
    }

    /// The flags byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` bit is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & 0x01 != 0
    }

    /// These flags with `sampled` set or cleared.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        TraceFlags(if sampled {
            self.0 | 0x01
        } else {
            self.0 & !0x01
        })
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip_and_rejects_upper_case() {
        let id = TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap();
        assert_eq!(id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert!(TraceId::from_hex("0AF7651916CD43DD8448EB211C80319C").is_none());
        assert!(TraceId::from_hex("0af7651916cd43dd8448eb211c80319").is_none());
        assert!(SpanId::from_hex("b7ad6b716920333g").is_none());
    }
}
