//! What the record path's duties cost at least: the floor's span (the
//! same bytes, ids and clock reads as `record/floor`, written by the
//! floor's own writer, `proxy_span::W`, into each claimed slice) recorded
//! through a model of the duties tracewire's record path carries and the
//! floor does not, each at its leanest:
//!
//! - a span handle returned by `start` and passed to each setter and to
//!   `end` (a pooled boxed recording: the span's state lives in memory
//!   between calls, as a handle's must);
//! - one thread-local visit at start (ids, the sampling decision, a
//!   recording, a slot) and one at end (the publish, the recording back);
//! - a slot reserved in the thread's log at start (its head, its word and
//!   the log's count stored, the count with release), published at end
//!   with one release store;
//! - every write checked for room and for home (the thread's epoch), as a
//!   span that may move between threads or outlive its chunk must be;
//! - the attribute limit counted per attribute;
//! - shedding's share: each start counted, a threshold compared.
//!
//! It does nothing else: one log per thread (no lookup of a pipeline's),
//! no accounting beyond two counts, no compaction of slots (each takes its
//! whole reservation), no limit on spans open at once, no trace state or
//! status API, and no worker: the log wraps onto itself, but it is larger
//! than the caches and its lines are asked for ahead (`prefetchw`, as
//! tracewire does), so its stores meet cold lines as a recycled chunk's
//! do. So it is a floor for any design that keeps these duties:
//! what is left between it and `record/tracewire` is tracewire's own
//! overhead; what is between it and `record/floor`, the duties'.
//!
//! Prints, per side, the median time per span over interleaved rounds of
//! paced windows (floor, model, tracewire alternately, so a slow phase of
//! the host slows all alike) and the medians of the per-round ratios.
//!
//! Run: `cargo bench --bench duty_floor` (`ROUNDS`, default 21).
//! Instruction counts (callgrind, as `record_phases`):
//! `valgrind --tool=callgrind --collect-atstart=no
//! '--toggle-collect=*measured*' target/release/deps/duty_floor-* model`
//! (or `floor`), 10,000 spans counted.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

#[path = "support/pacing.rs"]
mod pacing;
#[path = "support/proxy_span.rs"]
mod proxy_span;
use pacing::{drained, paced};
use proxy_span::{
    discard_pipeline, span_start_len, str_kv_len, tracewire_span, values, varint, varint_kv_len,
    wyrand, Floor, CLOSING, W,
};

/// The log's bytes and slots. It wraps onto itself, but is larger than
/// the caches, so that a slot's lines are cold when it begins, as a
/// recycled chunk's are (the export worker read them on the other core).
const CELLS: usize = 8 * 1024 * 1024;
const SLOTS: usize = CELLS / RESERVE;
/// Bytes reserved per slot (the span is about 300), its 4-byte prefix
/// included.
const RESERVE: usize = 384;
const PREFIX: usize = 4;
const OPEN: u32 = 1 << 29;
const DONE: u32 = 2 << 29;

/// One slot's head (where its bytes are) and word (its state and length).
struct Slot {
    head: AtomicU64,
    word: AtomicU32,
}

/// The model's log: leaked, so that slots and writers may point into it.
struct Log {
    cells: *mut u8,
    slots: &'static [Slot],
    begun: &'static AtomicU32,
}

/// The thread's state: the log, where the next slot goes, the ids'
/// generator, one pooled recording, a count.
struct ThreadState {
    log: Cell<Option<&'static Log>>,
    index: Cell<usize>,
    at: Cell<usize>,
    prefetched: Cell<usize>,
    rng: Cell<u64>,
    hot: Cell<Option<Box<Rec>>>,
    started: Cell<u64>,
    recorded: Cell<u64>,
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            log: Cell::new(None),
            index: Cell::new(0),
            at: Cell::new(0),
            prefetched: Cell::new(0),
            rng: Cell::new(0x9e37_79b9_7f4a_7c15),
            hot: Cell::new(None),
            started: Cell::new(0),
            recorded: Cell::new(0),
        }
    };
    /// Bumped when the log wraps: a writer from before is away from home.
    static EPOCH: Cell<u64> = const { Cell::new(1) };
}

/// What the pipeline shares with recording threads: the sampling decision,
/// the shedding threshold and the attribute limit.
struct Shared {
    sampled: AtomicU32,
    shed_threshold: AtomicU64,
    max_attributes: u32,
}

/// A span's recording: where its bytes go and its counts.
struct Rec {
    body: *mut u8,
    len: u32,
    cap: u32,
    epoch: u64,
    word: *const AtomicU32,
    attributes: u32,
    max_attributes: u32,
    dropped: u32,
    end_at: u32,
}

/// The span handle: its context and its recording.
struct Model {
    _trace: u128,
    _span: u64,
    rec: Option<Box<Rec>>,
}

#[cold]
fn new_log() -> &'static Log {
    let cells: &'static mut [u8] = Vec::leak(vec![0u8; CELLS]);
    let slots: &'static [Slot] = Vec::leak(
        (0..SLOTS)
            .map(|_| Slot {
                head: AtomicU64::new(0),
                word: AtomicU32::new(0),
            })
            .collect(),
    );
    Box::leak(Box::new(Log {
        cells: cells.as_mut_ptr(),
        slots,
        begun: Box::leak(Box::new(AtomicU32::new(0))),
    }))
}

/// Asks for the lines of `cells[from..to]` for writing.
#[inline(always)]
fn prefetch(cells: *mut u8, from: usize, to: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut line = from & !63;
        while line < to {
            // SAFETY: PREFETCHW reads nothing, writes nothing and never
            // faults, whatever the address (this one is in the log).
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
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (cells, from, to);
}

/// The log is full: it wraps (the model's new chunk), and writers from
/// before are away from home.
#[cold]
fn wrap(t: &ThreadState) -> (usize, usize) {
    EPOCH.with(|e| e.set(e.get() + 1));
    t.index.set(0);
    t.at.set(0);
    t.prefetched.set(0);
    (0, 0)
}

impl Rec {
    /// The next `n` bytes: at home, with room; else `None` (the model's
    /// spans never outgrow their slot or move; tracewire's would move
    /// out or split here).
    #[inline(always)]
    fn claim(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.len as usize;
        let end = start + n;
        if end > self.cap as usize || EPOCH.with(Cell::get) != self.epoch {
            return None;
        }
        self.len = end as u32;
        // SAFETY: `body` points at this slot's body in the leaked log, with
        // `cap` bytes reserved for this span alone, at home (checked just
        // now: the log has not wrapped since), and `start + n <= cap`.
        Some(unsafe { std::slice::from_raw_parts_mut(self.body.add(start), n) })
    }

    #[inline(always)]
    fn admit(&mut self) -> bool {
        if self.attributes < self.max_attributes {
            self.attributes += 1;
            true
        } else {
            self.dropped += 1;
            false
        }
    }
}

impl Model {
    /// Hot path: the floor's start, plus one thread-local visit, the
    /// sampling decision, a pooled recording and a reserved slot.
    #[inline]
    fn start(shared: &Shared, name: &str) -> Model {
        let now = tracewire::internal::clock::now_unix_nanos;
        STATE.with(|t| {
            let mut rng = t.rng.get();
            let (a, b, c) = (wyrand(&mut rng), wyrand(&mut rng), wyrand(&mut rng));
            t.rng.set(rng);
            let unrecorded = Model {
                _trace: u128::from(a) << 64 | u128::from(b),
                _span: c,
                rec: None,
            };
            if shared.sampled.load(Ordering::Relaxed) == 0 {
                return unrecorded;
            }
            // Shedding: the span counted as started (the pressure the
            // shedder reads), and the threshold it would be shed under.
            t.started.set(t.started.get() + 1);
            if c < shared.shed_threshold.load(Ordering::Relaxed) {
                return unrecorded;
            }
            let log = match t.log.get() {
                Some(l) => l,
                None => {
                    let l = new_log();
                    t.log.set(Some(l));
                    l
                }
            };
            let mut rec = t.hot.take().unwrap_or_else(|| {
                Box::new(Rec {
                    body: std::ptr::null_mut(),
                    len: 0,
                    cap: 0,
                    epoch: 0,
                    word: std::ptr::null(),
                    attributes: 0,
                    max_attributes: 0,
                    dropped: 0,
                    end_at: 0,
                })
            });
            let (mut index, mut at) = (t.index.get(), t.at.get());
            if index >= SLOTS || at + RESERVE > CELLS {
                (index, at) = wrap(t);
            }
            let slot = &log.slots[index];
            slot.head
                .store(at as u64 | (RESERVE as u64) << 16, Ordering::Relaxed);
            slot.word.store(OPEN, Ordering::Relaxed);
            log.begun.store(index as u32 + 1, Ordering::Release);
            t.index.set(index + 1);
            t.at.set(at + RESERVE);
            // The lines of this slot and the next, asked for writing ahead
            // of the stores (as tracewire does: without it the first store
            // into each cold line holds up the ones after it).
            let ahead = (at + 2 * RESERVE).min(CELLS);
            prefetch(log.cells, t.prefetched.get().max(at), ahead);
            t.prefetched.set(ahead);
            // SAFETY: `at + RESERVE <= CELLS` (checked above): the slot's
            // body starts inside the leaked log.
            rec.body = unsafe { log.cells.add(at + PREFIX) };
            rec.len = 0;
            rec.cap = (RESERVE - PREFIX) as u32;
            rec.epoch = EPOCH.with(Cell::get);
            rec.word = &slot.word;
            rec.attributes = 0;
            rec.max_attributes = shared.max_attributes;
            rec.dropped = 0;
            rec.end_at = u32::MAX;
            let t0 = now();
            if let Some(out) = rec.claim(span_start_len(name)) {
                let end_at = W { b: out, n: 0 }.span_start((a, b, c), name, t0);
                rec.end_at = end_at as u32;
            }
            Model {
                rec: Some(rec),
                ..unrecorded
            }
        })
    }

    /// Hot path: the floor's `str_kv` into the span's slot, counted and
    /// checked; must not allocate or lock.
    #[inline(always)]
    fn set_str(&mut self, k: &str, v: &str) {
        let Some(r) = self.rec.as_mut() else { return };
        if !r.admit() {
            return;
        }
        if let Some(out) = r.claim(str_kv_len(k, v)) {
            W { b: out, n: 0 }.str_kv(k, v);
        }
    }

    /// Hot path: the floor's `i64_kv` into the span's slot, counted and
    /// checked; must not allocate or lock.
    #[inline(always)]
    fn set_i64(&mut self, k: &str, v: i64) {
        let Some(r) = self.rec.as_mut() else { return };
        if !r.admit() {
            return;
        }
        let (tmp, n) = varint(v as u64);
        let x = &tmp[..n];
        if let Some(out) = r.claim(varint_kv_len(k, x)) {
            W { b: out, n: 0 }.varint_kv(k, x);
        }
    }

    /// Hot path: the floor's closing bytes and end time, then one
    /// thread-local visit: the publish (a release store) and the
    /// recording back.
    #[inline]
    fn end(self) -> u32 {
        let Some(mut r) = self.rec else { return 0 };
        if let Some(out) = r.claim(CLOSING.len()) {
            let mut w = W { b: out, n: 0 };
            w.bytes(&CLOSING[..4]);
            w.bytes(&CLOSING[4..]);
        }
        let t1 = tracewire::internal::clock::now_unix_nanos();
        let at = r.end_at as usize;
        if EPOCH.with(Cell::get) == r.epoch && at + 8 <= r.len as usize {
            // SAFETY: at home (checked just now), and `end_at + 8` is
            // within the bytes claimed (the header's end time field).
            let end = unsafe { std::slice::from_raw_parts_mut(r.body.add(at), 8) };
            end.copy_from_slice(&t1.to_le_bytes());
        }
        let len = r.len;
        STATE.with(|t| {
            // SAFETY: `word` points at this slot's word in the leaked log.
            let word = unsafe { &*r.word };
            word.store(DONE | len, Ordering::Release);
            t.recorded.set(t.recorded.get() + 1);
            t.hot.set(Some(r));
        });
        len
    }
}

/// The floor's span through the model; returns its length.
#[inline]
fn model_span(shared: &Shared, i: u64) -> u32 {
    let v = values();
    let mut s = Model::start(shared, v.name);
    s.set_str("http.request.method", v.method);
    s.set_str("url.path", v.path);
    s.set_str("url.scheme", v.scheme);
    s.set_str("server.address", v.host);
    s.set_i64("server.port", 443);
    s.set_str("client.address", v.client);
    s.set_str("user_agent.original", v.agent);
    s.set_i64("http.response.status_code", 200 + (i & 1) as i64);
    s.end()
}

#[inline(never)]
fn warm_up(side: &str, shared: &Shared, floor: &mut Floor, from: u64, n: u64) {
    run(side, shared, floor, from, n)
}

#[inline(never)]
fn measured(side: &str, shared: &Shared, floor: &mut Floor, from: u64, n: u64) {
    run(side, shared, floor, from, n)
}

#[inline(always)]
fn run(side: &str, shared: &Shared, floor: &mut Floor, from: u64, n: u64) {
    for i in from..from + n {
        match side {
            "model" => {
                black_box(model_span(shared, i));
            }
            _ => {
                black_box(floor.span(i));
            }
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let shared = Shared {
        sampled: AtomicU32::new(1),
        shed_threshold: AtomicU64::new(0),
        max_attributes: 128,
    };
    let mut floor = Floor::default();
    // The model writes the floor's bytes: the same length, span by span.
    for i in 0..2 {
        let (m, f) = (model_span(&shared, i) as usize, floor.span(i));
        assert_eq!(m, f, "the model's span is {m} bytes, the floor's {f}");
    }
    let side = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    if side == "model" || side == "floor" {
        // For callgrind: warm up, then count 10,000 spans.
        warm_up(&side, &shared, &mut floor, 0, 10_000);
        measured(&side, &shared, &mut floor, 10_000, 10_000);
        return;
    }
    {
        // `cargo bench`: the comparison; otherwise (`cargo test
        // --benches`) one short round, to show it runs.
        let bench = std::env::args().any(|a| a == "--bench");
        let rounds: usize = if bench {
            std::env::var("ROUNDS")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(21)
                .max(1)
        } else {
            1
        };
        let pipeline = discard_pipeline(None);
        let tracer = pipeline.tracer("bench");
        let per = if bench { 200 } else { 4 } * pacing::WINDOW;
        let ns = |d: Duration| d.as_nanos() as f64 / per as f64;
        let (mut f, mut m, mut t) = (Vec::new(), Vec::new(), Vec::new());
        let (mut mf, mut tf, mut tm) = (Vec::new(), Vec::new(), Vec::new());
        // A round of each first, not counted (warm-up).
        for round in 0..=rounds {
            let a = ns(paced(
                per,
                |i| {
                    black_box(floor.span(i));
                },
                || {},
            ));
            let b = ns(paced(
                per,
                |i| {
                    black_box(model_span(&shared, i));
                },
                || {},
            ));
            let c = ns(paced(
                per,
                |i| tracewire_span(&tracer, i),
                || drained(&pipeline),
            ));
            if round == 0 {
                continue;
            }
            f.push(a);
            m.push(b);
            t.push(c);
            mf.push(b / a);
            tf.push(c / a);
            tm.push(c / b);
        }
        if !bench {
            println!("duty_floor: a smoke run (cargo bench --bench duty_floor measures)");
        }
        println!(
            "duty_floor ({rounds} rounds): floor median {:.1} ns, model {:.1} ns, tracewire {:.1} ns; \
             model/floor median {:.2}x, tracewire/floor {:.2}x, tracewire/model {:.2}x",
            median(&mut f),
            median(&mut m),
            median(&mut t),
            median(&mut mf),
            median(&mut tf),
            median(&mut tm)
        );
        let recorded = STATE.with(|s| (s.started.get(), s.recorded.get()));
        black_box(recorded);
    }
}
