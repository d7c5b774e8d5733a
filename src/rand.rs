//! Random numbers: the per-thread generator behind trace and span ids
//! (wyrand, seeded per thread from the process's hasher keys and the
//! clock), and retry jitter.
//!
//! The recording path keeps a [`Wyrand`] in its own thread-local state, so
//! one thread-local visit per span covers ids, buffers and counters; the
//! free functions here use a thread-local generator of their own.
//!
//! This module must never lock, allocate or make a syscall after a
//! thread's first call.
//!
//! ```
//! let id = tracewire::random_trace_id();
//! assert!(id.is_valid());
//! ```

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock;
use crate::model::{SpanId, TraceId};

/// wyrand: a fast, well-distributed 64-bit generator (not cryptographic).
#[derive(Debug)]
pub(crate) struct Wyrand(Cell<u64>);

impl Wyrand {
    /// A generator with a fresh seed.
    pub(crate) fn new() -> Self {
        Wyrand(Cell::new(seed()))
    }

    /// A generator that seeds itself on first use (so a thread-local one can
    /// be built in a `const` initializer).
    pub(crate) const fn unseeded() -> Self {
        Wyrand(Cell::new(0))
    }

    /// The next number.
    ///
    /// Hot path (runs per id): one add and one 128-bit multiply.
    #[inline]
    pub(crate) fn next_u64(&self) -> u64 {
        let [x] = self.next_n::<1>();
        x
    }

    /// The next `N` numbers, from one read and one write of the state (the
    /// multiplies then run side by side, not each waiting on the last's
    /// store of the state): what `N` calls of [`Wyrand::next_u64`] return.
    ///
    /// Hot path (runs per span start): `N` multiplies.
    #[inline(always)]
    pub(crate) fn next_n<const N: usize>(&self) -> [u64; N] {
        let mut state = self.0.get();
        if state == 0 {
            // Unseeded (or, once in 2^64 draws, a state of zero: reseeding
            // then is harmless).
            state = seed();
        }
        self.0
            .set(state.wrapping_add((N as u64).wrapping_mul(INCREMENT)));
        let mut out = [0u64; N];
        let mut x = state;
        for o in &mut out {
            x = x.wrapping_add(INCREMENT);
            *o = mix(x);
        }
        out
    }

    /// A new trace's ids: a valid (non-zero) trace id and span id, from
    /// three draws in one step.
    ///
    /// Hot path (runs per root span start): three multiplies.
    #[inline(always)]
    pub(crate) fn trace_and_span_ids(&self) -> (TraceId, SpanId) {
        let [hi, lo, s] = self.next_n::<3>();
        let trace = (u128::from(hi) << 64) | u128::from(lo);
        if trace == 0 || s == 0 {
            // Once in 2^64 spans: draw again.
            return (self.trace_id(), self.span_id());
        }
        (TraceId::from_u128(trace), SpanId::from_u64(s))
    }

    /// A valid (non-zero) trace id.
    #[inline]
    pub(crate) fn trace_id(&self) -> TraceId {
        loop {
            let v = (u128::from(self.next_u64()) << 64) | u128::from(self.next_u64());
            if v != 0 {
                return TraceId::from_u128(v);
            }
        }
    }

    /// A valid (non-zero) span id.
    ///
    /// Hot path (runs per child span start): one multiply.
    #[inline(always)]
    pub(crate) fn span_id(&self) -> SpanId {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return SpanId::from_u64(v);
            }
        }
    }
}

/// wyrand's increment.
const INCREMENT: u64 = 0xa076_1d64_78bd_642f;

/// wyrand's output from a state.
#[inline(always)]
fn mix(x: u64) -> u64 {
    let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
    ((t >> 64) as u64) ^ (t as u64)
}

/// A seed no other generator in this process shares.
fn seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u64(clock::now_unix_nanos());
    h.finish()
}

thread_local! {
    static RNG: Wyrand = const { Wyrand::unseeded() };
}

/// A random number from this thread's generator (for retry jitter).
pub(crate) fn random_u64() -> u64 {
    RNG.try_with(Wyrand::next_u64).unwrap_or_else(|_| seed())
}

/// A random, valid (non-zero) trace id from this thread's generator.
///
/// ```
/// assert_ne!(tracewire::random_trace_id(), tracewire::random_trace_id());
/// ```
pub fn random_trace_id() -> TraceId {
    RNG.try_with(Wyrand::trace_id)
        .unwrap_or_else(|_| Wyrand::new().trace_id())
}

/// A random, valid (non-zero) span id from this thread's generator.
///
/// ```
/// assert!(tracewire::random_span_id().is_valid());
/// ```
pub fn random_span_id() -> SpanId {
    RNG.try_with(Wyrand::span_id)
        .unwrap_or_else(|_| Wyrand::new().span_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generators_differ_per_thread_and_ids_are_valid() {
        let here = Wyrand::new();
        let there = std::thread::spawn(|| Wyrand::new().next_u64())
            .join()
            .unwrap();
        assert_ne!(here.next_u64(), there);
        for _ in 0..1000 {
            assert!(here.trace_id().is_valid() && here.span_id().is_valid());
        }
    }

    #[test]
    fn drawing_several_at_once_is_drawing_them_in_turn() {
        let (a, b) = (Wyrand::new(), Wyrand::new());
        b.0.set(a.0.get());
        let three = a.next_n::<3>();
        assert_eq!(three, [b.next_u64(), b.next_u64(), b.next_u64()]);
        assert_eq!(a.next_u64(), b.next_u64(), "the state moved on alike");
        let (t, s) = a.trace_and_span_ids();
        let hi = b.next_u64();
        let lo = b.next_u64();
        assert_eq!(
            t,
            TraceId::from_u128((u128::from(hi) << 64) | u128::from(lo))
        );
        assert_eq!(s, SpanId::from_u64(b.next_u64()));
    }
}
