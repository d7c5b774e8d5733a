//! The export worker's end of a span log: finds the finished records
//! across the log's chunks (passing over slots still being written, and
//! coming back to them), lets the worker copy them out, hands the pieces
//! of split spans to the worker's [`Pieces`] (its joins), consumes what
//! was taken, and gives read chunks back to the pool.
//!
//! Runs on the worker, once per batch: it never blocks the producer.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::chunk::{ChunkConsumer, PartOne, State, CONT_KEY};
use super::chunks::ChunkPool;
use super::state::{Counts, LogShared};

/// Where [`LogReader::gather`] hands the pieces of split spans (see
/// [`chunk`](super::chunk)): the worker's joins.
pub(crate) trait Pieces {
    /// Part one of a split span, found first (`id`: its slot).
    fn part_one(&mut self, id: (u64, u32), body: &[u8]);
    /// The rest of a split span (its fields after part one, which `part`
    /// names).
    fn cont(&mut self, part: PartOne, rest: &[u8], scope: u16);
}

/// What [`LogReader::gather`] does with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Collect it.
    Take,
    /// Take it out of the log without collecting it (it cannot be sent).
    Skip,
    /// Stop here (the batch is full); the record stays in the log.
    Stop,
}

/// Where a whole span's record is, for the worker to copy it out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordRef {
    /// Index of the chunk in the reader's list.
    chunk: usize,
    /// The slot in that chunk.
    slot: usize,
    /// Length of the framed span.
    pub(crate) len: usize,
    /// Scope index.
    pub(crate) scope: u16,
    /// The fleet member its trace goes to (set by the worker's admit).
    pub(crate) member: u32,
}

/// One chunk being read.
pub(super) struct Reading {
    pub(super) c: ChunkConsumer,
    /// The first slot not yet looked at.
    next: usize,
    /// Slots looked at while still being written: looked at again.
    open: Vec<usize>,
    /// Slots whose part one the worker took for a continuation (they are
    /// passed over when they turn up).
    joined: Vec<usize>,
}

impl Reading {
    fn new(c: ChunkConsumer) -> Self {
        Reading {
            c,
            next: 0,
            open: Vec::new(),
            joined: Vec::new(),
        }
    }

    /// Every slot is looked at and final, and no more will begin.
    fn is_done(&self) -> bool {
        self.c.is_sealed() && self.next >= self.c.begun() && self.open.is_empty()
    }
}

/// The worker's end of a log.
pub(crate) struct LogReader {
    pub(super) log: Arc<LogShared>,
    /// The chunk being read, then the ones after it.
    pub(super) chunks: VecDeque<Reading>,
    /// Read chunks whose producer half was still alive when they were left.
    pub(super) zombies: Vec<ChunkConsumer>,
    /// Spans taken out of this log.
    pub(super) taken: u64,
}

/// The spans a [`LogReader::gather`] took out of the log, to be consumed once copied.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Mark {
    spans: u64,
}

impl Mark {
    /// Spans taken out of the log (collected, skipped, or handed to the
    /// joins as continuations).
    pub(crate) fn spans(&self) -> u64 {
        self.spans
    }
}

/// What to do with one slot, once looked at.
enum Seen {
    /// Still being written: look again later.
    Open,
    /// Taken (or passed over): forget it.
    Gone,
    /// The batch is full: leave it for the next gather.
    Stop,
}

impl LogReader {
    pub(super) fn new(log: Arc<LogShared>, chunks: VecDeque<ChunkConsumer>) -> Self {
        LogReader {
            log,
            chunks: chunks.into_iter().map(Reading::new).collect(),
            zombies: Vec::new(),
            taken: 0,
        }
    }

    /// The log's shared counters.
    pub(crate) fn shared(&self) -> &Arc<LogShared> {
        &self.log
    }

    /// Spans published into this log and not yet taken.
    pub(crate) fn waiting(&self) -> u64 {
        self.log.waiting()
    }

    /// Collects finished whole spans, in slot order (a span still being
    /// written is passed over and collected on a later call), into `out`
    /// while `admit` takes them (it sees each record's framed length and,
    /// when `peek` is not 0, its first `peek` bytes at most; it may set the
    /// record's `member`; a skipped record is taken out of the log but not
    /// collected). The pieces of split spans go to `joins` as they are
    /// found. Returns what it took (a count): the spans stay readable
    /// ([`LogReader::with_record`]) until [`LogReader::consume`].
    pub(crate) fn gather(
        &mut self,
        out: &mut Vec<RecordRef>,
        peek: usize,
        joins: &mut impl Pieces,
        mut admit: impl FnMut(&mut RecordRef, &[u8]) -> Admit,
    ) -> Mark {
        let mut mark = Mark::default();
        let mut ci = 0;
        loop {
            if ci == self.chunks.len() {
                match self.log.next.pop() {
                    Some(next) => self.chunks.push_back(Reading::new(next)),
                    None => break,
                }
            }
            let r = &mut self.chunks[ci];
            // Sealed first: then the count of slots read next is final.
            let sealed = r.c.is_sealed();
            let begun = r.c.begun();
            let mut k = 0;
            while k < r.open.len() {
                let i = r.open[k];
                match look(r, ci, i, out, peek, joins, &mut admit, &mut mark) {
                    Seen::Open => k += 1,
                    Seen::Gone => {
                        r.open.swap_remove(k);
                    }
                    Seen::Stop => return mark,
                }
            }
            while r.next < begun {
                let i = r.next;
                match look(r, ci, i, out, peek, joins, &mut admit, &mut mark) {
                    Seen::Open => r.open.push(r.next),
                    Seen::Gone => {}
                    Seen::Stop => return mark,
                }
                r.next += 1;
            }
            if !(sealed && r.open.is_empty()) {
                // The chunk being written: nothing comes after it yet.
                break;
            }
            ci += 1;
        }
        mark
    }

    /// Calls `f` with the framed bytes of a record [`LogReader::gather`]
    /// found (before [`LogReader::consume`]).
    #[inline]
    pub(crate) fn with_record<R>(&self, r: &RecordRef, f: impl FnOnce(&[u8]) -> R) -> R {
        let bytes = self
            .chunks
            .get(r.chunk)
            .and_then(|c| c.c.view(r.slot).and_then(|v| v.bytes()))
            .unwrap_or(&[]);
        f(bytes)
    }

    /// Consumes what [`LogReader::gather`] took, freeing the chunks read to
    /// the end.
    pub(crate) fn consume(&mut self, mark: Mark, pool: &ChunkPool) {
        for z in std::mem::take(&mut self.zombies) {
            self.free(z, pool);
        }
        while self.chunks.len() > 1 && self.chunks.front().is_some_and(Reading::is_done) {
            if let Some(done) = self.chunks.pop_front() {
                self.free(done.c, pool);
            }
        }
        self.taken += mark.spans;
        self.log.taken.store(self.taken, Ordering::Release);
    }

    /// Calls `f` with part one of the split span `part` names, when it is
    /// in one of this log's chunks (still open, or final and not yet
    /// looked at), and marks it taken; `None` when it is not.
    pub(crate) fn take_part_one<R>(
        &mut self,
        part: &PartOne,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        while let Some(next) = self.log.next.pop() {
            self.chunks.push_back(Reading::new(next));
        }
        let (_, index) = part.id();
        let index = index as usize;
        let r = self
            .chunks
            .iter_mut()
            .find(|r| r.c.serial() == part.id().0)?;
        if index < r.next && !r.open.contains(&index) {
            // Looked at already, and final then: the joins have it.
            return None;
        }
        let got = f(r.c.part_one(part)?);
        r.open.retain(|&i| i != index);
        if index >= r.next {
            r.joined.push(index);
        }
        Some(got)
    }

    /// Gives a fully read chunk back to the pool, or keeps it for later
    /// when its producer still holds its half (for an instant after it
    /// moved on, or until a finished log's thread is gone).
    fn free(&mut self, done: ChunkConsumer, pool: &ChunkPool) {
        match done.reclaim() {
            Ok(chunk) => pool.give(chunk),
            Err(still_held) => self.zombies.push(still_held),
        }
    }

    /// Whether the producer is gone (its thread exited).
    pub(crate) fn is_gone(&self) -> bool {
        self.log.produced.gone.load(Ordering::Acquire)
    }

    /// Whether the producer is gone and everything it published was taken:
    /// the log can be dropped (see [`LogReader::retire`]).
    pub(crate) fn is_finished(&self) -> bool {
        self.log.produced.gone.load(Ordering::Acquire)
            && self.log.next.is_empty()
            && self.chunks.iter().all(Reading::is_done)
    }

    /// Frees the log's last chunks; returns its final counts.
    pub(crate) fn retire(mut self, pool: &ChunkPool) -> Counts {
        let chunks: Vec<ChunkConsumer> = self
            .chunks
            .drain(..)
            .map(|r| r.c)
            .chain(self.zombies.drain(..))
            .collect();
        for c in chunks {
            match c.reclaim() {
                Ok(chunk) => pool.give(chunk),
                // Its thread's state is still being torn down: let the
                // memory go with the last reference instead.
                Err(_) => pool.forget_one(),
            }
        }
        self.log.counts()
    }
}

/// Looks at slot `i` of `r` (chunk `ci`, below a count of slots begun the
/// caller read): collects a finished whole span through `admit`, hands a
/// split span's piece to `joins`, or says it is still being written.
#[allow(clippy::too_many_arguments)]
#[inline]
fn look(
    r: &mut Reading,
    ci: usize,
    i: usize,
    out: &mut Vec<RecordRef>,
    peek: usize,
    joins: &mut impl Pieces,
    admit: &mut impl FnMut(&mut RecordRef, &[u8]) -> Admit,
    mark: &mut Mark,
) -> Seen {
    let Some(view) = r.c.view(i) else {
        return Seen::Open;
    };
    if !r.joined.is_empty() && r.joined.contains(&i) {
        // Its part one went with its continuation already.
        return match view.state() {
            State::Open => Seen::Open,
            _ => Seen::Gone,
        };
    }
    match view.state() {
        State::Open => Seen::Open,
        State::Empty => Seen::Gone,
        State::PartOne => {
            if let Some(body) = view.bytes() {
                joins.part_one((r.c.serial(), i as u32), body);
            }
            Seen::Gone
        }
        State::Cont => {
            if let (Some(part), Some(body)) = (view.cont_key(), view.bytes()) {
                joins.cont(part, body.get(CONT_KEY..).unwrap_or(&[]), view.scope());
            }
            mark.spans += 1;
            Seen::Gone
        }
        State::Done => {
            let Some(framed) = view.bytes() else {
                return Seen::Gone;
            };
            let mut record = RecordRef {
                chunk: ci,
                slot: i,
                len: framed.len(),
                scope: view.scope(),
                member: 0,
            };
            match admit(&mut record, &framed[..framed.len().min(peek)]) {
                Admit::Take => {
                    out.push(record);
                    mark.spans += 1;
                    Seen::Gone
                }
                Admit::Skip => {
                    mark.spans += 1;
                    Seen::Gone
                }
                Admit::Stop => Seen::Stop,
            }
        }
    }
}
