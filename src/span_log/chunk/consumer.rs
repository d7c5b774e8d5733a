//! [`ChunkConsumer`]: the export worker's half of a chunk.

use std::cell::Cell;

use super::storage::{frame_len, slice, Arc, Chunk, Ordering, State, LEN_MASK, PREFIX};
use super::writer::PartOne;

/// A slot as the consumer sees it: its word loaded once (with acquire) and
/// its head, borrowed from the consumer that made it, the only way to its
/// bytes ([`SlotView::bytes`]). Made only by [`ChunkConsumer::view`], for a
/// slot below a count [`ChunkConsumer::begun`] returned, so what it says
/// is this use's and published.
#[derive(Clone, Copy)]
pub(crate) struct SlotView<'a> {
    c: &'a ChunkConsumer,
    pub(super) state: State,
    /// Body length.
    pub(super) len: usize,
    pub(super) scope: u16,
    /// Offset and reservation.
    at: usize,
    cap: usize,
}

impl std::fmt::Debug for SlotView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotView")
            .field("state", &self.state)
            .field("len", &self.len)
            .field("scope", &self.scope)
            .finish()
    }
}

impl<'a> SlotView<'a> {
    /// The slot's state when the view was taken.
    #[inline]
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// The index of the scope the slot's span belongs to.
    #[inline]
    pub(crate) fn scope(&self) -> u16 {
        self.scope
    }

    /// The slot's bytes, when its state is final: a whole span framed
    /// (`Done`), or a part one's or continuation's body (a continuation's
    /// starts with its key). `None` otherwise (or when its header is not
    /// one this chunk could hold).
    #[inline]
    pub(crate) fn bytes(&self) -> Option<&'a [u8]> {
        let chunk = &self.c.chunk;
        let body = self.at + PREFIX;
        if body + self.len > (self.at + self.cap).min(chunk.capacity()) {
            return None;
        }
        let from = match self.state {
            State::Done => body - (frame_len(self.len) - self.len),
            State::PartOne | State::Cont => body,
            State::Open | State::Empty => return None,
        };
        // SAFETY: this view was made by `view` on the consumer it borrows
        // (its fields are private to this module, so unchanged since), for
        // a slot below a `begun` count of this use of the chunk: its word,
        // loaded then with acquire, is this use's, and a final state
        // (`Done`, `PartOne`, `Cont`) means the writer wrote these bytes
        // before its release store and writes them no more; nothing else
        // writes a slot's bytes until the chunk is reclaimed, which takes
        // the consumer by value (so no view outlives it). The range was
        // checked inside the slot's reservation and the chunk above.
        Some(unsafe { slice(chunk, from, body + self.len - from) })
    }

    /// The key of a continuation (its bytes' first `CONT_KEY`).
    pub(crate) fn cont_key(&self) -> Option<PartOne> {
        match self.state {
            State::Cont => PartOne::from_key(self.bytes()?),
            _ => None,
        }
    }
}

/// The reading half of a chunk: sees slots once published and their bytes
/// once final.
pub(crate) struct ChunkConsumer {
    pub(super) chunk: Arc<Chunk>,
    /// The largest count [`ChunkConsumer::begun`] returned: the slots
    /// below it are this use's (a reused chunk's slot table still holds
    /// the words of the last).
    seen: Cell<usize>,
}

impl ChunkConsumer {
    pub(super) fn new(chunk: Arc<Chunk>) -> Self {
        ChunkConsumer {
            chunk,
            seen: Cell::new(0),
        }
    }

    /// Slots begun (published) so far. One load: a reader takes it once
    /// per look and views the slots below it ([`ChunkConsumer::view`]).
    #[inline]
    pub(crate) fn begun(&self) -> usize {
        let begun = self.chunk.begun.0.load(Ordering::Acquire) as usize;
        self.seen.set(begun);
        begun
    }

    /// Whether the producer let the chunk go (then `begun` is final and no
    /// slot is open).
    #[inline]
    pub(crate) fn is_sealed(&self) -> bool {
        self.chunk.sealed.load(Ordering::Acquire)
    }

    /// This use's serial number.
    pub(crate) fn serial(&self) -> u64 {
        self.chunk.serial()
    }

    /// Slot `i`, when below the last count [`ChunkConsumer::begun`]
    /// returned: its word loaded with acquire, its head once. `None` for a
    /// slot not known begun.
    #[inline]
    pub(crate) fn view(&self, i: usize) -> Option<SlotView<'_>> {
        if i >= self.seen.get() {
            return None;
        }
        let w = self.chunk.slots.get(i)?.word.load(Ordering::Acquire);
        let (at, cap, scope) = self.chunk.head(i);
        Some(SlotView {
            c: self,
            state: State::of(w),
            len: (w & LEN_MASK) as usize,
            scope,
            at,
            cap,
        })
    }

    /// Slot `i`, when begun (one load of the count, then [`ChunkConsumer::view`]).
    #[inline]
    pub(crate) fn slot(&self, i: usize) -> Option<SlotView<'_>> {
        self.begun();
        self.view(i)
    }

    /// Slot `i`'s bytes, when begun and final (see [`SlotView::bytes`]).
    #[cfg(test)]
    pub(crate) fn bytes(&self, i: usize) -> Option<(State, &[u8])> {
        let view = self.slot(i)?;
        Some((view.state, view.bytes()?))
    }

    /// Part one of the span `part` names, when it is in this chunk: final
    /// (`PartOne`), or still open (its span abandoned it, so wrote nothing
    /// there since `part` was made). `None` when it is not here.
    pub(crate) fn part_one(&self, part: &PartOne) -> Option<&[u8]> {
        if part.serial != self.chunk.serial() {
            return None;
        }
        let i = part.index as usize;
        let view = self.slot(i)?;
        if !matches!(view.state, State::Open | State::PartOne) {
            return None;
        }
        let body = view.at + PREFIX;
        let len = part.len as usize;
        if body + len > (view.at + view.cap).min(self.chunk.capacity()) {
            return None;
        }
        // SAFETY: final (`PartOne`, loaded with acquire), or still open but
        // given up by its span before `part` was made (the proof `part`
        // is): nothing writes these bytes any more.
        Some(unsafe { slice(&self.chunk, body, len) })
    }

    /// The chunk back, for reuse, once the producer has dropped its half;
    /// otherwise this half, unchanged.
    pub(crate) fn reclaim(self) -> Result<Arc<Chunk>, ChunkConsumer> {
        if Arc::strong_count(&self.chunk) == 1 {
            Ok(self.chunk)
        } else {
            Err(self)
        }
    }
}
