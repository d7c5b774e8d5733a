//! Rate-limited warnings: under a flood of bad requests the receiver logs
//! at most one line per [`Throttle`] per interval (one second), and the
//! next line it logs says how many it held back.
//!
//! This module must never block on I/O or hold its lock while logging.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

/// At most one line per interval for one kind of event.
#[derive(Debug)]
pub(super) struct Throttle {
    interval: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// One line per `interval`.
    pub(super) fn new(interval: Duration) -> Self {
        Throttle {
            interval,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether an event at `now` may be logged: `Some(n)`, with `n` the
    /// events held back since the last one logged, or `None` (held back,
    /// and counted).
    pub(super) fn allow(&self, now: Instant) -> Option<u64> {
        let mut s = lock(&self.state);
        let due = s
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            s.last = Some(now);
            Some(std::mem::take(&mut s.suppressed))
        } else {
            s.suppressed = s.suppressed.saturating_add(1);
            None
        }
    }

    /// Logs `message` as a warning, if this throttle allows it now.
    pub(super) fn warn(&self, message: impl FnOnce() -> String) {
        if !log::log_enabled!(log::Level::Warn) {
            return;
        }
        if let Some(held_back) = self.allow(Instant::now()) {
            log::warn!("{}{}", message(), suffix(held_back));
        }
    }
}

/// What a logged line says about the ones held back before it.
fn suffix(held_back: u64) -> String {
    match held_back {
        0 => String::new(),
        1 => " (1 more like it held back since the last report)".into(),
        n => format!(" ({n} more like it held back since the last report)"),
    }
}

/// One throttle per kind of warning the receiver logs.
#[derive(Debug)]
pub(super) struct Warnings {
    /// Refused OTLP/HTTP requests.
    pub(super) http: Throttle,
    /// Refused OTLP/gRPC calls.
    pub(super) grpc: Throttle,
    /// Failed or timed-out TLS handshakes.
    pub(super) tls: Throttle,
    /// Failed `accept` calls (out of file descriptors, ...).
    pub(super) accept: Throttle,
}

impl Default for Warnings {
    fn default() -> Self {
        let second = || Throttle::new(Duration::from_secs(1));
        Warnings {
            http: second(),
            grpc: second(),
            tls: second(),
            accept: second(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_then_the_count_held_back() {
        let t = Throttle::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(t.allow(t0), Some(0), "the first event is logged");
        for i in 1..=1000 {
            assert_eq!(t.allow(t0 + Duration::from_micros(i)), None);
        }
        assert_eq!(
            t.allow(t0 + Duration::from_millis(999)),
            None,
            "still within the second"
        );
        assert_eq!(t.allow(t0 + Duration::from_secs(1)), Some(1001));
        assert_eq!(t.allow(t0 + Duration::from_millis(1500)), None);
        assert_eq!(t.allow(t0 + Duration::from_secs(5)), Some(1));
        assert_eq!(t.allow(t0 + Duration::from_secs(7)), Some(0));
        // A clock that goes backwards holds back, never panics.
        assert_eq!(t.allow(t0), None);
    }

    #[test]
    fn the_suffix_says_how_many_were_held_back() {
        assert_eq!(suffix(0), "");
        assert!(suffix(1).contains("1 more like it"));
        assert!(suffix(42).contains("42 more like it"));
    }
}
