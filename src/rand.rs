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
        let mut state = self.0.get();
        if state == 0 {
            // Unseeded (or, once in 2^64 draws, a state of zero: reseeding
            // then is harmless).
            state = seed();
        }
        let x = state.wrapping_add(0xa076_1d64_78bd_642f);
        self.0.set(x);
        let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
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
    #[inline]
    pub(crate) fn span_id(&self) -> SpanId {
        loop {
            let v = self.next_u64();
            if v != 0 {
                return SpanId::from_u64(v);
            }
        }
    }
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
}
