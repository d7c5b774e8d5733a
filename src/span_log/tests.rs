//! A log's two ends together: spans written in place and appended, chunks
//! crossed and reused, slots passed over and come back to, split spans
//! joined, drops counted.

use super::reader::Pieces;
use super::*;

/// Everything a gather takes from `r`: (scope, framed bytes), and the
/// joined spans the joins made (scope, body).
fn drain(r: &mut LogReader, joins: &mut Joins, pool: &ChunkPool) -> Vec<(u16, Vec<u8>)> {
    let mut refs = Vec::new();
    let mark = r.gather(&mut refs, 0, joins, |_, _| Admit::Take);
    let out = refs
        .iter()
        .map(|x| (x.scope, r.with_record(x, <[u8]>::to_vec)))
        .collect();
    r.consume(mark, pool);
    out
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = vec![0x12];
    prost::encoding::encode_varint(body.len() as u64, &mut v);
    v.extend_from_slice(body);
    v
}

/// A slot begun in `p`: its writer, and the spans of the chunk sealed.
fn begin(p: &mut LogProducer, scope: u16, pool: &ChunkPool) -> (Option<SlotWriter>, u32) {
    let mut w = None;
    let sealed = p.begin(scope, pool, &mut w);
    (w, sealed)
}

/// A span written in place: `body` in one claim, then published.
fn in_place(p: &mut LogProducer, pool: &ChunkPool, scope: u16, body: &[u8]) -> u32 {
    let (w, sealed) = begin(p, scope, pool);
    let mut w = w.expect("a chunk");
    w.claim(body.len()).expect("room").copy_from_slice(body);
    p.count_recorded();
    w.finish().expect("at home");
    sealed
}

#[test]
fn spans_cross_chunks_in_order_and_chunks_are_reused() {
    let pool = ChunkPool::for_queue(64, 512); // 8 spans per chunk, 4 KiB chunks
    assert_eq!(pool.spans_per_chunk(), 8);
    let (mut p, mut r) = LogProducer::new(&pool);
    let mut joins = Joins::new(1 << 20);
    let mut sealed = 0;
    for i in 0..30u16 {
        sealed += if i % 2 == 0 {
            in_place(&mut p, &pool, i % 3, &i.to_le_bytes())
        } else {
            p.append(&i.to_le_bytes(), i % 3, &pool).unwrap()
        };
    }
    assert_eq!(sealed, 24, "three chunks of eight sealed");
    let got = drain(&mut r, &mut joins, &pool);
    assert_eq!(got.len(), 30);
    for (i, (scope, bytes)) in got.iter().enumerate() {
        assert_eq!(*scope, i as u16 % 3);
        assert_eq!(bytes, &framed(&(i as u16).to_le_bytes()));
    }
    assert!(drain(&mut r, &mut joins, &pool).is_empty(), "consumed once");
    assert!(
        pool.allocated() <= 4,
        "chunks were reused: {}",
        pool.allocated()
    );
    assert_eq!(r.waiting(), 0);
}

#[test]
fn a_span_still_open_is_passed_over_and_taken_once_done() {
    let pool = ChunkPool::for_queue(64, 512);
    let (mut p, mut r) = LogProducer::new(&pool);
    let mut joins = Joins::new(1 << 20);
    let (server, _) = begin(&mut p, 1, &pool);
    let mut server = server.unwrap();
    server.claim(6).unwrap().copy_from_slice(b"server");
    in_place(&mut p, &pool, 2, b"client");
    let got = drain(&mut r, &mut joins, &pool);
    assert_eq!(got, vec![(2, framed(b"client"))], "the open span waits");
    server.claim(4).unwrap().copy_from_slice(b"+end");
    p.count_recorded();
    server.finish().unwrap();
    let got = drain(&mut r, &mut joins, &pool);
    assert_eq!(got, vec![(1, framed(b"server+end"))]);
    assert_eq!(r.waiting(), 0);
}

#[test]
fn a_span_open_when_its_chunk_is_let_go_is_joined_with_its_rest() {
    let pool = ChunkPool::for_queue(64, 512); // 8 slots per chunk
    let (mut p, mut r) = LogProducer::new(&pool);
    let mut joins = Joins::new(1 << 20);
    let (long, _) = begin(&mut p, 0, &pool);
    let mut long = long.unwrap();
    long.claim(5).unwrap().copy_from_slice(b"part1");
    for i in 0..10u8 {
        in_place(&mut p, &pool, 0, &[i]);
    }
    // The chunk was let go: the long span's writer may not touch it.
    assert!(!long.is_home());
    assert!(long.claim(1).is_none());
    let got = drain(&mut r, &mut joins, &pool);
    assert_eq!(got.len(), 10);
    assert_eq!(joins.parts_waiting(), 1, "part one waits for the rest");
    let part = long.abandon();
    p.append_cont(part, b"+rest", 0, &pool).unwrap();
    assert!(drain(&mut r, &mut joins, &pool).is_empty());
    assert_eq!(joins.pending(), 1);
    assert_eq!(joins.resolve(std::slice::from_mut(&mut r)), 0);
    let joined = joins.pop_ready().expect("joined");
    assert_eq!(joined.span(), b"part1+rest");
    assert_eq!(joins.parts_waiting(), 0);
}

#[test]
fn a_span_that_moved_away_is_joined_from_its_open_slot() {
    let pool = ChunkPool::for_queue(64, 512);
    let (mut p, mut r) = LogProducer::new(&pool);
    let mut joins = Joins::new(1 << 20);
    let (w, _) = begin(&mut p, 3, &pool);
    let mut w = w.unwrap();
    w.claim(4).unwrap().copy_from_slice(b"head");
    // The span ends on another thread: its writer may not touch the slot
    // there, so it gives it up, and the rest goes to that thread's log.
    let (mut other, mut other_r) = LogProducer::new(&pool);
    let part = std::thread::spawn(move || w.abandon()).join().unwrap();
    other.append_cont(part, b"tail", 3, &pool).unwrap();
    // The slot is still open in the first log.
    assert!(drain(&mut r, &mut joins, &pool).is_empty());
    assert!(drain(&mut other_r, &mut joins, &pool).is_empty());
    let mut readers = [r, other_r];
    assert_eq!(joins.resolve(&mut readers), 0);
    let joined = joins.pop_ready().expect("joined");
    assert_eq!((joined.scope, joined.span()), (3, &b"headtail"[..]));
    // The slot turns part one when its chunk goes: passed over, not joined
    // twice.
    drop(p);
    let [mut r, _] = readers;
    assert!(drain(&mut r, &mut joins, &pool).is_empty());
    assert_eq!(joins.parts_waiting(), 0);
}

#[test]
fn part_ones_wait_within_their_budget() {
    let mut joins = Joins::new(100);
    for i in 0..10u32 {
        joins.part_one((1, i), &[0u8; 30]);
    }
    assert_eq!(joins.parts_waiting(), 3, "the oldest are dropped");
}

#[test]
fn a_full_pool_drops_and_counts() {
    let pool = ChunkPool::for_queue(32, 512); // 4 spans per chunk, 8 chunks
    let (mut p, r) = LogProducer::new(&pool);
    let mut dropped = 0;
    for _ in 0..100 {
        if p.append(b"x", 0, &pool) == Err(Refused::Full) {
            dropped += 1;
        }
    }
    // The budget: 8 chunks of 4 spans (a second producer would add one).
    assert_eq!(dropped, 100 - 8 * 4);
    let c = r.shared().counts();
    assert_eq!((c.recorded, c.dropped), (100, dropped));
    assert_eq!(r.waiting(), 32);
    // In place too: no chunk, no writer.
    assert!(begin(&mut p, 0, &pool).0.is_none());
}

#[test]
fn oversized_spans_are_refused_without_counting_a_drop() {
    let pool = ChunkPool::for_queue(64, 512);
    let (mut p, r) = LogProducer::new(&pool);
    let big = vec![7u8; pool.chunk_bytes()];
    assert_eq!(p.append(&big, 0, &pool), Err(Refused::TooLarge));
    let c = r.shared().counts();
    assert_eq!((c.recorded, c.dropped, c.sampled_out), (1, 0, 0));
}

#[test]
fn a_finished_log_is_drained_then_retired() {
    let pool = ChunkPool::for_queue(64, 512);
    let (mut p, mut r) = LogProducer::new(&pool);
    let mut joins = Joins::new(1 << 20);
    for _ in 0..20 {
        in_place(&mut p, &pool, 0, b"span");
    }
    p.finish(&pool);
    assert!(!r.is_finished(), "published spans remain");
    assert_eq!(drain(&mut r, &mut joins, &pool).len(), 20);
    assert!(r.is_finished());
    assert_eq!(r.retire(&pool).recorded, 20);
}
