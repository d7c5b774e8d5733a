//! Retrying exports: what one attempt came to ([`Attempt`], the one outcome
//! type both transports classify their responses into), and the policy
//! that repeats attempts: exponential backoff with jitter, server-given
//! delays (`Retry-After`, `google.rpc.RetryInfo`), all bounded by the
//! export's deadline.
//!
//! Runs only on the export worker's runtime: it must never sleep on a
//! recording thread. A retry that could not start before the deadline is
//! not attempted: the export fails at once with the last error, so a
//! shutdown deadline is never overrun by a sleep.
//!
//! ```
//! use std::time::Duration;
//! use tracewire::internal::retry::Backoff;
//! use tracewire::transport::RetryConfig;
//!
//! let mut b = Backoff::new(RetryConfig::default());
//! let first = b.next_delay(None);
//! assert!(first <= RetryConfig::default().initial_backoff);
//! // A server's explicit delay wins over the backoff.
//! assert_eq!(b.next_delay(Some(Duration::from_secs(2))), Duration::from_secs(2));
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

use crate::export::ExportError;

/// Retry knobs.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct RetryConfig {
    /// Retry at all (default on).
    pub enabled: bool,
    /// The first backoff (default 250 ms).
    pub initial_backoff: Duration,
    /// The longest backoff between attempts (default 5 s).
    pub max_backoff: Duration,
    /// Growth factor per attempt (default 2).
    pub multiplier: f64,
    /// The longest one export may spend on attempts and the waits between
    /// them, from its first attempt (default 1 minute, as in the
    /// OpenTelemetry Go exporters; config key `retry.maxElapsedTime`). No
    /// retry starts after it; the export's own deadline (the batch
    /// `exportTimeout`) bounds it too, whichever comes first.
    pub max_elapsed: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            multiplier: 2.0,
            max_elapsed: Duration::from_secs(60),
        }
    }
}

/// Exponential backoff with "equal jitter": each delay is drawn from the
/// upper half of the current backoff, so retries from many proxies spread
/// out but never collapse to zero.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: RetryConfig,
    current: Duration,
}

impl Backoff {
    /// A fresh backoff.
    pub fn new(config: RetryConfig) -> Self {
        Backoff {
            current: config.initial_backoff,
            config,
        }
    }

    /// The delay before the next attempt: the server's `hint` when given,
    /// otherwise the jittered backoff, which then grows.
    pub fn next_delay(&mut self, hint: Option<Duration>) -> Duration {
        if let Some(h) = hint {
            return h;
        }
        let base = self.current.min(self.config.max_backoff);
        let half = base / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if jitter_nanos == 0 {
            Duration::ZERO
        } else {
            Duration::from_nanos(crate::rand::random_u64() % (jitter_nanos + 1))
        };
        let grown = self.current.as_secs_f64() * self.config.multiplier.max(1.0);
        self.current = Duration::from_secs_f64(grown.min(self.config.max_backoff.as_secs_f64()));
        half + jitter
    }
}

/// What the collector accepted: the spans it refused in a partial success
/// (0 for full success) and its explanation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Spans the collector rejected.
    pub rejected: u64,
    /// Why, if the collector said.
    pub message: String,
}

/// What one export attempt came to: the outcome both transports classify
/// their responses (and connection failures) into, and the retry policy
/// acts on.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tracewire::internal::otlp_http::classify;
/// use tracewire::internal::retry::Attempt;
/// let o = classify(http::StatusCode::TOO_MANY_REQUESTS, Some(b"1"), b"", false, SystemTime::now());
/// assert!(matches!(o, Attempt::Retry { after: Some(d), .. } if d == Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The collector accepted the request (possibly refusing some spans).
    Accepted(Accepted),
    /// A retryable failure; `after` is the server's requested delay.
    Retry {
        /// `Retry-After` / `RetryInfo`.
        after: Option<Duration>,
        /// What went wrong, for the final error if retries run out.
        reason: String,
    },
    /// A failure retrying cannot fix.
    Fail(ExportError),
}

/// The outcome of [`run`].
#[derive(Debug)]
pub(crate) struct Retried {
    /// The final result.
    pub result: Result<Accepted, ExportError>,
    /// Attempts made (at least 1). Read by this loop's tests; the
    /// transports count the requests they sent themselves.
    #[cfg_attr(not(test), allow(dead_code))]
    pub attempts: u32,
}

/// Calls `attempt` until it is done, fails for good, or the next try could
/// not start before `deadline` (or [`RetryConfig::max_elapsed`] after the
/// first, if sooner). `attempt` receives the attempt number (from 1) and
/// the time left.
pub(crate) async fn run<F, Fut>(config: &RetryConfig, deadline: Instant, mut attempt: F) -> Retried
where
    F: FnMut(u32, Duration) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let deadline = match Instant::now().checked_add(config.max_elapsed) {
        Some(bound) => deadline.min(bound),
        None => deadline,
    };
    let mut backoff = Backoff::new(*config);
    let mut n = 0u32;
    // The last retryable failure: what a deadline passed during a backoff
    // reports, rather than the deadline alone.
    let mut last: Option<String> = None;
    loop {
        n += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Retried {
                result: Err(ExportError::DeadlineExceeded {
                    attempts: n - 1,
                    last: last
                        .take()
                        .unwrap_or_else(|| "no time left before the export deadline".into()),
                }),
                attempts: n - 1,
            };
        }
        match attempt(n, left).await {
            Attempt::Accepted(v) => {
                return Retried {
                    result: Ok(v),
                    attempts: n,
                }
            }
            Attempt::Fail(e) => {
                return Retried {
                    result: Err(e),
                    attempts: n,
                }
            }
            Attempt::Retry { after, reason } => {
                if !config.enabled {
                    return Retried {
                        result: Err(ExportError::Unreachable(reason)),
                        attempts: n,
                    };
                }
                let delay = backoff.next_delay(after);
                let left = deadline.saturating_duration_since(Instant::now());
                if delay >= left {
                    return Retried {
                        result: Err(ExportError::DeadlineExceeded {
                            attempts: n,
                            last: reason,
                        }),
                        attempts: n,
                    };
                }
                log::debug!(
                    "tracewire: export attempt {n} failed ({reason}); retrying in {delay:?}"
                );
                last = Some(reason);
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let cfg = RetryConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            ..RetryConfig::default()
        };
        let mut b = Backoff::new(cfg);
        let bounds = [(50, 100), (100, 200), (200, 400), (200, 400), (200, 400)];
        for (lo, hi) in bounds {
            let d = b.next_delay(None).as_millis() as u64;
            assert!((lo..=hi).contains(&d), "{d} not in {lo}..={hi}");
        }
    }

    #[tokio::test]
    async fn stops_when_the_next_try_would_pass_the_deadline() {
        let deadline = Instant::now() + Duration::from_millis(300);
        let out = run(&RetryConfig::default(), deadline, |_, _| async {
            Attempt::Retry {
                after: Some(Duration::from_secs(10)),
                reason: "503".into(),
            }
        })
        .await;
        assert_eq!(out.attempts, 1);
        assert!(matches!(
            out.result,
            Err(ExportError::DeadlineExceeded { attempts: 1, .. })
        ));
        assert!(
            Instant::now() < deadline,
            "gave up without sleeping to the deadline"
        );
    }

    #[tokio::test]
    async fn max_elapsed_bounds_the_retries_of_a_far_deadline() {
        let cfg = RetryConfig {
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(20),
            max_elapsed: Duration::from_millis(400),
            ..RetryConfig::default()
        };
        let started = Instant::now();
        let far = Instant::now() + Duration::from_secs(3600);
        let out = run(&cfg, far, |_, left| async move {
            assert!(left <= Duration::from_millis(400), "attempt given {left:?}");
            Attempt::Retry {
                after: None,
                reason: "connection refused".into(),
            }
        })
        .await;
        assert!(
            matches!(&out.result, Err(ExportError::DeadlineExceeded { last, .. }) if last == "connection refused"),
            "{:?}",
            out.result
        );
        // Backoffs of 10-20 ms: several attempts, then a stop once the next
        // could not start within max_elapsed, not at the hour-long deadline
        // (the bound on the elapsed time is loose: shared machines).
        assert!(out.attempts >= 2, "{} attempts", out.attempts);
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[tokio::test]
    async fn retries_until_done() {
        let cfg = RetryConfig {
            initial_backoff: Duration::from_millis(1),
            ..RetryConfig::default()
        };
        let out = run(
            &cfg,
            Instant::now() + Duration::from_secs(5),
            |n, _| async move {
                if n < 3 {
                    Attempt::Retry {
                        after: None,
                        reason: "reset".into(),
                    }
                } else {
                    Attempt::Accepted(Accepted {
                        rejected: u64::from(n),
                        message: String::new(),
                    })
                }
            },
        )
        .await;
        assert_eq!((out.result.unwrap().rejected, out.attempts), (3, 3));
    }
}
