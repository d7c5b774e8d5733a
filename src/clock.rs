//! Wall-clock timestamps for span start and end, cheap enough for the
//! recording path.
//!
//! Reading `CLOCK_REALTIME` costs about 28 ns here, twice per span; the
//! CPU's time-stamp counter (through `quanta`) costs about 11 ns. tracewire
//! anchors the counter to the system clock once, converts counter readings
//! to Unix nanoseconds with a multiply and a shift, and lets the export
//! worker re-anchor it every few seconds so the result follows NTP
//! adjustments of the system clock. Where no reliable counter exists,
//! `quanta` falls back to the monotonic clock and the scheme is unchanged.
//!
//! A span reads the clock once for its start ([`now`]: the counter, and the
//! Unix time it stands for) and its end from the same counter, relative to
//! the start ([`since`]): one anchored reading per span, and an end that
//! never precedes its start.
//!
//! This module must never block, allocate or lock; `now_unix_nanos` is one
//! counter read, one relaxed atomic load and arithmetic.
//!
//! ```
//! let t = tracewire::internal::clock::now_unix_nanos();
//! let sys = std::time::SystemTime::now()
//!     .duration_since(std::time::UNIX_EPOCH)
//!     .unwrap()
//!     .as_nanos() as u64;
//! assert!(t.abs_diff(sys) < 1_000_000_000);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

struct Anchored {
    clock: quanta::Clock,
    anchor_raw: u64,
    /// Unix nanoseconds at `anchor_raw`, plus the drift correction from the
    /// last re-anchoring, stored as one word so readers see one value.
    anchor_unix: AtomicU64,
}

static CLOCK: LazyLock<Anchored> = LazyLock::new(|| {
    let clock = quanta::Clock::new();
    let anchor_raw = clock.raw();
    Anchored {
        anchor_unix: AtomicU64::new(system_unix_nanos()),
        clock,
        anchor_raw,
    }
});

fn system_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The current time in nanoseconds since the Unix epoch.
///
/// Hot path (runs per span start): no syscall, no allocation, no lock.
#[inline]
pub fn now_unix_nanos() -> u64 {
    now().1
}

/// A reading of the counter and the Unix nanoseconds it stands for: a
/// span's start. Its end is [`since`] this reading.
///
/// Hot path (runs per span start): one counter read, one relaxed load and
/// arithmetic.
#[inline]
pub(crate) fn now() -> (u64, u64) {
    let c = &*CLOCK;
    let raw = c.clock.raw();
    let elapsed = c.clock.delta_as_nanos(c.anchor_raw, raw);
    (
        raw,
        c.anchor_unix.load(Ordering::Relaxed).wrapping_add(elapsed),
    )
}

/// Unix nanoseconds now, as `start_unix` plus the time since the counter
/// read `start_raw` (a reading of [`now`]): a span's end from the same
/// counter as its start, so never before it, whatever re-anchoring
/// happened in between.
///
/// Hot path (runs per span end): one counter read and arithmetic.
#[inline]
pub(crate) fn since(start_raw: u64, start_unix: u64) -> u64 {
    let c = &*CLOCK;
    start_unix.wrapping_add(c.clock.delta_as_nanos(start_raw, c.clock.raw()))
}

/// Re-anchors the counter to the system clock, so timestamps follow it
/// (NTP slews and steps). Called by the export worker every few seconds;
/// harmless to call from anywhere.
pub(crate) fn recalibrate() {
    let c = &*CLOCK;
    let elapsed = c.clock.delta_as_nanos(c.anchor_raw, c.clock.raw());
    let anchor = system_unix_nanos().wrapping_sub(elapsed);
    c.anchor_unix.store(anchor, Ordering::Relaxed);
}

/// Converts a `SystemTime` to Unix nanoseconds (0 before the epoch).
pub(crate) fn to_unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_system_clock_and_never_goes_back_much() {
        let a = now_unix_nanos();
        std::thread::sleep(std::time::Duration::from_millis(5));
        let b = now_unix_nanos();
        assert!(b > a, "time moved forward");
        assert!(b - a >= 4_000_000, "5 ms sleep measured as {} ns", b - a);
        recalibrate();
        let sys = system_unix_nanos();
        assert!(now_unix_nanos().abs_diff(sys) < 50_000_000);
    }

    #[test]
    fn an_end_from_the_same_counter_follows_its_start() {
        let (raw, start) = now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        // A re-anchoring in between moves neither reading.
        recalibrate();
        let end = since(raw, start);
        assert!(end >= start + 1_000_000, "{} ns", end - start);
        assert!(end - start < 1_000_000_000);
        assert_eq!(
            since(u64::MAX, start),
            start,
            "a later start reads as no time"
        );
    }
}
