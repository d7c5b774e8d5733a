//! [`SlotWriter`]: a span's writer of its own slot, and [`PartOne`], the
//! proof that it gave the slot up.

use std::ptr::NonNull;

use super::storage::{
    current_epoch, prefix, word, AtomicU32, Chunk, Ordering, State, CONT_KEY, PREFIX,
};

/// A span's writer of its own slot. See the module doc for when it may
/// touch the chunk; every method checks.
pub(crate) struct SlotWriter {
    /// The slot's first byte, where its prefix is (derived from the
    /// chunk's cells from here to their end, so the slot may grow within
    /// them); the body follows the prefix.
    pub(super) slot: NonNull<u8>,
    /// The slot's word (its state and how far the span got).
    pub(super) word: NonNull<AtomicU32>,
    pub(super) chunk: NonNull<Chunk>,
    /// Body bytes written.
    pub(super) len: u32,
    /// Body bytes reserved.
    pub(super) cap: u32,
    pub(super) index: u32,
    pub(super) epoch: u64,
    pub(super) serial: u64,
}

// SAFETY: a writer dereferences its pointers only on its home thread while
// its epoch holds (checked by every method), when its chunk is alive and
// its slot its own; anywhere else it reads only its own fields.
unsafe impl Send for SlotWriter {}
// SAFETY: the safe methods that take `&self` (`is_home`, `len`, `fits`)
// read only the writer's own fields; every one that touches the chunk
// takes `&mut self` or `self` (the private `word(&self)` is an `unsafe fn`
// called only from those).
unsafe impl Sync for SlotWriter {}

impl std::fmt::Debug for SlotWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotWriter")
            .field("index", &self.index)
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

impl SlotWriter {
    /// Whether this writer may touch its slot now: on its home thread, the
    /// chunk still that thread's producer's.
    ///
    /// Hot path (runs per write): a thread-local read and a compare.
    #[inline(always)]
    pub(crate) fn is_home(&self) -> bool {
        current_epoch() == self.epoch
    }

    /// Body bytes written.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether [`SlotWriter::claim`] of `n` bytes would succeed: at home,
    /// with the room.
    #[inline(always)]
    pub(crate) fn fits(&self, n: usize) -> bool {
        self.len as usize + n <= self.cap as usize && self.is_home()
    }

    /// The slot's bytes `from..from + n` (its prefix, then its body),
    /// mutably.
    ///
    /// # Safety
    /// The writer is at home ([`SlotWriter::is_home`]) and `from + n` is
    /// within the reservation (`PREFIX + cap`).
    #[inline(always)]
    unsafe fn slot_mut(&mut self, from: usize, n: usize) -> &mut [u8] {
        // Under loom: claim the bytes for writing, as every access does.
        #[cfg(loom)]
        {
            // SAFETY: at home, as the caller checked: the chunk is alive.
            let chunk = unsafe { self.chunk.as_ref() };
            let at = self.slot.as_ptr() as usize - chunk.cells.as_ptr() as usize + from;
            for c in &chunk.shadow[at..at + n] {
                c.with_mut(|_| ());
            }
        }
        // SAFETY: at home (the caller checked) the chunk is alive and the
        // producer is not running; `slot` points into the chunk's cells
        // with the provenance of all of them from there on, and
        // `from + n <= PREFIX + cap` (the caller checked) keeps the range
        // inside this slot's reservation, which no other writer, the
        // producer or the consumer touches while the slot is open. The
        // cells are `UnsafeCell<u8>`s (`u8`'s layout), writable through a
        // shared reference.
        unsafe { std::slice::from_raw_parts_mut(self.slot.as_ptr().add(from), n) }
    }

    /// The body's bytes `from..from + n`.
    ///
    /// # Safety
    /// As [`SlotWriter::slot_mut`]: at home, and `from + n <= cap`.
    #[inline(always)]
    unsafe fn body_mut(&mut self, from: usize, n: usize) -> &mut [u8] {
        // SAFETY: the caller's promise, the prefix added on both sides.
        unsafe { self.slot_mut(PREFIX + from, n) }
    }

    /// The slot's word, to publish it or note how far the span got.
    ///
    /// # Safety
    /// The writer is at home ([`SlotWriter::is_home`]).
    #[inline(always)]
    unsafe fn word(&self) -> &AtomicU32 {
        // SAFETY: at home the chunk, and so its slot table, is alive.
        unsafe { self.word.as_ref() }
    }

    /// The next `n` body bytes, to be filled by the caller; `None` when
    /// away from home or out of room (the caller extends, moves out or
    /// splits).
    ///
    /// Hot path (runs per field): the home check, a compare, two stores.
    #[inline(always)]
    pub(crate) fn claim(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.len as usize;
        let end = start + n;
        if end > self.cap as usize || !self.is_home() {
            return None;
        }
        self.len = end as u32;
        // SAFETY: at home, and `start + n <= cap` (both checked above).
        Some(unsafe { self.body_mut(start, n) })
    }

    /// The body written so far (to patch a reserved field); `None` away
    /// from home.
    #[inline]
    pub(crate) fn written_mut(&mut self) -> Option<&mut [u8]> {
        if !self.is_home() {
            return None;
        }
        // SAFETY: at home (checked above); `len <= cap` always holds.
        Some(unsafe { self.body_mut(0, self.len as usize) })
    }

    /// Gives back the last `n` bytes claimed (the writer wrote fewer).
    #[inline]
    pub(crate) fn unclaim(&mut self, n: usize) {
        self.len = self.len.saturating_sub(n as u32);
    }

    /// Publishes the slot as a whole span (framed): one release store.
    /// `Err(self)` away from home.
    ///
    /// Hot path (runs per span end).
    #[inline]
    pub(crate) fn finish(mut self) -> Result<(), SlotWriter> {
        if !self.is_home() {
            return Err(self);
        }
        let len = self.len as usize;
        // SAFETY: at home (checked above); the prefix is in every
        // reservation.
        unsafe {
            self.slot_mut(0, PREFIX).copy_from_slice(&prefix(len));
            self.word().store(word(State::Done, len), Ordering::Release);
            self.chunk.as_ref().closed_one();
        }
        std::mem::forget(self);
        Ok(())
    }

    /// Copies the body into `out` and empties the slot (the span goes on in
    /// its own memory). `Err(self)` away from home.
    pub(crate) fn move_out(mut self, out: impl FnOnce(&[u8])) -> Result<(), SlotWriter> {
        if !self.is_home() {
            return Err(self);
        }
        // SAFETY: at home (checked above), `len <= cap`; `out` cannot
        // reach this writer.
        unsafe {
            out(self.body_mut(0, self.len as usize));
            self.word().store(word(State::Empty, 0), Ordering::Release);
            self.chunk.as_ref().closed_one();
        }
        std::mem::forget(self);
        Ok(())
    }

    /// Gives the slot up without touching it: what was written there is
    /// part one of the span, which goes on elsewhere. The returned token is
    /// what [`ChunkProducer::append_cont`] needs to publish the rest.
    pub(crate) fn abandon(self) -> PartOne {
        let part = PartOne {
            serial: self.serial,
            index: self.index,
            len: self.len,
        };
        std::mem::forget(self);
        part
    }
}

impl Drop for SlotWriter {
    /// A writer dropped unused (never done by tracewire): at home the slot
    /// is emptied; away, it stays as part one that nothing continues.
    fn drop(&mut self) {
        if self.is_home() {
            // SAFETY: at home (checked just now): the chunk is alive.
            unsafe {
                self.word().store(word(State::Empty, 0), Ordering::Release);
                self.chunk.as_ref().closed_one();
            }
        }
    }
}

/// Proof that a span abandoned its slot (so wrote nothing there since),
/// the slot's name (its chunk's serial and its index), and how much of it
/// is part one (the span's own count: its slot's word says only what was
/// reserved).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct PartOne {
    pub(super) serial: u64,
    pub(super) index: u32,
    pub(super) len: u32,
}

impl PartOne {
    pub(super) fn key(&self) -> [u8; CONT_KEY] {
        let mut k = [0u8; CONT_KEY];
        k[..8].copy_from_slice(&self.serial.to_le_bytes());
        k[8..12].copy_from_slice(&self.index.to_le_bytes());
        k[12..].copy_from_slice(&self.len.to_le_bytes());
        k
    }

    /// A number naming part one's slot, unique in the process (for the
    /// worker's table of parts).
    pub(crate) fn id(&self) -> (u64, u32) {
        (self.serial, self.index)
    }

    /// Part one's length: its first bytes of what its slot reserved.
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    /// The key back from a continuation's first [`CONT_KEY`] bytes: only
    /// the consumer reads those (a continuation is published only with the
    /// proof), so a key made here is proof too.
    pub(super) fn from_key(k: &[u8]) -> Option<PartOne> {
        let serial = u64::from_le_bytes(k.get(..8)?.try_into().ok()?);
        let index = u32::from_le_bytes(k.get(8..12)?.try_into().ok()?);
        let len = u32::from_le_bytes(k.get(12..CONT_KEY)?.try_into().ok()?);
        Some(PartOne { serial, index, len })
    }
}
