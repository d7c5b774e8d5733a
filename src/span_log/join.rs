//! Split spans put back together, on the export worker.
//!
//! A span written in place whose chunk was let go while it was open (or
//! that moved to another thread) reaches the worker in two pieces: part
//! one, in its slot, and a continuation, appended to some log when the span
//! ended, naming part one (see [`chunk`](super::chunk)). Part one may come
//! first (its chunk was sealed: the reader hands it here, and it waits) or
//! second (still in an open slot: found by the continuation's key in the
//! readers). Joined, the two are one `Span` message: part one's fields then
//! the rest's, the end time and (when renamed) the name written again
//! later, which a decoder takes over the first.
//!
//! Part ones wait within a byte budget; past it the oldest are dropped (a
//! span whose continuation then finds nothing is counted dropped by the
//! worker). A part one whose span never ends (it was leaked, or its end was
//! dropped for lack of room) is dropped that way too, in time.
//!
//! Runs on the export worker only, never on a recording thread.

use std::collections::{HashMap, VecDeque};

use super::chunk::PartOne;
use super::lane::LargeSpan;
use super::reader::{LogReader, Pieces};
use crate::codec::buf::SpanBuf;

/// A continuation waiting for its part one.
struct Cont {
    part: PartOne,
    scope: u16,
    rest: SpanBuf,
}

/// The worker's split spans: part ones waiting for the rest, continuations
/// waiting for part one, and joined spans ready to export.
pub(crate) struct Joins {
    parts: HashMap<(u64, u32), Vec<u8>>,
    /// Part ones in arrival order (some already joined), for eviction.
    order: VecDeque<(u64, u32)>,
    part_bytes: usize,
    max_part_bytes: usize,
    conts: Vec<Cont>,
    ready: VecDeque<LargeSpan>,
}

impl Joins {
    /// Joins that keep at most `max_part_bytes` of part ones waiting.
    pub(crate) fn new(max_part_bytes: usize) -> Self {
        Joins {
            parts: HashMap::new(),
            order: VecDeque::new(),
            part_bytes: 0,
            max_part_bytes,
            conts: Vec::new(),
            ready: VecDeque::new(),
        }
    }

    /// The rest of a split span too large for a chunk (from the lane).
    pub(crate) fn cont_large(&mut self, span: LargeSpan) {
        let LargeSpan { body, scope, part } = span;
        if let Some(part) = part {
            self.conts.push(Cont {
                part,
                scope,
                rest: body,
            });
        }
    }

    /// Joins each continuation with its part one, from the waiting part
    /// ones or from a reader's chunk; the joined spans are then ready.
    /// Returns how many continuations found no part one (it was dropped:
    /// the caller counts those spans dropped).
    pub(crate) fn resolve(&mut self, readers: &mut [LogReader]) -> u64 {
        let mut lost = 0;
        for c in std::mem::take(&mut self.conts) {
            let id = c.part.id();
            let joined = match self.parts.remove(&id) {
                Some(one) => {
                    self.part_bytes -= one.len();
                    // The slot's whole reservation was kept: part one is
                    // its first `len` bytes.
                    one.get(..c.part.len())
                        .map(|one| join(one, c.rest.as_slice()))
                }
                None => readers
                    .iter_mut()
                    .find_map(|r| r.take_part_one(&c.part, |one| join(one, c.rest.as_slice()))),
            };
            match joined {
                Some(body) => self.ready.push_back(LargeSpan {
                    body,
                    scope: c.scope,
                    part: None,
                }),
                None => lost += 1,
            }
        }
        lost
    }

    /// The next joined span to export.
    pub(crate) fn pop_ready(&mut self) -> Option<LargeSpan> {
        self.ready.pop_front()
    }

    /// Spans in the worker's hands here: continuations not yet joined, and
    /// joined spans not yet exported.
    pub(crate) fn pending(&self) -> usize {
        self.conts.len() + self.ready.len()
    }

    /// Part ones waiting.
    #[cfg(test)]
    pub(crate) fn parts_waiting(&self) -> usize {
        self.parts.len()
    }

    /// Forgets every pending span; returns how many.
    pub(crate) fn discard(&mut self) -> u64 {
        let n = self.pending() as u64;
        self.conts.clear();
        self.ready.clear();
        n
    }
}

impl Pieces for Joins {
    /// Part one, kept until the rest comes (within the budget).
    fn part_one(&mut self, id: (u64, u32), body: &[u8]) {
        self.part_bytes += body.len();
        if let Some(old) = self.parts.insert(id, body.to_vec()) {
            self.part_bytes -= old.len();
        }
        self.order.push_back(id);
        while self.part_bytes > self.max_part_bytes {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(dropped) = self.parts.remove(&oldest) {
                self.part_bytes -= dropped.len();
            }
        }
        if self.order.len() > 2 * self.parts.len() + 64 {
            let parts = &self.parts;
            self.order.retain(|id| parts.contains_key(id));
        }
    }

    /// The rest, joined when the worker next resolves.
    fn cont(&mut self, part: PartOne, rest: &[u8], scope: u16) {
        let mut buf = SpanBuf::with_capacity(rest.len());
        buf.extend_from_slice(rest);
        self.conts.push(Cont {
            part,
            scope,
            rest: buf,
        });
    }
}

/// Part one then the rest: one `Span` message body.
fn join(one: &[u8], rest: &[u8]) -> SpanBuf {
    let mut body = SpanBuf::with_capacity(one.len() + rest.len());
    body.extend_from_slice(one);
    body.extend_from_slice(rest);
    body
}
