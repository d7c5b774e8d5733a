//! Spans written in place in their thread's log (issue 23): spans open at
//! once on a thread, past the cap on how many are in place, spans that
//! outlive their chunk, move to other threads, grow past their slot, are
//! renamed, or are open when their thread exits. What arrives is what was
//! recorded, field for field (decoded by prost), each span exactly once,
//! and the accounting holds.
//!
//! The property test drives random scripts of those operations against a
//! small queue (chunks of eight slots, so chunks are let go under open
//! spans all the time) and checks every span against a model of it.

use crate::common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::Duration;

use common::exporters::{Behaviour, Capture};
use proptest::prelude::*;
use tracewire::model::{SpanKind, Status};
use tracewire::proto::common::v1::any_value::Value as PV;
use tracewire::proto::trace::v1::Span as PSpan;
use tracewire::{BatchConfig, Pipeline, Span, Tracer};

const FLUSH: Duration = Duration::from_secs(10);

/// A pipeline whose logs hold 64 spans in chunks of eight slots.
fn small(capture: &Capture) -> Pipeline {
    let mut batch = BatchConfig::default();
    batch.max_queue_size = 64;
    batch.max_export_batch_size = 64;
    batch.scheduled_delay = Duration::from_millis(20);
    batch.shedding = false;
    Pipeline::builder()
        .exporter(capture.clone())
        .batch(batch)
        .preallocate(true)
        .start()
        .expect("pipeline starts")
}

/// The received spans by span id (each id once, checked).
fn by_id(capture: &Capture) -> HashMap<Vec<u8>, PSpan> {
    let mut out = HashMap::new();
    for s in capture.spans() {
        let id = s.span_id.clone();
        assert!(out.insert(id, s).is_none(), "a span arrived twice");
    }
    out
}

fn int(span: &PSpan, key: &str) -> Option<i64> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match v.value {
            Some(PV::IntValue(i)) => Some(i),
            _ => None,
        })
}

/// Records `n` short spans (each ended at once), flushing now and then so
/// that the small logs never fill.
fn filler(p: &Pipeline, t: &Tracer, n: usize) {
    for i in 0..n {
        let mut s = t.start("filler", SpanKind::Internal);
        s.set_i64("i", i as i64);
        s.end();
        if i % 24 == 23 {
            p.force_flush(FLUSH).expect("flush");
        }
    }
}

/// A span and what to do with it away from home.
type Job = (Span, Box<dyn FnOnce(&mut Span) + Send>);

/// A thread that runs closures on the spans sent to it and sends them
/// back: what a span does there, it does away from its home.
struct Away {
    tx: mpsc::Sender<Job>,
    rx: mpsc::Receiver<Span>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Away {
    fn new() -> Self {
        let (tx, in_rx) = mpsc::channel::<Job>();
        let (out_tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            for (mut span, f) in in_rx {
                f(&mut span);
                if out_tx.send(span).is_err() {
                    return;
                }
            }
        });
        Away {
            tx,
            rx,
            thread: Some(thread),
        }
    }

    fn run(&self, span: Span, f: impl FnOnce(&mut Span) + Send + 'static) -> Span {
        self.tx.send((span, Box::new(f))).expect("the thread runs");
        self.rx.recv().expect("the span comes back")
    }
}

impl Drop for Away {
    fn drop(&mut self) {
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn a_span_open_while_its_log_moves_on_keeps_every_field() {
    let capture = Capture::new(Behaviour::Accept);
    let p = small(&capture);
    let t = p.tracer("t");
    let mut long = t.start("long", SpanKind::Server);
    long.set_i64("before", 1);
    // Its chunk is let go many times over while it is open.
    filler(&p, &t, 200);
    long.set_i64("after", 2);
    long.set_status(Status::error("late"));
    let id = long.context().span_id().to_bytes().to_vec();
    long.end();
    p.force_flush(FLUSH).expect("flush");
    let got = by_id(&capture);
    let s = &got[&id];
    assert_eq!(s.name, "long");
    assert_eq!((int(s, "before"), int(s, "after")), (Some(1), Some(2)));
    assert_eq!(s.attributes.len(), 2);
    let st = s.status.as_ref().expect("status");
    assert_eq!((st.code, st.message.as_str()), (2, "late"));
    assert!(s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0);
    assert_eq!(got.len(), 201);
    let stats = p.shutdown(FLUSH).expect("shutdown");
    assert_eq!(
        (stats.recorded, stats.exported, stats.dropped),
        (201, 201, 0)
    );
}

#[test]
fn a_span_set_on_one_thread_and_ended_on_another_arrives_whole() {
    let capture = Capture::new(Behaviour::Accept);
    let p = small(&capture);
    let t = p.tracer("t");
    let (a, b) = (Away::new(), Away::new());
    let mut span = t.start("travels", SpanKind::Server);
    span.set_i64("home", 0);
    let id = span.context().span_id().to_bytes().to_vec();
    let span = a.run(span, |s| s.set_i64("first", 1));
    let mut span = b.run(span, |s| {
        s.set_i64("second", 2);
        s.add_event("on the second thread", &[]);
    });
    // Back home: its slot was given up, it stays out of place.
    span.set_i64("home again", 3);
    let span = a.run(span, |s| s.update_name("renamed"));
    b.run(span, |s| {
        s.set_i64("last", 4);
    })
    .end();
    p.force_flush(FLUSH).expect("flush");
    let got = by_id(&capture);
    let s = &got[&id];
    assert_eq!(s.name, "renamed", "the last name counts");
    let keys: Vec<&str> = s.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["home", "first", "second", "home again", "last"]);
    assert_eq!(s.events.len(), 1);
    assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
    let stats = p.stats();
    assert_eq!((stats.recorded, stats.exported, stats.queued), (1, 1, 0));
}

#[test]
fn spans_nested_past_the_in_place_cap_all_arrive() {
    let capture = Capture::new(Behaviour::Accept);
    let p = small(&capture);
    let t = p.tracer("t");
    // Ten spans open at once on one thread (a request's spans, or
    // interleaved requests): the first few in place, the rest in their
    // own buffers; ended innermost last, out of order.
    let mut open: Vec<Span> = Vec::new();
    for i in 0..10 {
        let parent = open.last().map(|s| s.context().clone());
        let mut s = t.start_with_parent("nested", SpanKind::Internal, parent.as_ref());
        s.set_i64("depth", i);
        open.push(s);
    }
    let ids: Vec<Vec<u8>> = open
        .iter()
        .map(|s| s.context().span_id().to_bytes().to_vec())
        .collect();
    for (i, s) in open.iter_mut().enumerate() {
        s.set_i64("again", i as i64);
    }
    let mut order: Vec<usize> = (0..10).collect();
    order.rotate_left(3);
    let mut spans: Vec<Option<Span>> = open.into_iter().map(Some).collect();
    for i in order {
        spans[i].take().expect("open").end();
    }
    p.force_flush(FLUSH).expect("flush");
    let got = by_id(&capture);
    assert_eq!(got.len(), 10);
    for (i, id) in ids.iter().enumerate() {
        let s = &got[id];
        assert_eq!(int(s, "depth"), Some(i as i64));
        assert_eq!(int(s, "again"), Some(i as i64));
        if i > 0 {
            assert_eq!(s.parent_span_id, ids[i - 1], "the chain of parents");
        }
    }
}

#[test]
fn a_span_outgrowing_its_slot_or_its_chunk_arrives_whole() {
    let capture = Capture::new(Behaviour::Accept);
    let p = small(&capture);
    let t = p.tracer("t");
    let value = "x".repeat(100);
    // Past its slot (512 bytes here) while it is the chunk's last: it
    // grows in place.
    let mut grows = t.start("grows", SpanKind::Internal);
    for i in 0..12 {
        grows.set_str(&format!("k{i}"), &value);
    }
    // Past its slot with another span after it: it moves to its own
    // buffer.
    let mut moved = t.start("moved", SpanKind::Internal);
    let mut after = t.start("after", SpanKind::Internal);
    for i in 0..12 {
        moved.set_str(&format!("k{i}"), &value);
    }
    after.set_i64("n", 1);
    // Past a whole chunk (4 KiB here): the lane for large spans.
    let mut large = t.start("large", SpanKind::Internal);
    for i in 0..60 {
        large.set_str(&format!("k{i}"), &value);
    }
    let ids: Vec<(String, Vec<u8>, usize)> = [
        ("grows", &grows, 12),
        ("moved", &moved, 12),
        ("after", &after, 1),
        ("large", &large, 60),
    ]
    .iter()
    .map(|(n, s, a)| (n.to_string(), s.context().span_id().to_bytes().to_vec(), *a))
    .collect();
    for s in [grows, moved, after, large] {
        s.end();
    }
    p.force_flush(FLUSH).expect("flush");
    let got = by_id(&capture);
    for (name, id, attrs) in ids {
        let s = &got[&id];
        assert_eq!(
            (s.name.as_str(), s.attributes.len()),
            (name.as_str(), attrs)
        );
    }
    let stats = p.stats();
    assert_eq!((stats.recorded, stats.exported, stats.dropped), (4, 4, 0));
}

#[test]
fn spans_open_when_their_thread_exits_are_ended_elsewhere_and_arrive() {
    let capture = Capture::new(Behaviour::Accept);
    let p = small(&capture);
    let t = p.tracer("t");
    let t2 = t.clone();
    let spans = std::thread::spawn(move || {
        let mut v = Vec::new();
        for i in 0..3 {
            let mut s = t2.start("outlives its thread", SpanKind::Server);
            s.set_i64("i", i);
            v.push(s);
        }
        v
    })
    .join()
    .expect("no panic");
    let ids: Vec<Vec<u8>> = spans
        .iter()
        .map(|s| s.context().span_id().to_bytes().to_vec())
        .collect();
    for mut s in spans {
        s.set_i64("ended by", 0);
        s.end();
    }
    p.force_flush(FLUSH).expect("flush");
    let got = by_id(&capture);
    for (i, id) in ids.iter().enumerate() {
        let s = &got[id];
        assert_eq!((int(s, "i"), int(s, "ended by")), (Some(i as i64), Some(0)));
    }
    assert_eq!(
        tracewire::internal::live_logs(&p),
        1,
        "the exited thread's log was freed"
    );
}

#[test]
fn two_pipelines_on_one_thread_keep_their_spans_apart() {
    let (ca, cb) = (
        Capture::new(Behaviour::Accept),
        Capture::new(Behaviour::Accept),
    );
    let (pa, pb) = (small(&ca), small(&cb));
    let (ta, tb) = (pa.tracer("a"), pb.tracer("b"));
    let mut a = ta.start("in a", SpanKind::Server);
    a.set_i64("n", 1);
    // The other pipeline's log moves on many times while `a` is open.
    filler(&pb, &tb, 100);
    a.set_i64("n2", 2);
    a.end();
    pa.force_flush(FLUSH).expect("flush");
    pb.force_flush(FLUSH).expect("flush");
    let got = ca.spans();
    assert_eq!(got.len(), 1);
    assert_eq!((int(&got[0], "n"), int(&got[0], "n2")), (Some(1), Some(2)));
    assert_eq!(cb.spans().len(), 100);
}

#[test]
fn spans_of_three_pipelines_interleaved_on_one_thread_each_arrive_in_theirs() {
    // The thread's log in the pipeline it recorded into last is looked up
    // first: spans of three pipelines open at once and set, ended, in
    // turn, move each log to the front over and over.
    let captures = [
        Capture::new(Behaviour::Accept),
        Capture::new(Behaviour::Accept),
        Capture::new(Behaviour::Accept),
    ];
    let pipelines: Vec<Pipeline> = captures.iter().map(small).collect();
    let tracers: Vec<Tracer> = pipelines.iter().map(|p| p.tracer("t")).collect();
    const ROUNDS: i64 = 40;
    for round in 0..ROUNDS {
        let mut a = tracers[0].start("a", SpanKind::Server);
        let mut b = tracers[1].start("b", SpanKind::Client);
        a.set_i64("round", round);
        let mut c = tracers[2].start("c", SpanKind::Internal);
        b.set_i64("round", round);
        c.set_i64("round", round);
        b.end();
        a.set_i64("after", round);
        c.end();
        a.end();
        if round % 10 == 9 {
            for p in &pipelines {
                p.force_flush(FLUSH).expect("flush");
            }
        }
    }
    for p in &pipelines {
        p.force_flush(FLUSH).expect("flush");
    }
    for (capture, name) in captures.iter().zip(["a", "b", "c"]) {
        let got = by_id(capture);
        assert_eq!(got.len(), ROUNDS as usize, "pipeline {name}");
        let mut rounds: Vec<i64> = got
            .values()
            .map(|s| {
                assert_eq!(s.name, name);
                int(s, "round").expect("round")
            })
            .collect();
        rounds.sort_unstable();
        assert_eq!(rounds, (0..ROUNDS).collect::<Vec<_>>(), "pipeline {name}");
        if name == "a" {
            assert!(got.values().all(|s| int(s, "after") == int(s, "round")));
        }
    }
    for p in &pipelines {
        let s = p.stats();
        assert_eq!((s.recorded, s.dropped), (ROUNDS as u64, 0));
    }
}

/// One step of a script (span numbers are taken modulo what is open).
#[derive(Clone, Debug)]
enum Op {
    Start { parent: Option<u8> },
    Attr(u8, i64),
    Away(u8, i64),
    Filler(u8),
    Rename(u8),
    Event(u8),
    Error(u8),
    End(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => proptest::option::of(any::<u8>()).prop_map(|parent| Op::Start { parent }),
        4 => (any::<u8>(), any::<i64>()).prop_map(|(k, v)| Op::Attr(k, v)),
        2 => (any::<u8>(), any::<i64>()).prop_map(|(k, v)| Op::Away(k, v)),
        2 => (1u8..40).prop_map(Op::Filler),
        1 => any::<u8>().prop_map(Op::Rename),
        1 => any::<u8>().prop_map(Op::Event),
        1 => any::<u8>().prop_map(Op::Error),
        3 => any::<u8>().prop_map(Op::End),
    ]
}

/// What a span should arrive as.
#[derive(Default)]
struct Model {
    name: String,
    attrs: Vec<(String, i64)>,
    events: usize,
    error: bool,
    parent: Vec<u8>,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Random scripts of starts, setters on the home thread and away,
    /// renames, events, errors and ends, with chunks let go in between:
    /// every span arrives once, as the model says.
    #[test]
    fn every_script_arrives_as_recorded(script in proptest::collection::vec(op(), 1..60)) {
        let capture = Capture::new(Behaviour::Accept);
        let p = small(&capture);
        let t = p.tracer("t");
        let away = Away::new();
        let mut open: Vec<(Vec<u8>, Span)> = Vec::new();
        let mut models: HashMap<Vec<u8>, Model> = HashMap::new();
        let mut fillers = 0usize;
        for op in script {
            let pick = |k: u8, n: usize| (n > 0).then(|| k as usize % n);
            match op {
                Op::Start { parent } => {
                    if open.len() >= 12 {
                        continue;
                    }
                    let parent = parent.and_then(|k| pick(k, open.len())).map(|i| open[i].1.context().clone());
                    let name = format!("s{}", models.len());
                    let s = t.start_with_parent(&name, SpanKind::Internal, parent.as_ref());
                    let id = s.context().span_id().to_bytes().to_vec();
                    models.insert(id.clone(), Model {
                        name,
                        parent: parent.map(|c| c.span_id().to_bytes().to_vec()).unwrap_or_default(),
                        ..Model::default()
                    });
                    open.push((id, s));
                }
                Op::Attr(k, v) => if let Some(i) = pick(k, open.len()) {
                    let key = format!("a{}", models[&open[i].0].attrs.len());
                    open[i].1.set_i64(&key, v);
                    models.get_mut(&open[i].0).unwrap().attrs.push((key, v));
                }
                Op::Away(k, v) => if let Some(i) = pick(k, open.len()) {
                    let key = format!("a{}", models[&open[i].0].attrs.len());
                    let (id, s) = open.swap_remove(i);
                    let k2 = key.clone();
                    let s = away.run(s, move |s| s.set_i64(&k2, v));
                    models.get_mut(&id).unwrap().attrs.push((key, v));
                    open.push((id, s));
                }
                Op::Filler(n) => {
                    filler(&p, &t, n as usize);
                    // The small logs hold 64 spans: flushed between runs
                    // of fillers so that none is dropped for room.
                    p.force_flush(FLUSH).expect("flush");
                    fillers += n as usize;
                }
                Op::Rename(k) => if let Some(i) = pick(k, open.len()) {
                    let name = format!("renamed{k}");
                    open[i].1.update_name(&name);
                    models.get_mut(&open[i].0).unwrap().name = name;
                }
                Op::Event(k) => if let Some(i) = pick(k, open.len()) {
                    open[i].1.add_event("e", &[]);
                    models.get_mut(&open[i].0).unwrap().events += 1;
                }
                Op::Error(k) => if let Some(i) = pick(k, open.len()) {
                    open[i].1.set_status(Status::error("boom"));
                    models.get_mut(&open[i].0).unwrap().error = true;
                }
                Op::End(k) => if let Some(i) = pick(k, open.len()) {
                    open.swap_remove(i).1.end();
                }
            }
        }
        for (_, s) in open {
            s.end();
        }
        p.force_flush(FLUSH).expect("flush");
        let got = by_id(&capture);
        prop_assert_eq!(got.len(), models.len() + fillers);
        for (id, m) in &models {
            let s = got.get(id).expect("every span arrives");
            prop_assert_eq!(&s.name, &m.name);
            let attrs: Vec<(String, i64)> = s.attributes.iter().map(|kv| {
                let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(PV::IntValue(i)) => *i,
                    other => panic!("{other:?}"),
                };
                (kv.key.clone(), v)
            }).collect();
            prop_assert_eq!(&attrs, &m.attrs);
            prop_assert_eq!(s.events.len(), m.events);
            prop_assert_eq!(s.status.as_ref().map_or(0, |st| st.code), if m.error { 2 } else { 0 });
            prop_assert_eq!(&s.parent_span_id, &m.parent);
            prop_assert!(s.end_time_unix_nano >= s.start_time_unix_nano);
        }
        let stats = p.shutdown(FLUSH).expect("shutdown");
        prop_assert_eq!(stats.recorded, (models.len() + fillers) as u64);
        prop_assert_eq!((stats.exported, stats.dropped, stats.queued), (stats.recorded, 0, 0));
    }
}
