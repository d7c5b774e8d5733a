//! Trace-consistent shedding: when the spans a pipeline has yet to hand to
//! its worker pass a high-water mark, a shedding threshold rises on the
//! same 56-bit trace randomness that consistent probability sampling uses
//! (`R`, see [`crate::sampling::threshold`]), and new traces whose
//! randomness falls under it are shed whole: their spans are never
//! recorded, whichever thread starts them.
//!
//! The decision is made once per trace in this process, when its first
//! local span starts (a root, or a span under a remote parent); its local
//! children follow it (a child of a kept span is kept, a child of a shed
//! span is shed), so a trace whose first span started before the threshold
//! rose stays whole. That is also why the pressure counts spans that are
//! open (started, sampled, not yet ended), not only the spans waiting in
//! the logs: they are on their way, and will need room. A kept span's `th`
//! is raised to the threshold, so services downstream keep or drop the same
//! traces and every span says what it stands for.
//!
//! Pressure (`pending`) is the spans started and kept, less those the
//! worker took (or that were dropped): recording threads add theirs in
//! steps of [`STEP`] (one read-modify-write per 16 spans), the worker takes
//! its batches off. The threshold is a level `k` of 16ths of 2^56
//! (`th:1` .. `th:f`, and "everything" at 16): it rises to `f(pending)`
//! at once, and falls only when `f(pending + band)` is lower (hysteresis of
//! an eighth of the queue), so it does not flap at a boundary.
//!
//! The recording path reads the threshold with one relaxed load and never
//! writes it but once per [`STEP`] spans; this module must never lock,
//! allocate or block on that path.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};

use crate::model::TraceState;
use crate::sampling::MAX_THRESHOLD;
use crate::sampling::{with_threshold, Th, Threshold};

/// Spans a recording thread counts before it adds them to the pressure.
pub(crate) const STEP: i64 = 16;

/// Levels of the threshold: `k / LEVELS` of 2^56 (all shed at `LEVELS`).
const LEVELS: u32 = 16;
/// `k << LEVEL_SHIFT` is level `k`'s threshold (2^56 / 16 = 2^52).
const LEVEL_SHIFT: u32 = 52;

/// A pipeline's shedding state.
pub(crate) struct Shed {
    enabled: bool,
    /// The level of the rejection threshold, `0..=LEVELS` (0: nothing is
    /// shed); the threshold is `level << 52` (16ths of 2^56).
    level: AtomicU32,
    /// Spans started and kept, not yet taken by the worker or dropped.
    pending: AtomicI64,
    /// Shedding starts above this much pressure...
    high: i64,
    /// ...and sheds everything from this much.
    full: i64,
    /// The hysteresis band.
    band: i64,
    /// Times the level rose and fell (for tests and the stats).
    rises: AtomicU64,
    falls: AtomicU64,
    /// `ot=th:k` for each level, built once and interned (a shed root's
    /// trace state, cloned without a reference count).
    states: Vec<TraceState>,
}

impl Shed {
    /// Shedding for logs that hold `capacity` spans; off when not `enabled`.
    pub(crate) fn new(capacity: usize, enabled: bool) -> Self {
        let c = capacity.max(16) as i64;
        Shed {
            enabled,
            level: AtomicU32::new(0),
            pending: AtomicI64::new(0),
            high: c / 2,
            full: c * 7 / 8,
            band: c / 8,
            rises: AtomicU64::new(0),
            falls: AtomicU64::new(0),
            states: (0..=LEVELS)
                // Constant: every root kept while shedding carries one.
                .map(|k| with_threshold(&TraceState::EMPTY, Some(level_threshold(k))).constant())
                .collect(),
        }
    }

    /// Whether shedding is on.
    #[inline(always)]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The threshold now: one relaxed load and a shift.
    ///
    /// Hot path (runs per root span while shedding is on).
    #[inline(always)]
    pub(crate) fn threshold(&self) -> u64 {
        u64::from(self.level.load(Ordering::Relaxed)) << LEVEL_SHIFT
    }

    /// The kept span's `th` under shedding threshold `s`: raised to `s`
    /// when the sampler's is known and lower. A threshold the sampler
    /// cannot state (a legacy trace-id ratio, a parent without `th`) stays
    /// unknown.
    #[inline]
    pub(crate) fn raise(th: Th, s: u64) -> Th {
        match th {
            Th::Set(t) | Th::Implicit(t) if t.value() < s => Th::Set(Threshold::from_value(s)),
            other => other,
        }
    }

    /// `ot=th:...` alone, for a root kept with threshold `t`, when it is
    /// one of the shedding levels (no allocation).
    pub(crate) fn root_state(&self, t: Threshold) -> Option<&TraceState> {
        let step = MAX_THRESHOLD / u64::from(LEVELS);
        if t.value() % step != 0 {
            return None;
        }
        self.states.get((t.value() / step) as usize)
    }

    /// A recording thread's pressure since its last report (`delta` spans
    /// started and kept, less those it dropped): added, and the threshold
    /// recomputed.
    ///
    /// Runs once per [`STEP`] spans on a recording thread: one
    /// read-modify-write, a few loads, and a store when the level changes.
    pub(crate) fn add(&self, delta: i64) {
        let p = self.pending.fetch_add(delta, Ordering::Relaxed) + delta;
        self.update(p);
    }

    /// The worker took (or discarded) `n` spans from the logs.
    pub(crate) fn taken(&self, n: u64) {
        if !self.enabled || n == 0 {
            return;
        }
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        let p = self.pending.fetch_sub(n, Ordering::Relaxed) - n;
        self.update(p);
    }

    /// The level for pressure `p`.
    fn target(&self, p: i64) -> u32 {
        if p <= self.high {
            return 0;
        }
        let span = (self.full - self.high).max(1);
        let k = ((p - self.high) * i64::from(LEVELS) + span - 1) / span;
        k.clamp(0, i64::from(LEVELS)) as u32
    }

    /// Moves the level for pressure `p`, with hysteresis.
    fn update(&self, p: i64) {
        let cur = self.level.load(Ordering::Relaxed);
        let up = self.target(p);
        let next = if up > cur {
            up
        } else {
            let down = self.target(p + self.band);
            if down < cur {
                down
            } else {
                return;
            }
        };
        // Concurrent updates: the last one wins, and every one is a level
        // some thread saw the pressure call for a moment ago.
        if self
            .level
            .compare_exchange(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            if next > cur {
                self.rises.fetch_add(1, Ordering::Relaxed);
            } else {
                self.falls.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// `(level, rises, falls, pending)`, for tests and diagnostics.
    pub(crate) fn state(&self) -> ShedState {
        ShedState {
            level: self.level.load(Ordering::Relaxed),
            rises: self.rises.load(Ordering::Relaxed),
            falls: self.falls.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Relaxed),
        }
    }
}

/// Where shedding stands (see [`crate::Pipeline::shedding`]).
///
/// ```no_run
/// # fn f(p: &tracewire::Pipeline) {
/// let s = p.shedding();
/// println!("shedding {}/16 of new traces", s.level);
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShedState {
    /// New traces shed now, in 16ths (16: all).
    pub level: u32,
    /// Times the level rose.
    pub rises: u64,
    /// Times the level fell.
    pub falls: u64,
    /// Spans started and kept that the worker has not taken yet (the
    /// pressure; approximate by up to 16 per recording thread).
    pub pending: i64,
}

/// The threshold of level `k`.
fn level_threshold(k: u32) -> Threshold {
    Threshold::from_value(u64::from(k.min(LEVELS)) << LEVEL_SHIFT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_rises_at_once_and_falls_with_hysteresis() {
        // 2048 spans: shedding from 1024, all from 1792, band 256.
        let s = Shed::new(2048, true);
        s.add(1000);
        assert_eq!(s.state().level, 0);
        assert_eq!(s.threshold(), 0);
        s.add(200); // 1200: (176 * 16) / 768 rounded up = 4
        assert_eq!(s.state().level, 4);
        assert_eq!(s.threshold(), MAX_THRESHOLD / 4);
        s.add(600); // 1800: everything
        assert_eq!(s.state().level, 16);
        assert_eq!(s.threshold(), MAX_THRESHOLD);
        s.taken(100); // 1700: 1700 + 256 is past full: stays
        assert_eq!(s.state().level, 16);
        s.taken(400); // 1300: f(1556) = 12
        assert_eq!(s.state().level, 12);
        s.taken(60); // 1240: f(1496) = 10
        assert_eq!(s.state().level, 10);
        s.add(40); // 1280: f(1280) = 6 < 10, f(1536) = 11 > 10: holds
        assert_eq!(s.state().level, 10);
        assert_eq!(s.threshold(), 10 << 52);
        s.taken(1280); // 0: f(256) = 0
        assert_eq!(s.state().level, 0);
        assert_eq!(s.threshold(), 0);
        let st = s.state();
        assert_eq!((st.rises, st.falls, st.pending), (2, 3, 0));
    }

    #[test]
    fn raising_keeps_unknown_thresholds_unknown() {
        let half = MAX_THRESHOLD / 2;
        let quarter = Threshold::from_value(MAX_THRESHOLD / 4);
        assert_eq!(
            Shed::raise(Th::Implicit(Threshold::ALWAYS), half),
            Th::Set(Threshold::from_value(half))
        );
        assert_eq!(
            Shed::raise(Th::Set(Threshold::NEVER), half),
            Th::Set(Threshold::NEVER)
        );
        assert_eq!(Shed::raise(Th::Keep, half), Th::Keep);
        assert_eq!(Shed::raise(Th::Set(quarter), 0), Th::Set(quarter));
        let s = Shed::new(2048, true);
        assert_eq!(
            s.root_state(Threshold::from_value(half)).unwrap().as_str(),
            "ot=th:8"
        );
        assert!(s.root_state(Threshold::from_value(half + 1)).is_none());
        // Interned: every root kept while shedding carries one, on every
        // thread; none is cloned through a shared reference count.
        assert!(s.states.iter().all(TraceState::is_constant));
    }
}
