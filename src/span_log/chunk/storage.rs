//! The storage the three roles share: the bytes, the slot headers and
//! their states, the epochs, and the few helpers that touch the bytes
//! (the module doc of [`chunk`](super) says why they are safe).

use std::cell::{Cell, UnsafeCell};

#[cfg(loom)]
pub(super) use loom::{
    sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    sync::Arc,
};
#[cfg(not(loom))]
pub(super) use std::{
    sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    sync::Arc,
};

/// Bytes in front of a slot's body, where its writer frames the finished
/// span as a `ScopeSpans.spans` field (key `0x12` and a varint length of at
/// most three bytes, right-aligned against the body).
pub(crate) const PREFIX: usize = 4;
/// The largest chunk: slot offsets and reservations are 16-bit.
pub(crate) const MAX_CHUNK: usize = u16::MAX as usize;
/// The largest body a slot's prefix can frame (a three-byte varint).
pub(super) const MAX_BODY: usize = (1 << 21) - 1;
/// Bytes of a continuation record's key (chunk serial, slot index, part
/// one's length).
pub(crate) const CONT_KEY: usize = 16;

/// What a slot holds, from its word (state in the top three bits, the
/// body's length in bytes below).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Being written by its span (the length is 0: only the span knows
    /// how far it got).
    Open,
    /// A whole span, framed.
    Done,
    /// Part one of a span that goes on elsewhere: its slot's whole body
    /// reservation, of which the continuation says how much was written.
    PartOne,
    /// A continuation: a [`CONT_KEY`] naming part one, then the rest.
    Cont,
    /// Nothing to read (its span moved out).
    Empty,
}

pub(super) const SHIFT: u32 = 29;
pub(super) const LEN_MASK: u32 = (1 << SHIFT) - 1;

impl State {
    pub(super) const fn bits(self) -> u32 {
        (match self {
            State::Open => 0,
            State::Done => 1,
            State::PartOne => 2,
            State::Cont => 3,
            State::Empty => 4,
        }) << SHIFT
    }

    pub(super) fn of(word: u32) -> State {
        match word >> SHIFT {
            0 => State::Open,
            1 => State::Done,
            2 => State::PartOne,
            3 => State::Cont,
            _ => State::Empty,
        }
    }
}

#[inline(always)]
pub(super) const fn word(state: State, len: usize) -> u32 {
    state.bits() | (len as u32 & LEN_MASK)
}

/// A value on a cache line of its own: the count of slots begun (written
/// by the producer per span, read by the worker) must not share a line
/// with what either only reads, nor with the producer's own count of open
/// slots.
#[repr(align(64))]
pub(super) struct Line<T>(pub(super) T);

/// One slot's header.
pub(super) struct Slot {
    /// Offset (bits 0-15), reservation from the offset (16-31), scope
    /// (32-47). Written by the producer before it publishes the slot;
    /// the reservation grows when the span extends it.
    pub(super) head: AtomicU64,
    /// State and body length (see [`State`]).
    pub(super) word: AtomicU32,
}

/// The shared storage of one chunk.
pub(crate) struct Chunk {
    /// The bytes, each its own cell: slots are disjoint ranges of them.
    pub(super) cells: Box<[UnsafeCell<u8>]>,
    pub(super) slots: Box<[Slot]>,
    /// Slots begun and published (release by the producer).
    pub(super) begun: Line<AtomicU32>,
    /// The producer let the chunk go: no slot is open or begun any more.
    pub(super) sealed: AtomicBool,
    /// This use of the chunk, unique in the process (set when split).
    pub(super) serial: AtomicU64,
    /// Slots open at home (begun, not yet published, moved out or
    /// emptied): written only on the producer's thread (begin, and the
    /// writers at home), read there to cap how many spans are written in
    /// place at once. A writer that leaves home leaves its count in until
    /// the chunk is let go.
    pub(super) open: Line<AtomicU32>,
    /// Under loom only: one loom cell per byte, claimed by every access to
    /// the byte, so that loom checks the real accesses (see the module doc).
    #[cfg(loom)]
    pub(super) shadow: Box<[loom::cell::UnsafeCell<()>]>,
}

// SAFETY: the cells are written only through a `SlotWriter` (its own
// slot's range, on its home thread, while its epoch holds: see the module
// doc) or by `ChunkProducer::append` (a range no writer owns, before the
// release store that publishes it), and read only through a
// `ChunkConsumer` after an acquire load that saw them final. So no byte is
// ever written by one thread while another reads or writes it, and every
// read happens after the write it sees.
unsafe impl Sync for Chunk {}
// `Send` needs no impl: the cells, the slots and the atomics are `Send`,
// so `Chunk` is; checked at compile time.
const _: () = {
    const fn is_send<T: Send>() {}
    is_send::<Chunk>()
};

static NEXT_SERIAL: AtomicU64Static = AtomicU64Static::new(1);
static NEXT_EPOCH: AtomicU64Static = AtomicU64Static::new(1);

/// Process-wide counters stay std atomics under loom too (they only hand
/// out unique numbers; loom need not explore them).
type AtomicU64Static = std::sync::atomic::AtomicU64;

#[cfg(not(loom))]
thread_local! {
    /// This thread's epoch (0 until its first slot). No destructor, so it
    /// is readable at any time, even while the thread's other
    /// thread-locals are being torn down.
    static EPOCH: Cell<u64> = const { Cell::new(0) };
}
#[cfg(loom)]
loom::thread_local! {
    static EPOCH: Cell<u64> = Cell::new(0);
}

/// The calling thread's epoch (see the module doc).
///
/// Hot path (runs per write): a thread-local read.
#[inline(always)]
pub(super) fn current_epoch() -> u64 {
    EPOCH.with(Cell::get)
}

/// The calling thread's epoch, given one if it has none yet.
pub(super) fn epoch_for_writers() -> u64 {
    EPOCH.with(|e| {
        if e.get() == 0 {
            e.set(NEXT_EPOCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        }
        e.get()
    })
}

/// The calling thread takes a new epoch: every writer it made fails its
/// check from now on.
pub(super) fn renew_epoch() {
    EPOCH.with(|e| e.set(NEXT_EPOCH.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
}

/// The calling thread's identity while it lives (its epoch cell's address).
pub(super) fn thread_identity() -> usize {
    EPOCH.with(|e| e as *const Cell<u64> as usize)
}

impl Chunk {
    /// A chunk of `capacity` zeroed bytes (at most [`MAX_CHUNK`]) holding
    /// at most `slots` records.
    pub(crate) fn new(capacity: usize, slots: usize) -> Arc<Chunk> {
        Arc::new(Chunk::unshared(capacity, slots))
    }

    /// [`Chunk::new`], not yet shared.
    pub(super) fn unshared(capacity: usize, slots: usize) -> Chunk {
        let capacity = capacity.min(MAX_CHUNK);
        Chunk {
            cells: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
            slots: (0..slots.max(1))
                .map(|_| Slot {
                    head: AtomicU64::new(0),
                    word: AtomicU32::new(0),
                })
                .collect(),
            begun: Line(AtomicU32::new(0)),
            sealed: AtomicBool::new(false),
            serial: AtomicU64::new(0),
            open: Line(AtomicU32::new(0)),
            #[cfg(loom)]
            shadow: (0..capacity)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect(),
        }
    }

    /// The chunk's size in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.cells.len()
    }

    /// The most records the chunk holds.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// A slot's head: (offset, reservation, scope).
    #[inline]
    pub(super) fn head(&self, i: usize) -> (usize, usize, u16) {
        let h = self.slots[i].head.load(Ordering::Relaxed);
        (
            (h & 0xffff) as usize,
            ((h >> 16) & 0xffff) as usize,
            (h >> 32) as u16,
        )
    }

    pub(super) fn serial(&self) -> u64 {
        self.serial.load(Ordering::Relaxed)
    }

    /// One slot fewer open at home (only ever called there).
    #[inline(always)]
    pub(super) fn closed_one(&self) {
        let n = self.open.0.load(Ordering::Relaxed);
        self.open.0.store(n.saturating_sub(1), Ordering::Relaxed);
    }
}

#[cfg(not(loom))]
pub(super) fn reset(c: &mut Chunk) {
    *c.begun.0.get_mut() = 0;
    *c.sealed.get_mut() = false;
    *c.serial.get_mut() = NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    *c.open.0.get_mut() = 0;
}

#[cfg(loom)]
pub(super) fn reset(c: &mut Chunk) {
    // Exclusive (the caller holds the only reference): plain stores.
    c.begun.0.store(0, Ordering::Relaxed);
    c.sealed.store(false, Ordering::Relaxed);
    let serial = NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    c.serial.store(serial, Ordering::Relaxed);
    c.open.0.store(0, Ordering::Relaxed);
}

#[inline(always)]
pub(super) fn head_bits(at: usize, cap: usize, scope: u16) -> u64 {
    at as u64 | (cap as u64) << 16 | u64::from(scope) << 32
}

/// Bytes of a `ScopeSpans.spans` field framing a body of `len` bytes.
#[inline(always)]
pub(crate) fn frame_len(len: usize) -> usize {
    1 + crate_varint_len(len) + len
}

/// The varint length of a body length (at most three bytes: bodies are
/// under [`MAX_BODY`]). `codec::wire::varint_len`'s job, written again so
/// that this module compiles alone under `loom/`; `frames_match_protobuf`
/// holds the two (and the `0x12` key, `ScopeSpans.spans` length-delimited)
/// to prost's encoding.
#[inline(always)]
pub(super) fn crate_varint_len(len: usize) -> usize {
    match len {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        _ => 3,
    }
}

/// A slot's prefix for a body of `len` bytes: the `ScopeSpans.spans` key
/// and length right-aligned against the body (the bytes before the key are
/// outside the record: never read). Written in one four-byte store.
///
/// Hot path (runs per span end): arithmetic.
#[inline(always)]
pub(super) fn prefix(len: usize) -> [u8; PREFIX] {
    // Little-endian, byte 3 last: the varint's groups of 7 bits, the high
    // bit set on all but the last, after the key 0x12 (filler before it is
    // 0x12 too). `len <= MAX_BODY`, so three groups at most.
    let v = (len & MAX_BODY) as u32;
    let group = |i: u32| (v >> (7 * i)) & 0x7f;
    let word = match crate_varint_len(len) {
        1 => 0x0012_1212 | v << 24,
        2 => 0x0000_1212 | (group(0) | 0x80) << 16 | group(1) << 24,
        _ => 0x0000_0012 | (group(0) | 0x80) << 8 | (group(1) | 0x80) << 16 | group(2) << 24,
    };
    word.to_le_bytes()
}

/// The chunk's bytes `at..at + n`.
///
/// # Safety
///
/// The bytes are final (the caller loaded, with acquire, the word that
/// published them), or no writer touches them any more (their span gave
/// its slot up before the caller learnt of it): nothing writes them while
/// the slice lives.
#[inline(always)]
pub(super) unsafe fn slice(chunk: &Chunk, at: usize, n: usize) -> &[u8] {
    let cells = &chunk.cells[at..at + n];
    #[cfg(loom)]
    for c in &chunk.shadow[at..at + n] {
        c.with(|_| ());
    }
    // SAFETY: in bounds (indexed above); nothing writes the bytes while the
    // slice lives (the caller's contract). `UnsafeCell<u8>` has `u8`'s
    // layout.
    unsafe { std::slice::from_raw_parts(UnsafeCell::raw_get(cells.as_ptr()), n) }
}

/// Copies `src` into the chunk's bytes `at..at + src.len()`.
///
/// # Safety
///
/// The range is the caller's alone: a slot it just began for a record it
/// writes whole, not yet published (no writer owns it, the consumer does
/// not read it until the slot's word says it is final).
#[inline(always)]
pub(super) unsafe fn write(chunk: &Chunk, at: usize, src: &[u8]) {
    let cells = &chunk.cells[at..at + src.len()];
    #[cfg(loom)]
    for c in &chunk.shadow[at..at + src.len()] {
        c.with_mut(|_| ());
    }
    // SAFETY: in bounds (indexed above); the bytes are the caller's alone
    // (its contract). `UnsafeCell<u8>` has `u8`'s layout, and writing
    // through `UnsafeCell::raw_get` is allowed from a shared reference.
    unsafe {
        std::ptr::copy_nonoverlapping(src.as_ptr(), UnsafeCell::raw_get(cells.as_ptr()), src.len());
    }
}
