//! Head sampling: always, never, trace-id ratio, and parent-based, as
//! OpenTelemetry's samplers (Traefik's `sampleRate` is
//! `ParentBased(TraceIdRatio(sampleRate))`).
//!
//! The ratio sampler is consistent across services: it looks only at the
//! trace id, exactly as OpenTelemetry's `TraceIdRatioBased` does in the Go,
//! Java and Rust SDKs (the last 8 bytes, big-endian, shifted right by one,
//! compared against `ratio * 2^63`), so every service using the same ratio
//! keeps or drops the same traces.
//!
//! This module must never read the clock, allocate or lock: a decision is a
//! few comparisons on the recording thread.
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

/// The decision for one root sampler inside [`Sampler::ParentBased`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RootSampler {
    /// Sample every root span.
    AlwaysOn,
    /// Sample no root span.
    AlwaysOff,
    /// Sample root spans whose trace id falls under the ratio.
    Ratio(TraceIdRatio),
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
        }
    }
}

/// A head sampler.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Sample everything (`always_on`).
    AlwaysOn,
    /// Sample nothing (`always_off`); context still propagates.
    AlwaysOff,
    /// Sample by trace id, ignoring any parent (`traceidratio`).
    TraceIdRatio(TraceIdRatio),
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
            Sampler::ParentBased { root } => root,
        };
        Sampler::ParentBased { root }
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
            Sampler::ParentBased { root } => match parent {
                Some(p) if p.is_valid() => p.is_sampled(),
                _ => root.samples(trace_id),
            },
        }
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
}
