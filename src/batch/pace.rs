//! When the export worker next looks at the span logs while spans keep
//! coming: about when the next batch will be full, from the rate at which
//! spans arrived since its last look.
//!
//! Every look is a wake-up of the worker's thread, and on a proxy's CPU a
//! wake-up can delay a request; looking on a fixed short timer cost a
//! proxy about 500 wake-ups a second at 5,000 requests a second
//! (BENCHMARKS.md). Paced, the worker wakes about once per batch; below a
//! batch a second it parks, and the recording thread that seals a batch's
//! worth wakes it (crate::wake), at most once a second.
//!
//! Sans-IO: plain arithmetic on instants and counts; it never sleeps.

use std::time::{Duration, Instant};

/// The soonest the worker looks again (the timer's granularity).
pub(super) const MIN_LOOK: Duration = Duration::from_millis(1);
/// The latest it looks again while polling.
const MAX_LOOK: Duration = Duration::from_secs(1);

/// The worker's next look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Look again at this instant.
    At(Instant),
    /// Spans arrive at less than a batch per [`MAX_LOOK`]: stop looking; a
    /// recording thread wakes the worker when a batch waits.
    Park,
}

/// The arrival rate of spans, and when the next batch should be full.
#[derive(Debug)]
pub(super) struct Pacer {
    /// Spans per look that make a batch (a batch per fleet member).
    batch: u64,
    /// Spans arrived in all at the last look, and when.
    last_arrived: u64,
    last_at: Instant,
    /// Spans per second, smoothed over looks; 0 when unknown.
    rate: f64,
}

impl Pacer {
    /// A pacer for batches of `batch` spans, starting at `now` with no
    /// rate known.
    pub(super) fn new(batch: u64, now: Instant) -> Self {
        Pacer {
            batch: batch.max(1),
            last_arrived: 0,
            last_at: now,
            rate: 0.0,
        }
    }

    /// The batch size a look waits for (a batch per fleet member).
    pub(super) fn set_batch(&mut self, batch: u64) {
        self.batch = batch.max(1);
    }

    /// The worker looked at `now`: `arrived` spans have arrived in the
    /// logs in all, and `waiting` of them are still there. Returns when to
    /// look next.
    pub(super) fn next(&mut self, now: Instant, arrived: u64, waiting: u64) -> Next {
        let dt = now.saturating_duration_since(self.last_at).as_secs_f64();
        if dt > 0.0 {
            let r = arrived.saturating_sub(self.last_arrived) as f64 / dt;
            // Half the weight to the newest interval: follows a change of
            // rate within a few looks, smooths a single odd interval.
            self.rate = if self.rate == 0.0 {
                r
            } else {
                (self.rate + r) / 2.0
            };
            self.last_arrived = arrived;
            self.last_at = now;
        }
        if self.rate * MAX_LOOK.as_secs_f64() < self.batch as f64 {
            return Next::Park;
        }
        let missing = self.batch.saturating_sub(waiting).max(1) as f64;
        let wait = Duration::from_secs_f64(missing / self.rate).clamp(MIN_LOOK, MAX_LOOK);
        Next::At(now + wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Whether `next` is a look within 10 us of `at`.
    fn near(next: Next, at: Instant) -> bool {
        match next {
            Next::At(t) => t.max(at) - t.min(at) < Duration::from_micros(10),
            Next::Park => false,
        }
    }

    #[test]
    fn looks_when_the_next_batch_should_be_full() {
        let t0 = Instant::now();
        let mut p = Pacer::new(512, t0);
        // 10,000 spans/s: 100 in the first 10 ms, none taken yet.
        let n = p.next(t0 + ms(10), 100, 100);
        assert!(
            near(n, t0 + ms(10) + Duration::from_micros(41_200)),
            "{n:?}"
        );
        // At the predicted time a batch waits; after it is taken, the next
        // look is a whole batch away (51.2 ms at the same rate).
        let t1 = t0 + ms(51) + Duration::from_micros(200);
        let n = p.next(t1, 512, 0);
        assert!(near(n, t1 + Duration::from_micros(51_200)), "{n:?}");
    }

    #[test]
    fn a_slow_trickle_parks_and_a_flood_looks_soon() {
        let t0 = Instant::now();
        let mut p = Pacer::new(512, t0);
        // 100 spans/s: less than a batch a second.
        assert_eq!(p.next(t0 + ms(1000), 100, 100), Next::Park);
        // Woken when a batch waits after a quiet spell: the rate over the
        // spell says a batch took 1.2 s; still parked.
        assert_eq!(p.next(t0 + ms(2200), 612, 512), Next::Park);
        // 1,000,000 spans/s: looks at once.
        let n = p.next(t0 + ms(2210), 10_612, 10_000);
        assert!(near(n, t0 + ms(2210) + MIN_LOOK), "{n:?}");
    }

    #[test]
    fn the_rate_follows_a_change_within_a_few_looks() {
        let t0 = Instant::now();
        let mut p = Pacer::new(1000, t0);
        let mut arrived = 0;
        let mut t = t0;
        // 10,000 spans/s, then 40,000 spans/s.
        for _ in 0..5 {
            t += ms(100);
            arrived += 1000;
            p.next(t, arrived, 0);
        }
        for _ in 0..5 {
            t += ms(25);
            arrived += 1000;
            p.next(t, arrived, 0);
        }
        match p.next(t + ms(25), arrived + 1000, 0) {
            Next::At(at) => {
                let wait = at - (t + ms(25));
                assert!(wait >= ms(24) && wait <= ms(27), "{wait:?}");
            }
            Next::Park => panic!("parked at 40,000 spans/s"),
        }
    }

    #[test]
    fn no_time_passed_changes_nothing() {
        let t0 = Instant::now();
        let mut p = Pacer::new(10, t0);
        assert_eq!(p.next(t0, 5, 5), Next::Park);
    }
}
