//! The chunk's own tests (the loom model is in `loom/`).

use super::storage::{frame_len, prefix, MAX_BODY, PREFIX};
use super::*;

/// A slot of `reserve` bytes, its writer.
fn begin(p: &mut ChunkProducer, reserve: usize, scope: u16) -> Option<SlotWriter> {
    let mut w = None;
    let began = p.begin(reserve, scope, &mut w);
    assert_eq!(began == Began::Slot, w.is_some());
    w
}

fn body(c: &ChunkConsumer, i: usize) -> Option<(State, Vec<u8>)> {
    c.bytes(i).map(|(s, b)| (s, b.to_vec()))
}

#[test]
fn a_span_writes_in_place_and_publishes_once() {
    let (mut p, c) = Chunk::split(Chunk::new(256, 8)).unwrap();
    let mut w = begin(&mut p, 64, 3).expect("room");
    w.claim(3).unwrap().copy_from_slice(b"abc");
    assert_eq!(c.slot(0).unwrap().state, State::Open);
    assert!(body(&c, 0).is_none(), "open: not readable");
    w.claim(2).unwrap().copy_from_slice(b"de");
    assert!(w.claim(60).is_none(), "past its reservation");
    w.finish().unwrap();
    let view = c.slot(0).unwrap();
    assert_eq!((view.state, view.len, view.scope), (State::Done, 5, 3));
    assert_eq!(
        body(&c, 0).unwrap(),
        (State::Done, b"\x12\x05abcde".to_vec())
    );
}

#[test]
fn open_slots_keep_their_reservation_and_done_ones_only_their_bytes() {
    let (mut p, c) = Chunk::split(Chunk::new(1024, 8)).unwrap();
    let mut outer = begin(&mut p, 100, 0).unwrap();
    outer.claim(10).unwrap().fill(1);
    // A second span while the first is open: placed after its whole
    // reservation.
    let mut inner = begin(&mut p, 100, 0).unwrap();
    inner.claim(4).unwrap().fill(2);
    inner.finish().unwrap();
    // The third goes right after the second's bytes.
    let mut third = begin(&mut p, 100, 0).unwrap();
    third.claim(1).unwrap().fill(3);
    outer.claim(20).unwrap().fill(4);
    outer.finish().unwrap();
    third.finish().unwrap();
    let mut outer_body = vec![1u8; 10];
    outer_body.extend([4u8; 20]);
    assert_eq!(body(&c, 0).unwrap().1[2..], outer_body[..]);
    assert_eq!(body(&c, 1).unwrap().1, [0x12, 4, 2, 2, 2, 2]);
    assert_eq!(body(&c, 2).unwrap().1, [0x12, 1, 3]);
    // Slots begin on cache lines of their own.
    assert_eq!(c.chunk.head(1).0, 128, "after the open slot's reservation");
    assert_eq!(
        c.chunk.head(2).0,
        (128 + PREFIX + 4).next_multiple_of(64),
        "after the done slot's bytes"
    );
}

#[test]
fn a_last_slot_extends_within_the_chunk() {
    let (mut p, c) = Chunk::split(Chunk::new(512, 8)).unwrap();
    let mut w = begin(&mut p, 32, 0).unwrap();
    assert!(w.claim(40).is_none());
    assert!(p.extend(&mut w, 40));
    w.claim(40).unwrap().fill(7);
    assert!(!p.extend(&mut w, 600), "not past the chunk");
    let mut other = begin(&mut p, 32, 0).unwrap();
    assert!(!p.extend(&mut w, 8), "no longer the last slot");
    other.claim(1).unwrap();
    other.finish().unwrap();
    w.finish().unwrap();
    assert_eq!(c.slot(0).unwrap().len, 40);
}

#[test]
fn sealing_turns_open_slots_into_part_one_and_stops_their_writers() {
    let (mut p, c) = Chunk::split(Chunk::new(512, 8)).unwrap();
    let mut w = begin(&mut p, 64, 1).unwrap();
    w.claim(6).unwrap().copy_from_slice(b"start.");
    drop(p);
    assert!(c.is_sealed());
    assert!(!w.is_home(), "the thread took a new epoch");
    assert!(w.claim(1).is_none());
    // Part one is the whole reservation (the chunk cannot know how far the
    // span got)...
    let (state, reserved) = body(&c, 0).unwrap();
    assert_eq!((state, reserved.len()), (State::PartOne, 64 - PREFIX));
    assert_eq!(&reserved[..6], b"start.");
    // ...and the span's own count says how much of it is its bytes.
    let part = w.abandon();
    assert_eq!(part.len(), 6);
    assert_eq!(c.part_one(&part).unwrap().to_vec(), b"start.");
}

#[test]
fn a_writer_on_another_thread_touches_nothing_and_its_part_one_is_readable() {
    let (mut p, c) = Chunk::split(Chunk::new(512, 8)).unwrap();
    let mut w = begin(&mut p, 64, 0).unwrap();
    w.claim(4).unwrap().copy_from_slice(b"head");
    let part = std::thread::spawn(move || {
        assert!(!w.is_home());
        assert!(w.claim(1).is_none());
        w.abandon()
    })
    .join()
    .unwrap();
    assert_eq!(c.slot(0).unwrap().state, State::Open, "still open");
    assert_eq!(c.part_one(&part).unwrap().to_vec(), b"head");
    // The continuation, published elsewhere, names it.
    let (mut p2, c2) = Chunk::split(Chunk::new(512, 8)).unwrap();
    p2.append_cont(part, b"tail", 5).unwrap();
    let key = c2.slot(0).unwrap().cont_key().unwrap();
    assert_eq!(c.part_one(&key).unwrap().to_vec(), b"head");
    let (state, bytes) = body(&c2, 0).unwrap();
    assert_eq!(state, State::Cont);
    assert_eq!(&bytes[CONT_KEY..], b"tail");
    drop(p);
}

#[test]
fn appended_records_are_framed_and_moved_out_slots_are_reused() {
    let (mut p, c) = Chunk::split(Chunk::new(384, 4)).unwrap();
    let mut w = begin(&mut p, 64, 0).unwrap();
    w.claim(5).unwrap().copy_from_slice(b"moved");
    let mut out = Vec::new();
    w.move_out(|b| out.extend_from_slice(b)).unwrap();
    assert_eq!(out, b"moved");
    assert_eq!(c.slot(0).unwrap().state, State::Empty);
    assert!(p.append_span(&[9u8; 200], 2));
    assert_eq!(c.chunk.head(1).0, 0, "in the emptied slot's place");
    let (state, bytes) = body(&c, 1).unwrap();
    assert_eq!((state, &bytes[..3]), (State::Done, &[0x12, 0xc8, 0x01][..]));
    // The next line after it: 256; 256 + 4 + 150 is past the chunk.
    assert!(!p.append_span(&[0u8; 150], 0), "no room");
    assert!(p.append_span(&[0u8; 40], 0));
    assert_eq!(c.chunk.head(2).0, 256);
    assert!(p.append_span(&[], 0));
    assert_eq!(c.chunk.head(3).0, 320);
    assert_eq!(p.room(), 0, "no slot left");
}

#[test]
fn a_chunk_is_reused_only_when_both_halves_are_done_with_a_new_serial() {
    let (p, c) = Chunk::split(Chunk::new(64, 2)).unwrap();
    let first = c.serial();
    let Err(c) = c.reclaim() else {
        panic!("the producer still holds it")
    };
    drop(p);
    let Ok(chunk) = c.reclaim() else {
        panic!("both halves gone")
    };
    let (_p, c) = Chunk::split(chunk).expect("exclusive again");
    assert_ne!(c.serial(), first);
    assert_eq!((c.begun(), c.is_sealed()), (0, false));
}

/// A reused chunk's slot table still holds the last use's words: the
/// consumer of the new use sees no slot before the producer begins one.
#[test]
fn a_reused_chunk_shows_no_slot_of_its_last_use() {
    let (mut p, c) = Chunk::split(Chunk::new(256, 4)).unwrap();
    assert!(p.append_span(b"old", 0));
    assert_eq!(body(&c, 0).unwrap(), (State::Done, b"\x12\x03old".to_vec()));
    drop(p);
    let Ok(chunk) = c.reclaim() else {
        panic!("both halves gone")
    };
    let (mut p, c) = Chunk::split(chunk).expect("exclusive again");
    assert!(c.view(0).is_none(), "not begun in this use");
    assert!(c.slot(0).is_none());
    assert!(body(&c, 0).is_none());
    assert!(p.append_span(b"new!", 0));
    assert!(c.view(0).is_none(), "not known begun until begun is read");
    assert_eq!(
        body(&c, 0).unwrap(),
        (State::Done, b"\x12\x04new!".to_vec())
    );
}

#[test]
fn frames_match_protobuf() {
    for len in [
        0usize, 1, 127, 128, 255, 300, 16_383, 16_384, 100_000, MAX_BODY,
    ] {
        let p = prefix(len);
        let framed = frame_len(len) - len;
        let mut want = vec![0x12];
        prost::encoding::encode_varint(len as u64, &mut want);
        assert_eq!(&p[PREFIX - framed..], &want[..], "{len}");
        assert_eq!(
            frame_len(len),
            crate::codec::wire::len_field_len(crate::codec::otlp::field::scope_spans::SPANS, len)
        );
    }
}
