//! The lane for spans too large for a log chunk: their buffers themselves
//! (not copies) go through a small bounded lock-free queue to the worker.
//! Such spans are rare (request bodies, stack traces). The lane is bounded
//! in bytes (and always takes one span when empty, however large); a full
//! lane drops and counts them.
//!
//! This module must never block or allocate after construction.

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_queue::ArrayQueue;

use super::chunk::PartOne;
use crate::codec::buf::SpanBuf;

/// A span too large for a chunk: the buffer holding its `Span` body and
/// its scope's index. With `part`, the body is the rest
/// of a split span, whose part one `part` names (the worker joins them).
#[derive(Debug)]
pub(crate) struct LargeSpan {
    pub(crate) body: SpanBuf,
    pub(crate) scope: u16,
    pub(crate) part: Option<PartOne>,
}

impl LargeSpan {
    /// The `Span` message body.
    pub(crate) fn span(&self) -> &[u8] {
        self.body.as_slice()
    }
}

/// The bounded queue of large spans.
pub(crate) struct Lane {
    queue: ArrayQueue<LargeSpan>,
    /// Bytes of the spans waiting.
    bytes: AtomicUsize,
    /// The most bytes waiting at once (but one span is always taken).
    budget: usize,
    /// Bytes waiting that make a batch's worth (at most half the budget).
    pressure: usize,
}

impl Lane {
    /// A lane holding at most `capacity` spans (at least 1) and `budget`
    /// bytes of them, of which `batch_bytes` (at most half the budget)
    /// make a batch's worth.
    pub(crate) fn new(capacity: usize, budget: usize, batch_bytes: usize) -> Self {
        Lane {
            queue: ArrayQueue::new(capacity.max(1)),
            bytes: AtomicUsize::new(0),
            budget,
            pressure: batch_bytes.min(budget / 2).max(1),
        }
    }

    /// Offers a span; gives it back when the lane is full.
    ///
    /// Runs per large span (rare): two atomic operations.
    pub(crate) fn push(&self, span: LargeSpan) -> Result<(), LargeSpan> {
        let size = span.body.as_slice().len();
        let before = self.bytes.fetch_add(size, Ordering::AcqRel);
        if before > 0 && before + size > self.budget {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(span);
        }
        self.queue.push(span).inspect_err(|_| {
            self.bytes.fetch_sub(size, Ordering::AcqRel);
        })
    }

    /// Takes the oldest span (worker side).
    pub(crate) fn pop(&self) -> Option<LargeSpan> {
        let span = self.queue.pop()?;
        self.bytes
            .fetch_sub(span.body.as_slice().len(), Ordering::AcqRel);
        Some(span)
    }

    /// Whether the spans waiting make a batch's worth of bytes.
    pub(crate) fn pressed(&self) -> bool {
        self.bytes.load(Ordering::Acquire) >= self.pressure
    }

    /// Spans waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(bytes: usize) -> LargeSpan {
        let mut body = SpanBuf::with_capacity(bytes);
        body.claim(bytes);
        LargeSpan {
            body,
            scope: 0,
            part: None,
        }
    }

    #[test]
    fn a_full_lane_refuses_without_blocking() {
        let lane = Lane::new(2, 1 << 20, 1 << 18);
        assert!(lane.push(span(10)).is_ok());
        assert!(lane.push(span(10)).is_ok());
        assert!(lane.push(span(10)).is_err(), "two spans at most");
        assert_eq!(lane.len(), 2);
        assert!(lane.pop().is_some());
        assert!(lane.push(span(10)).is_ok());
    }

    #[test]
    fn the_lane_is_bounded_in_bytes_but_takes_one_span_of_any_size() {
        let lane = Lane::new(16, 100, 40);
        assert!(!lane.pressed());
        assert!(lane.push(span(1_000)).is_ok(), "one span however large");
        assert!(lane.pressed(), "a batch's worth of bytes waits");
        assert!(lane.push(span(10)).is_err(), "over the budget");
        assert!(lane.pop().is_some());
        for i in 0..10 {
            assert_eq!(lane.pressed(), i >= 4, "{i} spans of 10 bytes");
            assert!(lane.push(span(10)).is_ok());
        }
        assert!(lane.push(span(10)).is_err());
    }
}
