//! A loom model of `src/span_log/chunk.rs`: one producer appending records
//! and one consumer reading what is published, on two threads, in every
//! interleaving loom explores. It checks that the consumer only ever sees
//! whole records, in order, never a byte the producer is still writing
//! (loom's cells report a data race otherwise), and that a chunk is reused
//! only when both halves are done. The real `unsafe` copy and slice run in
//! the model (each byte has a loom cell beside it that they claim, see the
//! module doc of chunk.rs); weakening the release store that publishes a
//! record to `Relaxed`, or letting a read reach one byte past what is
//! published, makes these tests fail.
//!
//! Run: `cd loom && cargo test --release` (the `.cargo/config.toml` here
//! builds with `--cfg loom`).

#![allow(dead_code)]

#[path = "../src/span_log/chunk.rs"]
mod chunk;

use chunk::{Chunk, ChunkConsumer};
use loom::thread;

/// Reads whatever is published (records of 3 bytes: `[i, i, i]`), checking
/// each is whole and in order; returns how many it read.
fn read_all(c: &mut ChunkConsumer, mut next: u8) -> u8 {
    let (from, to) = (c.position(), c.position() + c.available());
    let whole = (to - from) / 3 * 3;
    c.with_bytes(from, from + whole, |bytes| {
        for rec in bytes.chunks_exact(3) {
            assert_eq!(rec, [next, next, next], "a whole record, in order");
            next += 1;
        }
    });
    c.consume_to(from + whole);
    next
}

#[test]
fn the_consumer_sees_only_published_records_in_order() {
    loom::model(|| {
        let (mut p, mut c) = Chunk::split(Chunk::new(9)).expect("a new chunk is exclusive");
        let producer = thread::spawn(move || {
            for i in 0..3u8 {
                assert!(p.append(&[i, i, i]));
            }
            assert!(!p.append(&[9]), "full");
        });
        let mut next = read_all(&mut c, 0);
        producer.join().unwrap();
        next = read_all(&mut c, next);
        assert_eq!(next, 3, "everything published is read");
    });
}

#[test]
fn a_chunk_is_reclaimed_only_after_the_producer_lets_go() {
    loom::model(|| {
        let (mut p, c) = Chunk::split(Chunk::new(4)).expect("a new chunk is exclusive");
        let producer = thread::spawn(move || {
            assert!(p.append(&[1, 2]));
            drop(p);
        });
        let c = match c.reclaim() {
            // The producer was already done: the chunk is ours alone, and
            // can be split again.
            Ok(chunk) => {
                producer.join().unwrap();
                let (_p, c) = Chunk::split(chunk).expect("exclusive");
                c
            }
            Err(c) => {
                producer.join().unwrap();
                c
            }
        };
        let _ = c.reclaim();
    });
}

#[test]
fn a_read_past_what_is_published_gets_nothing_never_a_byte_being_written() {
    loom::model(|| {
        let (mut p, c) = Chunk::split(Chunk::new(6)).expect("a new chunk is exclusive");
        let producer = thread::spawn(move || {
            assert!(p.append(&[1, 1, 1]));
            assert!(p.append(&[2, 2, 2]));
        });
        // Asks for more than may be published: gets all of it or nothing
        // (a byte read while the producer writes it is a loom failure).
        for to in [4, 6] {
            c.with_bytes(0, to, |bytes| {
                assert!(
                    bytes.is_empty() || bytes == &[1, 1, 1, 2, 2, 2][..to],
                    "{bytes:?}"
                );
            });
        }
        producer.join().unwrap();
        c.with_bytes(0, 6, |bytes| assert_eq!(bytes, [1, 1, 1, 2, 2, 2]));
    });
}
