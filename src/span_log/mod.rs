//! Span logs: each recording thread appends its ended spans to its own log
//! (one per pipeline), a chain of [`chunk`]s; the export
//! worker reads every log on its schedule. One writer and one reader per
//! log, no lock and no read-modify-write atomic per span.
//!
//! A record is a 6-byte header (`u32` little-endian length, `u16` scope
//! index) followed by the span already framed as a `ScopeSpans.spans`
//! field (`0x12`, varint length, `Span` body), so the worker copies it into
//! the request as it is. When a chunk is full (in bytes, or
//! [`ChunkPool::spans_per_chunk`] spans) the producer takes a new chunk
//! from the pipeline's [`ChunkPool`], hands its reading half to the log's
//! queue, and writes a jump record (length `u32::MAX`) where the next
//! record would have gone: the reader, reaching the jump, continues in the
//! next chunk. When no chunk is free, spans are dropped and counted.
//!
//! Memory is bounded by the pool: `budget` chunks shared by every log, plus
//! one chunk per recording thread beyond the first (every thread can always
//! record into a chunk of its own, and the budget stays for the chunks they
//! move on to).
//!
//! The producer side runs per span: it must never block, lock, allocate
//! (but for a chunk, once per chunk, within the budget) or make a syscall
//! (but the worker's wake-up, about once per batch).

//!
//! The module is cut by role: [`record`] is the record format, [`state`]
//! what both ends of a log share (its chunk queue and counters);
//! [`producer`] is the recording thread's end, [`reader`] the worker's;
//! [`chunk`] is the one-writer one-reader buffer they are built on,
//! [`chunks`] the bounded pool of them, and [`lane`] the way for spans too
//! large for a chunk.

#[allow(unsafe_code)]
pub(crate) mod chunk;
pub(crate) mod chunks;
pub(crate) mod lane;
mod producer;
mod reader;
mod record;
mod state;

pub(crate) use chunks::ChunkPool;
pub(crate) use producer::{LogProducer, Refused};
pub(crate) use reader::{Admit, LogReader, Mark, RecordRef};
pub(crate) use record::{frame_in_place, HEADROOM};
pub(crate) use state::{Counts, LogShared};

#[cfg(test)]
mod tests {
    use super::record::frame;
    use super::*;

    fn drain(r: &mut LogReader, pool: &ChunkPool) -> Vec<(u16, Vec<u8>)> {
        let mut refs = Vec::new();
        let mark = r.gather(&mut refs, 0, |_, _| Admit::Take);
        let out = refs
            .iter()
            .map(|x| (x.scope, r.with_record(x, |b| b.to_vec())))
            .collect();
        r.consume(mark, pool);
        out
    }

    /// A record for `body` in scope `scope`, as the recording path makes it.
    fn record(scope: u16, body: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; HEADROOM];
        buf.extend_from_slice(body);
        let start = frame_in_place(&mut buf, scope).unwrap();
        buf.split_off(start)
    }

    #[test]
    fn frames_match_protobuf() {
        for len in [0u32, 1, 127, 128, 300, 16_383, 16_384, 1 << 21, u32::MAX] {
            let (p, n) = frame(len);
            let mut want = vec![0x12];
            prost::encoding::encode_varint(u64::from(len), &mut want);
            assert_eq!(&p[..n], &want[..], "{len}");
        }
    }

    #[test]
    fn records_cross_chunks_in_order_and_chunks_are_reused() {
        let pool = ChunkPool::for_queue(64, 512); // 8 spans per chunk, 4 KiB chunks
        assert_eq!(pool.spans_per_chunk(), 8);
        let (mut p, mut r) = LogProducer::new(&pool);
        let mut sealed = 0;
        for i in 0..30u16 {
            sealed += p.append(&record(i % 3, &i.to_le_bytes()), &pool).unwrap();
        }
        assert_eq!(sealed, 24, "three chunks of eight sealed");
        let got = drain(&mut r, &pool);
        assert_eq!(got.len(), 30);
        for (i, (scope, framed)) in got.iter().enumerate() {
            assert_eq!(*scope, i as u16 % 3);
            assert_eq!(
                framed,
                &[&[0x12, 2][..], &(i as u16).to_le_bytes()].concat()
            );
        }
        assert!(drain(&mut r, &pool).is_empty(), "consumed once");
        assert!(
            pool.allocated() <= 4,
            "chunks were reused: {}",
            pool.allocated()
        );
        assert_eq!(r.waiting(), 0);
    }

    #[test]
    fn a_full_pool_drops_and_counts() {
        let pool = ChunkPool::for_queue(32, 512); // 4 spans per chunk, 8 chunks
        let (mut p, r) = LogProducer::new(&pool);
        let mut dropped = 0;
        for _ in 0..100 {
            if p.append(&record(0, b"x"), &pool) == Err(Refused::Full) {
                dropped += 1;
            }
        }
        // The budget: 8 chunks of 4 spans (a second producer would add one).
        assert_eq!(dropped, 100 - 8 * 4);
        let c = r.shared().counts();
        assert_eq!((c.recorded, c.dropped), (100, dropped));
        assert_eq!(r.waiting(), 32);
    }

    #[test]
    fn oversized_spans_are_refused_without_counting_a_drop() {
        let pool = ChunkPool::for_queue(64, 512);
        let (mut p, r) = LogProducer::new(&pool);
        let big = vec![7u8; pool.chunk_bytes()];
        assert_eq!(p.append(&record(0, &big), &pool), Err(Refused::TooLarge));
        let c = r.shared().counts();
        assert_eq!((c.recorded, c.dropped, c.sampled_out), (1, 0, 0));
    }

    #[test]
    fn a_finished_log_is_drained_then_retired() {
        let pool = ChunkPool::for_queue(64, 512);
        let (mut p, mut r) = LogProducer::new(&pool);
        for _ in 0..20 {
            p.append(&record(0, b"span"), &pool).unwrap();
        }
        p.finish(&pool);
        assert!(!r.is_finished(), "published spans remain");
        assert_eq!(drain(&mut r, &pool).len(), 20);
        assert!(r.is_finished());
        assert_eq!(r.retire(&pool).recorded, 20);
    }
}
