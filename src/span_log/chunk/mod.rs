//! A chunk: a fixed-size byte buffer cut into slots, one span record per
//! slot, written in place by the spans themselves and read, at the same
//! time, by the export worker. This is the seam between a recording thread
//! and the worker: no lock and no read-modify-write atomic per span.
//!
//! Three roles, each a type, none `Clone`:
//! - [`ChunkProducer`], the recording thread's: it begins slots (their
//!   place, reservation and scope, published with one release store of the
//!   count of slots begun), appends whole records, and lets the chunk go
//!   (seals it) when it moves on;
//! - [`SlotWriter`], a span's: it writes its own slot's bytes in place, then
//!   publishes the record with one release store of the slot's word (or
//!   moves the bytes out, or abandons the slot when it can no longer touch
//!   it);
//! - [`ChunkConsumer`], the worker's: it reads a slot's bytes only once its
//!   word says they are final.
//!
//! # Why a writer never touches bytes it does not own
//!
//! A slot is reserved for its span when it begins: the producer places the
//! next slot after the whole reservation while the span is open (after the
//! bytes it wrote once it is done), so no two writers ever share a byte,
//! and the producer itself writes no slot bytes, only slot headers.
//!
//! A [`SlotWriter`] holds raw pointers into its chunk, and may be moved to
//! another thread with its span. It dereferences them only on its home
//! thread and only while the chunk is still that thread's producer's: it
//! compares its *epoch* with the thread's. Epochs are process-wide unique
//! numbers; a thread takes a new one whenever one of its producers lets a
//! chunk go ([`ChunkProducer`]'s drop, which first marks every slot still
//! open as part one of a split span, see below). So on any other thread,
//! and on the home thread once the chunk is gone, the check fails and the
//! writer touches nothing; on the home thread it cannot run at the same
//! time as the producer. The check is a read of a thread-local and a
//! compare, no atomic.
//!
//! # Spans that outlive their chunk, or leave their thread
//!
//! When the producer lets a chunk go, every slot still open becomes *part
//! one* (its bytes so far, final), and the chunk can be read and reused.
//! Its span, whose writer now fails the check, goes on in memory of its
//! own and publishes the rest, later, as a *continuation* record naming
//! the slot (by the chunk's serial number and the slot's index); the
//! worker joins the two (protobuf fields concatenate, and for a field
//! written twice the last one counts). A span that moves to another thread
//! before it ends does the same: it abandons its slot without touching it
//! ([`SlotWriter::abandon`], the only proof [`ChunkProducer::append_cont`]
//! takes), and the worker reads part one from the slot, still open, once it
//! has read the continuation: the span wrote nothing there since.
//!
//! # Memory
//!
//! A chunk is reused (the pool holds the memory) only once the producer has
//! let it go and the consumer has read every slot; its serial number
//! changes with each use. A producer dropped off its home thread (never
//! done by tracewire) keeps its chunk for good rather than free memory a
//! writer might still use.
//!
//! This is the one module of the span logs with `unsafe` code: the copy of
//! an appended record, a writer's slices of its slot, and the consumer's
//! slices of final slots. It is written so that `loom` can model it (the
//! `loom/` crate, built with `--cfg loom`): there every byte has a loom
//! cell beside it, claimed by each real access, so loom's race detector
//! sees the accesses the unsafe blocks make in every interleaving.
//! (Miri would check them too, but needs a nightly toolchain.)
//!
//! The producer's and the writer's sides run per span: they must never
//! allocate, lock, or make a syscall.

mod consumer;
mod producer;
mod storage;
#[cfg(all(test, not(loom)))]
mod tests;
mod writer;

use storage::Arc;

pub(crate) use consumer::ChunkConsumer;
pub(crate) use producer::{Began, ChunkProducer};
pub(crate) use storage::{Chunk, State, CONT_KEY, PREFIX};
pub(crate) use writer::{PartOne, SlotWriter};

impl Chunk {
    /// Makes the producer and the consumer of a chunk that nobody else
    /// holds (new, or reclaimed), starting empty with a new serial number.
    /// `None` when it is shared.
    pub(crate) fn split(mut chunk: Arc<Chunk>) -> Option<(ChunkProducer, ChunkConsumer)> {
        let exclusive = Arc::get_mut(&mut chunk)?;
        storage::reset(exclusive);
        Some(Chunk::halves(chunk))
    }

    /// Makes the producer and the consumer of a new chunk of `capacity`
    /// bytes and `slots` slots (see [`Chunk::new`]): a chunk nobody else can
    /// hold yet, so this cannot fail.
    pub(crate) fn split_new(capacity: usize, slots: usize) -> (ChunkProducer, ChunkConsumer) {
        let mut chunk = Chunk::unshared(capacity, slots);
        storage::reset(&mut chunk);
        Chunk::halves(Arc::new(chunk))
    }

    /// The producer and the consumer of a chunk just reset, held by
    /// nobody else.
    fn halves(chunk: Arc<Chunk>) -> (ChunkProducer, ChunkConsumer) {
        let consumer = ChunkConsumer::new(chunk.clone());
        (ChunkProducer::new(chunk), consumer)
    }
}
