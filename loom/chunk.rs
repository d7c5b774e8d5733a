//! A loom model of `src/span_log/chunk/`: the slotted chunk a recording
//! thread and the export worker share, with the real `unsafe` code in it
//! (each byte has a loom cell beside it that every real access claims, see
//! the chunk module's doc), in every interleaving loom explores. It checks
//! that:
//!
//! - a span written in place and published is seen whole or not at all,
//!   never a byte its writer is still writing (loom's cells report a data
//!   race otherwise), and records appended beside it likewise;
//! - a chunk let go while a span is open in it hands the worker the span's
//!   bytes as part one, and the span's writer touches nothing after;
//! - a span that moves to another thread touches its slot there never, and
//!   the worker reads its part one safely once it has read the rest (the
//!   continuation, published on the other thread);
//! - a chunk is reused only when both halves are done.
//!
//! Weakening the release store that publishes a slot to `Relaxed`, or
//! letting a writer write on another thread, makes these tests fail.
//!
//! Run: `cd loom && cargo test --release` (the `.cargo/config.toml` here
//! builds with `--cfg loom`).

#![allow(dead_code)]

#[path = "../src/span_log/chunk/mod.rs"]
#[allow(unused_imports)]
mod chunk;

use chunk::{Began, Chunk, ChunkConsumer, ChunkProducer, SlotWriter, State, CONT_KEY};
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;

/// A slot of `reserve` bytes, its writer.
fn begin(p: &mut ChunkProducer, reserve: usize, scope: u16) -> SlotWriter {
    let mut w = None;
    assert_eq!(p.begin(reserve, scope, &mut w), Began::Slot);
    w.expect("a writer")
}

/// Slot `i`'s bytes if final.
fn read(c: &ChunkConsumer, i: usize) -> Option<(State, Vec<u8>)> {
    c.bytes(i).map(|(s, b)| (s, b.to_vec()))
}

#[test]
fn a_span_written_in_place_is_seen_whole_or_not_at_all() {
    loom::model(|| {
        let (mut p, c) = Chunk::split(Chunk::new(192, 4)).expect("a new chunk is exclusive");
        // The producer's thread: a span in place, then an appended record.
        let producer = thread::spawn(move || {
            let mut w = begin(&mut p, 16, 1);
            w.claim(2).unwrap().copy_from_slice(&[7, 7]);
            w.claim(1).unwrap().copy_from_slice(&[8]);
            w.finish().unwrap();
            assert!(p.append_span(&[9, 9], 2));
            // Let go on its own thread, as a producer that made writers
            // must be.
            drop(p);
        });
        // The worker, at the same time: whatever it sees is whole.
        for i in 0..2 {
            match read(&c, i) {
                None => {}
                Some((State::Done, b)) if i == 0 => assert_eq!(b, [0x12, 3, 7, 7, 8]),
                Some((State::Done, b)) => assert_eq!(b, [0x12, 2, 9, 9]),
                Some(other) => panic!("{other:?}"),
            }
        }
        producer.join().unwrap();
        assert!(c.is_sealed());
        assert_eq!(read(&c, 0).unwrap().1, [0x12, 3, 7, 7, 8]);
        assert_eq!(read(&c, 1).unwrap().1, [0x12, 2, 9, 9]);
    });
}

#[test]
fn a_chunk_let_go_hands_over_the_open_span_as_part_one() {
    loom::model(|| {
        let (mut p, c) = Chunk::split(Chunk::new(192, 4)).expect("a new chunk is exclusive");
        let producer = thread::spawn(move || {
            let mut w = begin(&mut p, 16, 0);
            w.claim(3).unwrap().copy_from_slice(&[1, 2, 3]);
            // The thread moves on to another chunk: this one is let go with
            // the span still open in it.
            drop(p);
            // The writer may not touch the slot any more, and does not.
            assert!(!w.is_home());
            assert!(w.claim(1).is_none());
            w.abandon()
        });
        // The worker reads the slot once final: the span's bytes in front of
        // the rest of the reservation, never a byte being written.
        if c.is_sealed() {
            let (state, b) = read(&c, 0).expect("final once sealed");
            assert_eq!((state, &b[..3]), (State::PartOne, &[1, 2, 3][..]));
        }
        let part = producer.join().unwrap();
        assert_eq!(c.part_one(&part).unwrap(), [1, 2, 3]);
    });
}

#[test]
fn a_span_that_moved_away_never_touches_its_slot_and_its_rest_names_it() {
    loom::model(|| {
        let (mut p, c) = Chunk::split(Chunk::new(192, 4)).expect("a new chunk is exclusive");
        let (mut other, other_c) = Chunk::split(Chunk::new(192, 4)).expect("exclusive");
        let mut w = begin(&mut p, 16, 0);
        w.claim(2).unwrap().copy_from_slice(&[4, 5]);
        let done = Arc::new(AtomicBool::new(false));
        let done2 = done.clone();
        // The span moves to another thread, which ends it there: its writer
        // fails its check, so the span gives the slot up and appends the
        // rest to that thread's chunk.
        let away = thread::spawn(move || {
            assert!(!w.is_home());
            assert!(w.claim(1).is_none());
            let part = w.abandon();
            other.append_cont(part, &[6], 0).unwrap();
            done2.store(true, Ordering::Release);
            other
        });
        // Meanwhile the home thread goes on writing its chunk.
        assert!(p.append_span(&[1], 0));
        // The worker reads the rest, then part one from the open slot.
        if done.load(Ordering::Acquire) {
            let view = other_c.slot(0).expect("published");
            let key = view.cont_key().expect("a continuation");
            assert_eq!(c.part_one(&key).unwrap(), [4, 5]);
            assert_eq!(&view.bytes().unwrap()[CONT_KEY..], [6]);
        }
        let other = away.join().unwrap();
        drop((p, other));
    });
}

#[test]
fn a_chunk_is_reclaimed_only_after_the_producer_lets_go() {
    loom::model(|| {
        let (mut p, c) = Chunk::split(Chunk::new(16, 2)).expect("a new chunk is exclusive");
        let producer = thread::spawn(move || {
            assert!(p.append_span(&[1, 2], 0));
            drop(p);
        });
        match c.reclaim() {
            // The producer was already done: the chunk is ours alone, and
            // can be split again (a new use, starting empty).
            Ok(chunk) => {
                producer.join().unwrap();
                let (p, c) = Chunk::split(chunk).expect("exclusive");
                assert_eq!(c.begun(), 0);
                assert!(c.view(0).is_none(), "the last use's slot is not seen");
                drop(p);
                assert!(c.reclaim().is_ok(), "the new use's producer let go");
            }
            // The producer still held it: once it lets go, the chunk is
            // reclaimed, with the span it wrote read first.
            Err(c) => {
                producer.join().unwrap();
                assert_eq!(c.begun(), 1);
                assert_eq!(c.view(0).and_then(|v| v.bytes()), Some(&[0x12, 2, 1, 2][..]));
                assert!(c.reclaim().is_ok(), "the producer let go");
            }
        }
    });
}
