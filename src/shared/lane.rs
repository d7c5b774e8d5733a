//! The lane for spans too large for a log chunk: their buffers themselves
//! (not copies) go through a small bounded lock-free queue to the worker.
//! Such spans are rare (request bodies, stack traces); a full lane drops
//! and counts them.
//!
//! This module must never block or allocate after construction.

use crossbeam_queue::ArrayQueue;

use crate::codec::buf::SpanBuf;

/// A span too large for a chunk: the buffer holding its `Span` body (from
/// offset `start`) and its scope's index.
#[derive(Debug)]
pub(crate) struct LargeSpan {
    pub(crate) body: SpanBuf,
    pub(crate) start: usize,
    pub(crate) scope: u16,
}

impl LargeSpan {
    /// The `Span` message body.
    pub(crate) fn span(&self) -> &[u8] {
        self.body.as_slice().get(self.start..).unwrap_or(&[])
    }
}

/// The bounded queue of large spans.
pub(crate) struct Lane {
    queue: ArrayQueue<LargeSpan>,
}

impl Lane {
    /// A lane holding at most `capacity` spans (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        Lane {
            queue: ArrayQueue::new(capacity.max(1)),
        }
    }

    /// Offers a span; gives it back when the lane is full.
    pub(crate) fn push(&self, span: LargeSpan) -> Result<(), LargeSpan> {
        self.queue.push(span)
    }

    /// Takes the oldest span (worker side).
    pub(crate) fn pop(&self) -> Option<LargeSpan> {
        self.queue.pop()
    }

    /// Spans waiting.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_lane_refuses_without_blocking() {
        let lane = Lane::new(2);
        let span = || LargeSpan {
            body: SpanBuf::default(),
            start: 0,
            scope: 0,
        };
        assert!(lane.push(span()).is_ok());
        assert!(lane.push(span()).is_ok());
        assert!(lane.push(span()).is_err());
        assert_eq!(lane.len(), 2);
        assert!(lane.pop().is_some());
        assert!(lane.push(span()).is_ok());
    }
}
