//! Consistent probability sampling's two numbers, as OpenTelemetry's
//! specification ("TraceState: Probability Sampling", OTEP 235) defines
//! them: the 56-bit rejection threshold `th` and the 56-bit randomness `R`
//! (an explicit `rv`, or the trace id's least-significant 56 bits), both
//! carried in the `ot` member of the W3C `tracestate`; a span is kept when
//! `R >= th`.
//!
//! This module owns their arithmetic and their encoding, and the edit of
//! the `ot` member (other `ot` sub-keys and other vendors' members are
//! kept). It must never allocate except to build an edited trace state.
//!
//! ```
//! use tracewire::sampling::Threshold;
//! let t = Threshold::from_probability(0.25).unwrap();
//! assert_eq!(t.th().as_str(), "c");
//! assert!(t.samples(0xc0_0000_0000_0000) && !t.samples(0xbf_ffff_ffff_ffff));
//! ```

use crate::model::{TraceId, TraceState};

/// 2^56: one past the largest randomness value.
///
/// ```
/// use tracewire::sampling::{MAX_THRESHOLD, Threshold};
/// assert_eq!(Threshold::NEVER.value(), MAX_THRESHOLD);
/// ```
pub const MAX_THRESHOLD: u64 = 1 << 56;

/// The W3C limit on a `tracestate` member's value, and on its members.
const MAX_VALUE_LEN: usize = 256;
const MAX_MEMBERS: usize = 32;

/// A rejection threshold: how many of 2^56 randomness values are dropped.
/// `0` keeps everything; [`Threshold::NEVER`] (2^56) keeps nothing and has
/// no `th` encoding.
///
/// ```
/// use tracewire::sampling::Threshold;
/// let t = Threshold::parse_th("c").unwrap();
/// assert_eq!((t.value(), t.probability()), (0xc0_0000_0000_0000, 0.25));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Threshold(u64);

impl Threshold {
    /// Keeps every span (`th:0`).
    pub const ALWAYS: Threshold = Threshold(0);
    /// Keeps no span (not a probability: never written as `th`).
    pub const NEVER: Threshold = Threshold(MAX_THRESHOLD);

    /// The threshold for sampling probability `p`, with the 4 hex digits of
    /// precision the specification recommends; `None` below 2^-56 (or NaN).
    ///
    /// ```
    /// use tracewire::sampling::Threshold;
    /// assert_eq!(Threshold::from_probability(0.01).unwrap().th().as_str(), "fd70a");
    /// assert_eq!(Threshold::from_probability(1.0), Some(Threshold::ALWAYS));
    /// ```
    pub fn from_probability(p: f64) -> Option<Threshold> {
        Self::from_probability_with_precision(p, 4)
    }

    /// As [`Threshold::from_probability`], with `precision` significant hex
    /// digits (1 to 12; leading `f` digits of small probabilities do not
    /// count), rounded to nearest, by the specification's algorithm.
    pub fn from_probability_with_precision(p: f64, precision: u32) -> Option<Threshold> {
        if p.is_nan() || p < 1.0 / MAX_THRESHOLD as f64 {
            return None;
        }
        if p >= 1.0 {
            return Some(Threshold::ALWAYS);
        }
        // frexp's exponent: p = m * 2^exp with m in [0.5, 1).
        let exp = ((p.to_bits() >> 52) & 0x7ff) as i64 - 1022;
        let extra = (-exp).max(0) / 4;
        let precision = (i64::from(precision) + extra).clamp(1, 12) as u32;
        // 1 + rejection probability, in [1, 2), plus half of the last digit.
        let rejection = 2.0 - p + 0.5 * 2f64.powi(-4 * precision as i32);
        let mantissa = if rejection >= 2.0 {
            (1u64 << 52) - 1
        } else {
            rejection.to_bits() & ((1u64 << 52) - 1)
        };
        // 13 hex digits of mantissa; keep `precision` of them, as 14.
        let kept = mantissa >> (4 * (13 - precision));
        Some(Threshold(kept << (4 * (14 - precision))))
    }

    /// A threshold from its 56-bit value (clamped to [`Threshold::NEVER`]).
    pub const fn from_value(value: u64) -> Threshold {
        if value > MAX_THRESHOLD {
            Threshold(MAX_THRESHOLD)
        } else {
            Threshold(value)
        }
    }

    /// Parses a `th` value: 1 to 14 lowercase hex digits, implicitly padded
    /// with trailing zeros.
    ///
    /// ```
    /// use tracewire::sampling::Threshold;
    /// assert_eq!(Threshold::parse_th("8").unwrap().probability(), 0.5);
    /// assert!(Threshold::parse_th("8X").is_none() && Threshold::parse_th("").is_none());
    /// ```
    pub fn parse_th(s: &str) -> Option<Threshold> {
        let v = parse_hex(s, 14)?;
        Some(Threshold(v << (4 * (14 - s.len()))))
    }

    /// The 56-bit value.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The sampling probability, `(2^56 - th) / 2^56`.
    pub fn probability(self) -> f64 {
        (MAX_THRESHOLD - self.0) as f64 / MAX_THRESHOLD as f64
    }

    /// Whether randomness `r` is kept: `r >= th`.
    ///
    /// Hot path: one comparison.
    #[inline(always)]
    pub const fn samples(self, r: u64) -> bool {
        r >= self.0
    }

    /// The `th` encoding: hex, trailing zeros removed, `0` for
    /// [`Threshold::ALWAYS`]; empty for [`Threshold::NEVER`].
    pub fn th(self) -> ThValue {
        let mut out = ThValue {
            bytes: [0; 14],
            len: 0,
        };
        if self.0 >= MAX_THRESHOLD {
            return out;
        }
        if self.0 == 0 {
            out.bytes[0] = b'0';
            out.len = 1;
            return out;
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for i in 0..14 {
            out.bytes[i] = HEX[((self.0 >> (4 * (13 - i))) & 0xf) as usize];
        }
        let mut len = 14;
        while len > 1 && out.bytes[len - 1] == b'0' {
            len -= 1;
        }
        out.len = len as u8;
        out
    }
}

/// An encoded `th` value (no allocation).
///
/// ```
/// use tracewire::sampling::Threshold;
/// assert_eq!(Threshold::ALWAYS.th().as_str(), "0");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ThValue {
    bytes: [u8; 14],
    len: u8,
}

impl ThValue {
    /// The hex digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

/// Lowercase hex of 1 to `max` digits.
fn parse_hex(s: &str, max: usize) -> Option<u64> {
    if s.is_empty() || s.len() > max {
        return None;
    }
    let mut v = 0u64;
    for c in s.bytes() {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(d);
    }
    Some(v)
}

/// The trace's randomness: the `rv` of the `ot` member when valid (exactly
/// 14 lowercase hex digits), else the trace id's least-significant 56 bits.
///
/// Hot path (runs per sampled root or remote-parent span): a scan of the
/// trace state only when there is one.
///
/// ```
/// use tracewire::model::{TraceId, TraceState};
/// use tracewire::sampling::randomness;
/// let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
/// assert_eq!(randomness(&id, &TraceState::EMPTY), 0xce929d0e0e4736);
/// ```
#[inline]
pub fn randomness(trace_id: &TraceId, state: &TraceState) -> u64 {
    if !state.is_empty() {
        if let Some(rv) = ot_field(state.as_str(), "rv").filter(|v| v.len() == 14) {
            if let Some(r) = parse_hex(rv, 14) {
                return r;
            }
        }
    }
    (trace_id.to_u128() as u64) & (MAX_THRESHOLD - 1)
}

/// The threshold in the `ot` member's `th`, when there is a valid one.
///
/// ```
/// use tracewire::propagation::parse_tracestate;
/// use tracewire::sampling::{threshold_of, Threshold};
/// let ts = parse_tracestate([&b"rojo=1,ot=th:8;rv:0123456789abcd"[..]]).unwrap();
/// assert_eq!(threshold_of(&ts), Threshold::parse_th("8"));
/// ```
pub fn threshold_of(state: &TraceState) -> Option<Threshold> {
    if state.is_empty() {
        return None;
    }
    ot_field(state.as_str(), "th").and_then(Threshold::parse_th)
}

/// The value of the `ot` member of a trace state, if any.
fn ot_member(state: &str) -> Option<&str> {
    state
        .split(',')
        .find_map(|m| m.strip_prefix("ot="))
        .map(str::trim)
}

/// Sub-key `key` of the `ot` member.
fn ot_field<'a>(state: &'a str, key: &str) -> Option<&'a str> {
    ot_member(state)?.split(';').find_map(|kv| {
        let (k, v) = kv.split_once(':')?;
        (k == key).then_some(v)
    })
}

/// `state` with the `ot` member's `th` set to `th` (or erased, with
/// `None`): the `ot` member moves to the front, its other sub-keys (`rv`
/// first among them) and every other member keep their order. When adding
/// an `ot` member would pass the W3C limit of 32 members, the last member
/// is dropped; when the `ot` value would pass 256 characters, `th` is
/// erased instead. Allocates the new trace state (unless nothing changes).
///
/// ```
/// use tracewire::propagation::parse_tracestate;
/// use tracewire::sampling::{with_threshold, Threshold};
/// let ts = parse_tracestate([&b"rojo=1,ot=rv:0123456789abcd;th:8;x:y"[..]]).unwrap();
/// let t = Threshold::from_probability(0.25);
/// assert_eq!(with_threshold(&ts, t).as_str(), "ot=th:c;rv:0123456789abcd;x:y,rojo=1");
/// assert_eq!(with_threshold(&ts, None).as_str(), "ot=rv:0123456789abcd;x:y,rojo=1");
/// ```
pub fn with_threshold(state: &TraceState, th: Option<Threshold>) -> TraceState {
    let th = th.filter(|t| *t < Threshold::NEVER);
    let current = threshold_of(state);
    if current == th && (th.is_none() || state.as_str().starts_with("ot=")) {
        return state.clone();
    }
    let s = state.as_str();
    let old_ot = ot_member(s).unwrap_or("");
    let mut ot = String::with_capacity(old_ot.len() + 20);
    if let Some(t) = th {
        ot.push_str("th:");
        ot.push_str(t.th().as_str());
    }
    // Other sub-keys, in their order (valid ones only: `key:value`).
    for kv in old_ot.split(';').filter(|kv| kv.contains(':')) {
        if kv.starts_with("th:") {
            continue;
        }
        if !ot.is_empty() {
            ot.push(';');
        }
        ot.push_str(kv);
    }
    if ot.len() > MAX_VALUE_LEN {
        // No room for `th`: erase it rather than carry a wrong one.
        return match th {
            Some(_) => with_threshold(state, None),
            None => state.clone(),
        };
    }
    let others: Vec<&str> = s
        .split(',')
        .filter(|m| !m.is_empty() && !m.starts_with("ot="))
        .collect();
    let keep = if ot.is_empty() {
        others.len()
    } else {
        others.len().min(MAX_MEMBERS - 1)
    };
    let mut out = String::with_capacity(s.len() + 20);
    if !ot.is_empty() {
        out.push_str("ot=");
        out.push_str(&ot);
    }
    for m in &others[..keep] {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(m);
    }
    TraceState::from_validated(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trace state from a valid header value (propagation, which parses
    /// them, sits beside this module, not below it).
    fn ts(s: &str) -> TraceState {
        TraceState::from_validated(s)
    }

    /// The specification's table ("Converting floating-point probability to
    /// threshold value"): 1-in-N at precision 3, 4 and 5.
    #[test]
    fn the_specification_table() {
        let table: &[(f64, [&str; 3])] = &[
            (1.0, ["0", "0", "0"]),
            (0.5, ["8", "8", "8"]),
            (1.0 / 3.0, ["aab", "aaab", "aaaab"]),
            (0.25, ["c", "c", "c"]),
            (0.2, ["ccd", "cccd", "ccccd"]),
            (0.125, ["e", "e", "e"]),
            (0.1, ["e66", "e666", "e6666"]),
            (0.0625, ["f", "f", "f"]),
            (0.01, ["fd71", "fd70a", "fd70a4"]),
            (0.001, ["ffbe7", "ffbe77", "ffbe76d"]),
            (0.0001, ["fff972", "fff9724", "fff97247"]),
            (0.00001, ["ffff584", "ffff583a", "ffff583a5"]),
            (0.000001, ["ffffef4", "ffffef39", "ffffef391"]),
        ];
        for (p, want) in table {
            for (precision, th) in (3..=5).zip(want) {
                let t = Threshold::from_probability_with_precision(*p, precision).unwrap();
                assert_eq!(t.th().as_str(), *th, "p={p} precision={precision}");
                assert_eq!(Threshold::parse_th(th), Some(t));
            }
        }
    }

    #[test]
    fn the_specification_examples() {
        // th:fd70a4 is 1% (five digits): 0xfd70a400000000.
        let t = Threshold::parse_th("fd70a4").unwrap();
        assert_eq!(t.value(), 0xfd70a400000000);
        assert!((t.probability() - 0.01).abs() < 1e-6);
        assert_eq!(Threshold::parse_th("0").unwrap().probability(), 1.0);
        assert_eq!(Threshold::parse_th("c").unwrap().probability(), 0.25);
        // Keep iff R >= T.
        let half = Threshold::parse_th("8").unwrap();
        assert!(half.samples(0x80000000000000));
        assert!(!half.samples(0x7fffffffffffff));
        assert!(Threshold::ALWAYS.samples(0));
        assert!(!Threshold::NEVER.samples(MAX_THRESHOLD - 1));
        assert_eq!(Threshold::NEVER.th().as_str(), "");
        assert_eq!(
            Threshold::from_value(0xabcdef).th().as_str(),
            "00000000abcdef"
        );
        for bad in ["", "g", "A", "123456789012345", "-1"] {
            assert!(Threshold::parse_th(bad).is_none(), "{bad}");
        }
        assert!(Threshold::from_probability(0.0).is_none());
        assert!(Threshold::from_probability(f64::NAN).is_none());
    }

    #[test]
    fn randomness_is_rv_or_the_trace_ids_low_56_bits() {
        let id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(randomness(&id, &TraceState::EMPTY), 0xce929d0e0e4736);
        let with_rv = ts("ot=th:8;rv:0123456789abcd");
        assert_eq!(randomness(&id, &with_rv), 0x0123456789abcd);
        // An rv that is not 14 hex digits is ignored.
        assert_eq!(randomness(&id, &ts("ot=rv:123")), 0xce929d0e0e4736);
        assert_eq!(threshold_of(&with_rv), Threshold::parse_th("8"));
        assert_eq!(threshold_of(&ts("ot=th:zz")), None);
    }

    #[test]
    fn editing_keeps_other_entries_and_limits() {
        let t = Threshold::parse_th("c");
        assert_eq!(with_threshold(&TraceState::EMPTY, t).as_str(), "ot=th:c");
        assert_eq!(
            with_threshold(&ts("congo=t61,ot=th:8"), t).as_str(),
            "ot=th:c,congo=t61"
        );
        assert!(with_threshold(&ts("congo=t61,ot=th:8"), None)
            .as_str()
            .eq("congo=t61"));
        assert_eq!(with_threshold(&ts("a=1"), None).as_str(), "a=1");
        // 32 members: the last goes to make room for `ot`.
        let full: Vec<String> = (0..32).map(|i| format!("k{i}=v")).collect();
        let edited = with_threshold(&ts(&full.join(",")), t);
        let members: Vec<&str> = edited.as_str().split(',').collect();
        assert_eq!(members.len(), 32);
        assert_eq!(members[0], "ot=th:c");
        assert_eq!(members[31], "k30=v");
        // An `ot` value with no room for `th`: erased.
        let long = format!("ot=x:{}", "y".repeat(250));
        let edited = with_threshold(&ts(&long), Threshold::parse_th("fd70a4"));
        assert_eq!(threshold_of(&edited), None);
        assert!(edited.as_str().len() <= 259);
    }
}
