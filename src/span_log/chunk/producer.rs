//! [`ChunkProducer`]: the recording thread's half of a chunk.

use std::ptr::NonNull;

use super::storage::{
    epoch_for_writers, head_bits, prefix, renew_epoch, thread_identity, word, write, Arc, Chunk,
    Ordering, State, LEN_MASK, MAX_BODY, PREFIX,
};
use super::writer::{PartOne, SlotWriter};

/// Slots begin on cache lines of their own.
const LINE: usize = 64;

/// What [`ChunkProducer::begin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Began {
    /// A slot began: its writer is in place.
    Slot,
    /// No room (or no slot) left: the chunk is full.
    Full,
    /// The producer is not on its home thread (never done by tracewire).
    Refused,
}

/// Where the previous slot's place is (for placing the next).
#[derive(Clone, Copy, Debug)]
struct Last {
    index: u32,
    at: u32,
    cap: u32,
}

/// The recording thread's half of a chunk: begins slots, appends whole
/// records, and seals the chunk when dropped.
pub(crate) struct ChunkProducer {
    chunk: Arc<Chunk>,
    /// Slots begun (this producer is the only writer of `Chunk::begun`).
    begun: u32,
    last: Option<Last>,
    /// The thread whose writers may use this chunk (0: none was made).
    home: usize,
    /// The chunk's bytes up to here were asked for ahead of the writes.
    prefetched: usize,
}

impl ChunkProducer {
    pub(super) fn new(chunk: Arc<Chunk>) -> Self {
        ChunkProducer {
            chunk,
            begun: 0,
            last: None,
            home: 0,
            prefetched: 0,
        }
    }

    /// Where the next slot goes: after the last slot's reservation while it
    /// is open, after its bytes once final, in its place once empty.
    ///
    /// Hot path (runs per span start): one load.
    #[inline]
    fn next_at(&self) -> usize {
        let Some(last) = self.last else { return 0 };
        let w = self.chunk.slots[last.index as usize]
            .word
            .load(Ordering::Relaxed);
        let at = last.at as usize;
        let end = match State::of(w) {
            State::Open => at + last.cap as usize,
            State::Empty => return at,
            _ => at + PREFIX + (w & LEN_MASK) as usize,
        };
        // On a cache line of its own: the worker reading the slots before
        // it never takes a line this span is being written into.
        end.next_multiple_of(LINE)
    }

    /// Bytes free for the next slot (0 when no slot is left).
    #[inline]
    pub(crate) fn room(&self) -> usize {
        if self.begun as usize >= self.chunk.slots() {
            return 0;
        }
        self.chunk.capacity().saturating_sub(self.next_at())
    }

    /// Slots begun in this chunk so far.
    pub(crate) fn begun(&self) -> u32 {
        self.begun
    }

    /// Begins a slot of `reserve` bytes (prefix included) at the end and
    /// publishes it; `None` when the chunk has no room (or no slot) left.
    #[inline(always)]
    fn begin_slot(&mut self, reserve: usize, scope: u16) -> Option<(usize, usize)> {
        let index = self.begun as usize;
        if index >= self.chunk.slots() {
            return None;
        }
        let at = self.next_at();
        let reserve = reserve.max(PREFIX);
        if at + reserve > self.chunk.capacity() {
            return None;
        }
        let slot = &self.chunk.slots[index];
        slot.head
            .store(head_bits(at, reserve, scope), Ordering::Relaxed);
        slot.word.store(word(State::Open, 0), Ordering::Relaxed);
        self.begun += 1;
        // Publishes the slot's head (and, for `append`, its bytes' place).
        self.chunk.begun.0.store(self.begun, Ordering::Release);
        self.last = Some(Last {
            index: index as u32,
            at: at as u32,
            cap: reserve as u32,
        });
        Some((index, at))
    }

    /// Slots open at home in this chunk now (see [`ChunkProducer::begin`]).
    #[inline]
    pub(crate) fn open(&self) -> u32 {
        self.chunk.open.0.load(Ordering::Relaxed)
    }

    /// Begins a slot of `reserve` bytes (its [`PREFIX`] included) for a
    /// span to write in place; `None` when the chunk has no room left.
    ///
    /// The writer may be used only on this thread (see the module doc); a
    /// producer that made writers must be dropped on this thread too.
    ///
    /// Hot path (runs per span start): a few stores and one release store.
    #[inline]
    pub(crate) fn begin(
        &mut self,
        reserve: usize,
        scope: u16,
        into: &mut Option<SlotWriter>,
    ) -> Began {
        let me = thread_identity();
        if self.home != me {
            if self.home != 0 {
                // A producer moved between threads (never done by
                // tracewire): its writers would be unsafe to check; let the
                // span take its own memory instead.
                return Began::Refused;
            }
            self.home = me;
        }
        let epoch = epoch_for_writers();
        let Some((index, at)) = self.begin_slot(reserve, scope) else {
            return Began::Full;
        };
        let chunk = &*self.chunk;
        // The lines of this slot and the next, those not asked for yet.
        let ahead = (at + 2 * reserve).min(chunk.capacity());
        prefetch(chunk, self.prefetched.max(at), ahead);
        self.prefetched = ahead;
        let open = chunk.open.0.load(Ordering::Relaxed);
        chunk.open.0.store(open + 1, Ordering::Relaxed);
        let reserve = reserve.max(PREFIX);
        // Written where the span keeps it: not moved again. The pointers
        // are derived here, checked in bounds (`begin_slot`), so that a
        // write in place checks only its home and its room.
        *into = Some(SlotWriter {
            slot: NonNull::from(&chunk.cells[at..]).cast(),
            word: NonNull::from(&chunk.slots[index].word),
            chunk: NonNull::from(chunk),
            len: 0,
            cap: (reserve - PREFIX) as u32,
            index: index as u32,
            epoch,
            serial: chunk.serial(),
        });
        Began::Slot
    }

    /// Appends a whole record: the concatenation of `parts`, as `state`
    /// (`Done`: a span body, framed here; `Cont`: a continuation, whose
    /// key `parts` must start with). `false` (nothing written) when it does
    /// not fit.
    ///
    /// Runs per span that was not written in place: one copy and a few
    /// stores; any thread may call it.
    fn append(&mut self, parts: &[&[u8]], scope: u16, state: State) -> bool {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > MAX_BODY {
            return false;
        }
        let Some((index, at)) = self.begin_slot(PREFIX + len, scope) else {
            return false;
        };
        let mut to = at + PREFIX;
        for p in parts {
            // SAFETY: the slot was begun just now for this record, with
            // room for all of it; no writer owns it and the consumer reads
            // it only once the store below publishes it.
            unsafe { write(&self.chunk, to, p) };
            to += p.len();
        }
        if state == State::Done {
            // SAFETY: the slot's prefix, as above.
            unsafe { write(&self.chunk, at, &prefix(len)) };
        }
        self.chunk.slots[index]
            .word
            .store(word(state, len), Ordering::Release);
        true
    }

    /// Appends a whole span body (framed here). `false` when it does not
    /// fit.
    #[inline]
    pub(crate) fn append_span(&mut self, body: &[u8], scope: u16) -> bool {
        self.append(&[body], scope, State::Done)
    }

    /// Appends the rest of a split span (`body`: its fields after part
    /// one), naming part one by `part`. `Err(part)` when it does not fit.
    pub(crate) fn append_cont(
        &mut self,
        part: PartOne,
        body: &[u8],
        scope: u16,
    ) -> Result<(), PartOne> {
        let key = part.key();
        if self.append(&[&key, body], scope, State::Cont) {
            Ok(())
        } else {
            Err(part)
        }
    }

    /// Grows `w`'s reservation so that `need` more body bytes fit, when
    /// `w` is this chunk's last slot and the chunk has the room. Runs on
    /// the home thread, when a span outgrows its slot (rare).
    pub(crate) fn extend(&mut self, w: &mut SlotWriter, need: usize) -> bool {
        let Some(last) = self.last.as_mut() else {
            return false;
        };
        if !w.is_home()
            || w.chunk != NonNull::from(&*self.chunk)
            || w.index != last.index
            || w.serial != self.chunk.serial()
        {
            return false;
        }
        let at = last.at as usize;
        let wanted = PREFIX + w.len as usize + need;
        let room = self.chunk.capacity() - at;
        if wanted > room {
            return false;
        }
        // Doubles, within the chunk (fewer extensions for a growing span).
        let reserve = wanted
            .max(2 * last.cap as usize)
            .min(room)
            .min(PREFIX + MAX_BODY);
        last.cap = reserve as u32;
        let (_, _, scope) = self.chunk.head(at_index(last.index));
        self.chunk.slots[at_index(last.index)]
            .head
            .store(head_bits(at, reserve, scope), Ordering::Relaxed);
        w.cap = (reserve - PREFIX) as u32;
        true
    }
}

#[inline(always)]
fn at_index(i: u32) -> usize {
    i as usize
}

impl Drop for ChunkProducer {
    /// Lets the chunk go: every slot still open becomes part one, the
    /// chunk is sealed, and this thread takes a new epoch (its writers of
    /// the chunk fail their check from now on).
    fn drop(&mut self) {
        if self.home != 0 && self.home != thread_identity() {
            // Off the home thread a writer may still be writing: keep every
            // slot as it is, and the memory for good.
            debug_assert!(false, "a chunk producer dropped off its home thread");
            std::mem::forget(self.chunk.clone());
            return;
        }
        for (i, slot) in self.chunk.slots[..self.begun as usize].iter().enumerate() {
            let w = slot.word.load(Ordering::Relaxed);
            if State::of(w) == State::Open {
                // Its span's bytes are somewhere in its reservation: all of
                // it is part one (the continuation says how much counts).
                let (_, cap, _) = self.chunk.head(i);
                slot.word
                    .store(word(State::PartOne, cap - PREFIX), Ordering::Release);
            }
        }
        self.chunk.sealed.store(true, Ordering::Release);
        if self.home != 0 {
            renew_epoch();
        }
    }
}

/// Asks for the cache lines of the chunk's bytes `from..to` ahead of the
/// writes: the span's stores then find their lines theirs, rather than
/// each waiting in turn for one to come (a store to a line not in the
/// cache holds up every store after it).
#[inline(always)]
fn prefetch(chunk: &Chunk, from: usize, to: usize) {
    #[cfg(all(target_arch = "x86_64", not(loom)))]
    {
        let cells = chunk.cells.as_ptr().cast::<u8>();
        let mut line = from & !63;
        while line < to {
            // SAFETY: PREFETCHW reads nothing, writes nothing and never
            // faults, whatever the address (this one is in the chunk); it
            // asks for the line for writing, so the stores find it theirs,
            // and is a no-op on x86-64 processors without it.
            unsafe {
                std::arch::asm!(
                    "prefetchw [{0}]",
                    in(reg) cells.wrapping_add(line),
                    options(nostack, preserves_flags, readonly)
                );
            }
            line += 64;
        }
    }
    #[cfg(not(all(target_arch = "x86_64", not(loom))))]
    let _ = (chunk, from, to);
}
