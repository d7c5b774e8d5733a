//! [`ChunkConsumer`]: the export worker's half of a chunk.

use super::storage::{frame_len, slice, Arc, Chunk, Ordering, State, LEN_MASK, PREFIX};
use super::writer::PartOne;

/// A slot as the consumer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotView {
    /// Its index.
    pub(crate) index: usize,
    pub(crate) state: State,
    /// Body length.
    pub(crate) len: usize,
    pub(crate) scope: u16,
    /// Offset and reservation.
    at: usize,
    cap: usize,
}

/// The reading half of a chunk: sees slots once published and their bytes
/// once final.
pub(crate) struct ChunkConsumer {
    pub(super) chunk: Arc<Chunk>,
}

impl ChunkConsumer {
    pub(super) fn new(chunk: Arc<Chunk>) -> Self {
        ChunkConsumer { chunk }
    }

    /// Slots begun (published) so far. One load: a reader takes it once
    /// per look and views the slots below it ([`ChunkConsumer::view`]).
    #[inline]
    pub(crate) fn begun(&self) -> usize {
        self.chunk.begun.0.load(Ordering::Acquire) as usize
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

    /// Slot `i`, which must be below a count [`ChunkConsumer::begun`]
    /// returned: its word loaded with acquire, its head once.
    #[inline]
    pub(crate) fn view(&self, i: usize) -> Option<SlotView> {
        let w = self.chunk.slots.get(i)?.word.load(Ordering::Acquire);
        let (at, cap, scope) = self.chunk.head(i);
        Some(SlotView {
            index: i,
            state: State::of(w),
            len: (w & LEN_MASK) as usize,
            scope,
            at,
            cap,
        })
    }

    /// Slot `i`, when begun.
    #[inline]
    pub(crate) fn slot(&self, i: usize) -> Option<SlotView> {
        if i >= self.begun() {
            return None;
        }
        self.view(i)
    }

    /// The bytes of the slot `view` shows, when its state is final: a
    /// whole span framed (`Done`), or a part one's or continuation's body
    /// (a continuation's starts with its key). `None` otherwise (or when
    /// its header is not one this chunk could hold).
    #[inline]
    pub(crate) fn bytes_of(&self, view: &SlotView) -> Option<&[u8]> {
        let body = view.at + PREFIX;
        if body + view.len > (view.at + view.cap).min(self.chunk.capacity()) {
            return None;
        }
        let from = match view.state {
            State::Done => body - (frame_len(view.len) - view.len),
            State::PartOne | State::Cont => body,
            State::Open | State::Empty => return None,
        };
        // SAFETY: the slot's word, loaded with acquire when `view` was
        // taken, says its bytes are final.
        Some(unsafe { slice(&self.chunk, from, body + view.len - from) })
    }

    /// Slot `i`'s bytes, when begun and final (see
    /// [`ChunkConsumer::bytes_of`]).
    #[cfg(test)]
    pub(crate) fn bytes(&self, i: usize) -> Option<(State, &[u8])> {
        let view = self.slot(i)?;
        Some((view.state, self.bytes_of(&view)?))
    }

    /// The key of a continuation (its bytes' first [`CONT_KEY`]).
    pub(crate) fn cont_key(&self, view: &SlotView) -> Option<PartOne> {
        match view.state {
            State::Cont => PartOne::from_key(self.bytes_of(view)?),
            _ => None,
        }
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
        let (at, cap, _) = self.chunk.head(i);
        let body = at + PREFIX;
        let len = part.len as usize;
        if body + len > (at + cap).min(self.chunk.capacity()) {
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
