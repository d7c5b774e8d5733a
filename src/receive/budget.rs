//! The in-flight budget: how many request-body bytes the receiver holds at
//! once, over all connections and streams. Each request charges the bytes
//! it has buffered and gives them back when it is done; a request that
//! would pass the budget is refused (HTTP 503, gRPC `UNAVAILABLE`, both
//! retryable) instead of waiting, so a crowd of slow or stalled senders
//! cannot make the receiver hold more than the budget, whatever the
//! connection and stream limits multiply to.
//!
//! This module must never block or wait: a charge either fits or fails.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes held by requests in flight, against a limit.
#[derive(Debug)]
pub(super) struct Budget {
    used: AtomicUsize,
    limit: usize,
}

/// What one request holds of the budget; given back on drop.
#[derive(Debug)]
pub(super) struct Charge {
    budget: Arc<Budget>,
    held: usize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub(super) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Budget {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// The limit.
    pub(super) fn limit(&self) -> usize {
        self.limit
    }

    /// An empty charge for one request.
    pub(super) fn charge(self: &Arc<Self>) -> Charge {
        Charge {
            budget: self.clone(),
            held: 0,
        }
    }

    #[cfg(test)]
    fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

impl Charge {
    /// Takes `n` more bytes; `false` (and nothing taken) if that would
    /// pass the budget.
    pub(super) fn grow(&mut self, n: usize) -> bool {
        let b = &self.budget;
        let taken = b
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(n).filter(|&total| total <= b.limit)
            });
        if taken.is_ok() {
            self.held += n;
        }
        taken.is_ok()
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.held, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_fit_or_fail_and_are_given_back() {
        let b = Budget::new(100);
        let mut a = b.charge();
        assert!(a.grow(60));
        let mut c = b.charge();
        assert!(!c.grow(41), "would pass the budget");
        assert!(c.grow(40));
        assert!(!c.grow(1));
        assert_eq!(b.used(), 100);
        drop(a);
        assert_eq!(b.used(), 40);
        assert!(c.grow(60));
        drop(c);
        assert_eq!(b.used(), 0);
        let mut huge = Budget::new(usize::MAX).charge();
        assert!(huge.grow(usize::MAX));
        assert!(!huge.grow(1), "no overflow");
    }
}
