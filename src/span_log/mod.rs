//! Span logs: each recording thread's spans go to its own log (one per
//! pipeline), a chain of [`chunk`]s; the export worker reads every log on
//! its schedule. One writer and one reader per log, no lock and no
//! read-modify-write atomic per span.
//!
//! A span is written in place: when it starts, its thread's log begins a
//! *slot* for it at the end of the current chunk (a share of the chunk,
//! [`ChunkPool::slot_bytes`], reserved while it is open), and the span's
//! fields are encoded straight into it as they are set; when it ends, its
//! closing fields, the `ScopeSpans.spans` framing in front, and one release
//! store publish it. No scratch buffer, no copy. The worker copies each
//! finished record into its request as it is, passing over slots still
//! being written and coming back to them. A span that is the last in its
//! chunk grows past its slot; one that is not moves to memory of its own
//! and is appended (copied) when it ends, as is a span started when no
//! chunk was free.
//!
//! When a chunk is full (in bytes, or [`ChunkPool::spans_per_chunk`]
//! slots) the producer takes a new one from the pipeline's [`ChunkPool`],
//! hands its reading half to the log's queue, and lets the old one go. A
//! span still open in it is split (see [`chunk`]): what it wrote there is
//! part one, the rest is appended when it ends, and the worker's [`Joins`]
//! put the two together. So a long-lived span never holds a chunk. A span
//! that moves to another thread splits the same way. When no chunk is
//! free, spans are dropped and counted.
//!
//! Memory is bounded by the pool: `budget` chunks shared by every log, plus
//! one chunk per recording thread beyond the first (every thread can always
//! record into a chunk of its own, and the budget stays for the chunks they
//! move on to); and on the worker, the part ones waiting for the rest of
//! their span, within a byte budget of their own.
//!
//! The producer side runs per span: it must never block, lock, allocate
//! (but for a chunk, once per chunk, within the budget) or make a syscall
//! (but the worker's wake-up, about once per batch).
//!
//! The module is cut by role: [`chunk`] is the slotted buffer a thread
//! and the worker share (and the slot format), [`state`] what both ends of
//! a log share (its chunk queue and counters); [`producer`] is the
//! recording thread's end, [`reader`] the worker's, [`join`] the worker's
//! table of split spans; [`chunks`] is the bounded pool of chunks, and
//! [`lane`] the way for spans too large for a chunk.

#[allow(unsafe_code)]
pub(crate) mod chunk;
pub(crate) mod chunks;
pub(crate) mod join;
pub(crate) mod lane;
mod producer;
mod reader;
mod state;

pub(crate) use chunk::{PartOne, SlotWriter};
pub(crate) use chunks::ChunkPool;
pub(crate) use join::Joins;
pub(crate) use producer::{LogProducer, Refused};
pub(crate) use reader::{Admit, LogReader, Mark, RecordRef};
pub(crate) use state::{Counts, LogShared};

#[cfg(test)]
mod tests;
