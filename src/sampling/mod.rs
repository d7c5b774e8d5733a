//! Head sampling: always, never, trace-id ratio, consistent probability,
//! and parent-based, as OpenTelemetry's samplers (Traefik's `sampleRate` is
//! `ParentBased(TraceIdRatio(sampleRate))`).
//!
//! The consistent probability sampler ([`ProbabilitySampler`], OTEP 235;
//! see [`Threshold`]) keeps a span when the trace's 56-bit randomness is at
//! least its rejection threshold, and the kept span carries the threshold
//! as `th` in the `ot` member of its trace state, so that every service and
//! every later sampling stage can tell what the span stands for.
//!
//! The ratio sampler is consistent across services: it looks only at the
//! trace id, exactly as OpenTelemetry's `TraceIdRatioBased` does in the Go,
//! Java and Rust SDKs (the last 8 bytes, big-endian, shifted right by one,
//! compared against `ratio * 2^63`), so every service using the same ratio
//! keeps or drops the same traces.
//!
//! A decision must never read the clock, allocate or lock: it is a few
//! comparisons on the recording thread. The one allocation here is
//! [`with_threshold`], which builds an edited trace state (a sampled span
//! whose `th` differs from its parent's).
//!
//! ```
//! use tracewire::sampling::Sampler;
//! use tracewire::model::TraceId;
//!
//! let s = Sampler::parent_based(Sampler::ratio(0.25));
//! // A root span: the ratio decides, from the trace id alone.
//! let keep = s.should_sample(None, &TraceId::from_bytes([0; 16]));
//! assert!(keep);
//! ```

use crate::model::{SpanContext, TraceId};

mod threshold;

pub use threshold::{randomness, threshold_of, with_threshold, ThValue, Threshold, MAX_THRESHOLD};

/// The decision for one root sampler inside [`Sampler::ParentBased`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum RootSampler {
    /// Sample every root span.
    AlwaysOn,
    /// Sample no root span.
    AlwaysOff,
    /// Sample root spans whose trace id falls under the ratio.
    Ratio(TraceIdRatio),
    /// Sample root spans whose randomness passes the threshold, and say so
    /// in `th`.
    Probability(ProbabilitySampler),
}

/// OpenTelemetry's consistent probability sampler: keeps a span when the
/// trace's randomness `R` (an explicit `rv`, else the trace id's low 56
/// bits) is at least the rejection threshold `T = (1 - p) * 2^56`, and
/// writes `ot=th:T` into the kept span's trace state.
///
/// ```
/// use tracewire::sampling::ProbabilitySampler;
/// let s = ProbabilitySampler::new(0.25);
/// assert_eq!(s.threshold().th().as_str(), "c");
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbabilitySampler {
    probability: f64,
    threshold: Threshold,
}

impl ProbabilitySampler {
    /// Probability `p`, clamped to `[0, 1]` (NaN counts as 0); below 2^-56
    /// nothing is sampled.
    pub fn new(p: f64) -> Self {
        let probability = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        ProbabilitySampler {
            probability,
            threshold: Threshold::from_probability(probability).unwrap_or(Threshold::NEVER),
        }
    }

    /// The configured probability.
    pub fn probability(&self) -> f64 {
        self.probability
    }

    /// The rejection threshold.
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }
}

/// A consistent trace-id ratio.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TraceIdRatio {
    ratio: f64,
    bound: u64,
}

impl TraceIdRatio {
    /// A ratio, clamped to `[0, 1]` (NaN counts as 0).
    pub fn new(ratio: f64) -> Self {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        // As the OpenTelemetry SDKs: ratio * 2^63, compared with the trace
        // id's low 8 bytes shifted right by one.
        let bound = if ratio >= 1.0 {
            u64::MAX
        } else {
            (ratio * (1u64 << 63) as f64) as u64
        };
        TraceIdRatio { ratio, bound }
    }

    /// The ratio.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Whether `trace_id` is sampled.
    ///
    /// Hot path (runs per root span): two loads and a comparison.
    #[inline]
    pub fn samples(&self, trace_id: &TraceId) -> bool {
        if self.bound == u64::MAX {
            return true;
        }
        // The trace id's last 8 bytes, big-endian.
        let low = trace_id.to_u128() as u64;
        (low >> 1) < self.bound
    }
}

impl RootSampler {
    #[inline]
    fn samples(&self, trace_id: &TraceId) -> bool {
        match self {
            RootSampler::AlwaysOn => true,
            RootSampler::AlwaysOff => false,
            RootSampler::Ratio(r) => r.samples(trace_id),
            RootSampler::Probability(p) => p.threshold.samples(root_randomness(trace_id)),
        }
    }

    /// What a kept root span carries: see [`Th`].
    #[inline]
    fn th(&self) -> Th {
        match self {
            RootSampler::AlwaysOn => Th::Implicit(Threshold::ALWAYS),
            RootSampler::AlwaysOff | RootSampler::Ratio(_) => Th::Keep,
            RootSampler::Probability(p) => Th::Set(p.threshold),
        }
    }
}

/// A root's randomness: the trace id's low 56 bits (a root has no `rv`).
#[inline(always)]
fn root_randomness(trace_id: &TraceId) -> u64 {
    (trace_id.to_u128() as u64) & (threshold::MAX_THRESHOLD - 1)
}

/// What a sampled span writes as `th` into its trace state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Th {
    /// Nothing known: the trace state stays as inherited (a legacy
    /// trace-id ratio, or a parent with no threshold).
    Keep,
    /// Sampled with this threshold, not written unless raised (always on:
    /// `th:0` goes without saying).
    Implicit(Threshold),
    /// Sampled with this threshold: written.
    Set(Threshold),
    /// The parent's `th` is inconsistent with its randomness: erased.
    Erase,
}

/// A head sampler.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Sampler {
    /// Sample everything (`always_on`).
    AlwaysOn,
    /// Sample nothing (`always_off`); context still propagates.
    AlwaysOff,
    /// Sample by trace id, ignoring any parent (`traceidratio`).
    TraceIdRatio(TraceIdRatio),
    /// Consistent probability sampling, ignoring any parent's decision
    /// (but not its `rv`).
    Probability(ProbabilitySampler),
    /// Follow the parent's `sampled` flag when there is a parent; otherwise
    /// ask `root` (`parentbased_*`, OpenTelemetry's default).
    ParentBased {
        /// Decides for spans without a parent.
        root: RootSampler,
    },
}

impl Default for Sampler {
    /// `ParentBased(AlwaysOn)`, OpenTelemetry's default.
    fn default() -> Self {
        Sampler::ParentBased {
            root: RootSampler::AlwaysOn,
        }
    }
}

impl Sampler {
    /// `TraceIdRatio(ratio)`.
    pub fn ratio(ratio: f64) -> Self {
        Sampler::TraceIdRatio(TraceIdRatio::new(ratio))
    }

    /// `ParentBased(root)`; `root` may be `AlwaysOn`, `AlwaysOff` or a ratio
    /// (a nested `ParentBased` is treated as its own root sampler).
    pub fn parent_based(root: Sampler) -> Self {
        let root = match root {
            Sampler::AlwaysOn => RootSampler::AlwaysOn,
            Sampler::AlwaysOff => RootSampler::AlwaysOff,
            Sampler::TraceIdRatio(r) => RootSampler::Ratio(r),
            Sampler::Probability(p) => RootSampler::Probability(p),
            Sampler::ParentBased { root } => root,
        };
        Sampler::ParentBased { root }
    }

    /// `Probability(p)`: consistent probability sampling.
    pub fn probability(p: f64) -> Self {
        Sampler::Probability(ProbabilitySampler::new(p))
    }

    /// The same sampler with every trace-id ratio replaced by the
    /// consistent probability sampler of the same rate
    /// (`tracing.sampler: probability`).
    ///
    /// ```
    /// use tracewire::sampling::Sampler;
    /// assert_eq!(
    ///     Sampler::traefik(0.5).with_probability(),
    ///     Sampler::parent_based(Sampler::probability(0.5))
    /// );
    /// ```
    pub fn with_probability(self) -> Self {
        match self {
            Sampler::TraceIdRatio(r) => Sampler::probability(r.ratio()),
            Sampler::ParentBased {
                root: RootSampler::Ratio(r),
            } => Sampler::parent_based(Sampler::probability(r.ratio())),
            other => other,
        }
    }

    /// Traefik's sampler for `sampleRate`: `ParentBased(TraceIdRatio(rate))`.
    pub fn traefik(sample_rate: f64) -> Self {
        Sampler::parent_based(Sampler::ratio(sample_rate))
    }

    /// Whether a new span in `trace_id` under `parent` is sampled.
    ///
    /// Hot path (runs per span): no clock, no allocation, no lock.
    #[inline]
    pub fn should_sample(&self, parent: Option<&SpanContext>, trace_id: &TraceId) -> bool {
        match self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::TraceIdRatio(r) => r.samples(trace_id),
            Sampler::Probability(p) => p.threshold.samples(match parent {
                Some(p) => randomness(trace_id, p.trace_state()),
                None => root_randomness(trace_id),
            }),
            Sampler::ParentBased { root } => match parent {
                Some(p) if p.is_valid() => p.is_sampled(),
                _ => root.samples(trace_id),
            },
        }
    }

    /// The decision with what the span carries as `th`: `None` when not
    /// sampled.
    ///
    /// Hot path (runs per span): as [`Sampler::should_sample`]; the trace
    /// state is read only for a remote parent that has one, or by the
    /// probability sampler.
    #[inline]
    pub(crate) fn decide(&self, parent: Option<&SpanContext>, trace_id: &TraceId) -> Option<Th> {
        if !self.should_sample(parent, trace_id) {
            return None;
        }
        Some(match self {
            Sampler::AlwaysOn => Th::Implicit(Threshold::ALWAYS),
            Sampler::AlwaysOff | Sampler::TraceIdRatio(_) => Th::Keep,
            Sampler::Probability(p) => Th::Set(p.threshold),
            Sampler::ParentBased { root } => match parent {
                Some(p) if p.is_valid() => parent_th(p, trace_id),
                _ => root.th(),
            },
        })
    }
}

/// A sampled parent's threshold, as the child inherits it: kept when
/// consistent (`R >= th`), erased when not (checked for remote parents;
/// local ones are consistent by construction).
#[inline]
fn parent_th(parent: &SpanContext, trace_id: &TraceId) -> Th {
    let state = parent.trace_state();
    if !parent.is_remote() || state.is_empty() {
        return Th::Keep;
    }
    match threshold_of(state) {
        Some(t) if t.samples(randomness(trace_id, state)) => Th::Implicit(t),
        Some(_) => Th::Erase,
        None => Th::Keep,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanId, TraceFlags, TraceState};

    fn tid(low: u64) -> TraceId {
        let mut b = [0xffu8; 16];
        b[8..].copy_from_slice(&low.to_be_bytes());
        TraceId::from_bytes(b)
    }

    #[test]
    fn ratio_matches_the_otel_rule() {
        let half = TraceIdRatio::new(0.5);
        // 2^62 is the bound: (x >> 1) < 2^62.
        assert!(half.samples(&tid((1u64 << 63) - 2)));
        assert!(!half.samples(&tid(1u64 << 63)));
        assert!(!TraceIdRatio::new(0.0).samples(&tid(0)));
        assert!(TraceIdRatio::new(1.0).samples(&tid(u64::MAX)));
        assert!(!TraceIdRatio::new(f64::NAN).samples(&tid(0)));
    }

    #[test]
    fn ratio_is_close_to_its_rate_over_many_ids() {
        let r = TraceIdRatio::new(0.1);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut kept = 0;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            kept += usize::from(r.samples(&tid(x)));
        }
        assert!(
            (9_000..11_000).contains(&kept),
            "kept {kept} of 100000 at 0.1"
        );
    }

    #[test]
    fn parent_based_follows_the_parent() {
        let s = Sampler::traefik(0.0);
        let parent = |sampled| {
            SpanContext::new(
                TraceId::from_bytes([1; 16]),
                SpanId::from_bytes([1; 8]),
                TraceFlags::default().with_sampled(sampled),
                true,
                TraceState::EMPTY,
            )
        };
        assert!(s.should_sample(Some(&parent(true)), &tid(0)));
        assert!(!s.should_sample(Some(&parent(false)), &tid(0)));
        assert!(!s.should_sample(None, &tid(0)), "ratio 0 roots are dropped");
        assert!(Sampler::default().should_sample(None, &tid(0)));
    }

    fn remote(sampled: bool, state: &str) -> SpanContext {
        SpanContext::new(
            tid(0x0080_0000_0000_0000),
            SpanId::from_bytes([1; 8]),
            TraceFlags::default().with_sampled(sampled),
            true,
            TraceState::from_validated(state),
        )
    }

    #[test]
    fn probability_keeps_randomness_at_or_above_its_threshold() {
        let s = Sampler::probability(0.5);
        // R = low 56 bits: 0x80000000000000 is kept, one less is not.
        assert_eq!(
            s.decide(None, &tid(0x0080_0000_0000_0000)),
            Some(Th::Set(Threshold::parse_th("8").unwrap()))
        );
        assert_eq!(s.decide(None, &tid(0x007f_ffff_ffff_ffff)), None);
        // The high byte of the low 8 is not randomness.
        assert!(s.should_sample(None, &tid(0xff80_0000_0000_0000)));
        assert!(!s.should_sample(None, &tid(0xff7f_ffff_ffff_ffff)));
        // An explicit rv wins over the trace id.
        let p = remote(true, "ot=rv:7fffffffffffff");
        assert!(!s.should_sample(Some(&p), &tid(0x0080_0000_0000_0000)));
        assert!(!Sampler::probability(0.0).should_sample(None, &tid(u64::MAX)));
        assert_eq!(
            Sampler::probability(1.0).decide(None, &tid(0)),
            Some(Th::Set(Threshold::ALWAYS))
        );
    }

    #[test]
    fn parent_based_honours_a_consistent_parent_threshold() {
        let s = Sampler::parent_based(Sampler::probability(1.0));
        let id = tid(0x0080_0000_0000_0000);
        let kept = remote(true, "ot=th:8");
        assert_eq!(
            s.decide(Some(&kept), &id),
            Some(Th::Implicit(Threshold::parse_th("8").unwrap()))
        );
        // th:c (25%) with R = 0x80..: the parent could not have kept it.
        assert_eq!(
            s.decide(Some(&remote(true, "ot=th:c")), &id),
            Some(Th::Erase)
        );
        assert_eq!(s.decide(Some(&remote(false, "ot=th:0")), &id), None);
        assert_eq!(s.decide(Some(&remote(true, "")), &id), Some(Th::Keep));
        // A root: the probability sampler's own threshold.
        assert_eq!(s.decide(None, &id), Some(Th::Set(Threshold::ALWAYS)));
        assert_eq!(
            Sampler::default().decide(None, &id),
            Some(Th::Implicit(Threshold::ALWAYS))
        );
        assert_eq!(Sampler::traefik(1.0).decide(None, &id), Some(Th::Keep));
    }
}
