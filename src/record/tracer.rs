//! [`Tracer`] starts spans; [`SpanBuilder`] starts the rare span that needs
//! links at creation or an explicit start time.
//!
//! Starting a sampled span costs: one thread-local visit (ids, sampling, a
//! slot in this thread's log, a pooled recording), one clock read, and the
//! fields known at start written in place. The sampling decision comes
//! before anything an unsampled span does not need: an unsampled span is
//! only a context (its ids), no clock, no slot, no recording, but its
//! context still propagates.
//!
//! This module runs per span: it must never block, do I/O, lock, or
//! allocate once warm.
//!
//! ```no_run
//! use tracewire::model::{SpanKind, Status};
//!
//! # fn handle(tracer: &tracewire::Tracer, headers: &http::HeaderMap) {
//! let parent = tracewire::propagation::extract_from_headers(headers);
//! let mut server = tracer.start_with_parent("GET /users/{id}", SpanKind::Server, parent.as_ref());
//! server.set_str("http.request.method", "GET");
//! server.set_i64("http.response.status_code", 502);
//! server.set_status(Status::error("upstream refused the connection"));
//! server.end();
//! # }
//! ```

use std::sync::Arc;
use std::time::SystemTime;

use super::recording::Recording;
use super::span::Span;
use super::thread::{ThreadState, LOCAL};
use crate::clock;
use crate::codec::otlp::{put_span_start, SpanStart};
use crate::model::{
    otlp_flags, SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState, ValueRef,
};
use crate::sampling::{randomness, with_threshold, Th};
use crate::shared::Shared;
use crate::shed::Shed;

/// The `random` trace flag of W3C Trace Context Level 2, kept from a parent.
const RANDOM_FLAG: u8 = 0x02;

/// Starts spans. Cheap to clone, `Send + Sync`; get one from
/// [`crate::Pipeline::tracer`].
#[derive(Clone)]
pub struct Tracer {
    shared: Arc<Shared>,
    scope: u16,
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("scope", &self.scope)
            .finish()
    }
}

impl Tracer {
    pub(crate) fn new(shared: Arc<Shared>, scope: u16) -> Self {
        Tracer { shared, scope }
    }

    /// Starts a root span (a new trace, unless the sampler says otherwise).
    ///
    /// Hot path: see the module docs.
    #[inline]
    pub fn start(&self, name: &str, kind: SpanKind) -> Span {
        self.start_inner(name, kind, None, None)
    }

    /// Starts a span under `parent` (a remote context from
    /// [`crate::propagation::extract`], or a local span's
    /// [`Span::context`]); with `None`, a root span.
    #[inline]
    pub fn start_with_parent(
        &self,
        name: &str,
        kind: SpanKind,
        parent: Option<&SpanContext>,
    ) -> Span {
        self.start_inner(name, kind, parent, None)
    }

    /// A builder for spans that need links at creation or an explicit start
    /// time.
    ///
    /// ```no_run
    /// # fn f(tracer: &tracewire::Tracer, other: &tracewire::model::SpanContext) {
    /// use tracewire::model::SpanKind;
    /// let span = tracer
    ///     .span_builder("batch")
    ///     .kind(SpanKind::Consumer)
    ///     .link(other, &[("messaging.batch.index", 3i64.into())])
    ///     .start();
    /// # }
    /// ```
    pub fn span_builder<'a>(&'a self, name: &'a str) -> SpanBuilder<'a> {
        SpanBuilder {
            tracer: self,
            name,
            kind: SpanKind::Internal,
            parent: None,
            start_time: None,
            links: Vec::new(),
        }
    }

    #[inline(always)]
    fn start_inner(
        &self,
        name: &str,
        kind: SpanKind,
        parent: Option<&SpanContext>,
        start_time: Option<u64>,
    ) -> Span {
        let parent = parent.filter(|p| p.is_valid());
        let shared = &*self.shared;
        // One visit to this thread's state: ids, sampling, a recording.
        let begun = LOCAL.try_with(|l| self.begin(l, parent));
        let (trace_id, span_id, begun) = match begun {
            Ok(b) => b,
            Err(_) => self.begin(&ThreadState::new(), parent),
        };
        let inherited = parent.map_or(0, |p| p.trace_flags().bits() & RANDOM_FLAG);
        let (mut rec, th) = match begun {
            Begun::Sampled(rec, th) => (rec, th),
            Begun::Out | Begun::Shed => {
                let trace_state = parent.map_or(TraceState::EMPTY, |p| p.trace_state().clone());
                let flags = TraceFlags::new(inherited);
                let ctx = SpanContext::new(trace_id, span_id, flags, false, trace_state);
                let ctx = if matches!(begun, Begun::Shed) {
                    ctx.into_shed()
                } else {
                    ctx
                };
                return Span { ctx, rec: None };
            }
        };
        let flags = TraceFlags::new(inherited).with_sampled(true);
        let trace_state = self.trace_state(parent, th);
        let ctx = SpanContext::new(trace_id, span_id, flags, false, trace_state);
        let parent_remote = parent.is_some_and(SpanContext::is_remote);
        let parent_id = parent.map(SpanContext::span_id);
        let start = match start_time {
            Some(t) => (None, t),
            None => {
                let (raw, unix) = clock::now();
                (Some(raw), unix)
            }
        };
        rec.begin(
            shared.id,
            shared.limits.max_attributes_per_span,
            shared.limits.max_attribute_value_length.unwrap_or(u32::MAX),
            otlp_flags(flags, parent_remote),
            self.scope,
            start,
        );
        rec.layout = put_span_start(
            &mut *rec,
            &SpanStart {
                trace_id: &trace_id,
                span_id: &span_id,
                trace_state: ctx.trace_state().as_str(),
                parent_span_id: parent_id.as_ref(),
                name,
                kind,
                start_time_unix_nano: start.1,
            },
        );
        Span {
            ctx,
            rec: Some(rec),
        }
    }

    /// The trace state a sampled span carries: its parent's, with `th` set
    /// or erased as the decision says. A root's `ot=th:...` is built once
    /// (the sampler's threshold, or a shedding level) and interned, so
    /// cloning it touches no reference count (every recording thread
    /// clones it); only a parent's trace state that needs a new `th` is
    /// copied.
    ///
    /// Hot path (runs per sampled span start): no allocation but for a
    /// new `th` in a parent's state. Always inlined: left to the compiler,
    /// it stays out of line (a call and ten instructions per span).
    #[inline(always)]
    fn trace_state(&self, parent: Option<&SpanContext>, th: Th) -> TraceState {
        let inherited = parent.map_or(TraceState::EMPTY, |p| p.trace_state().clone());
        match th {
            Th::Keep | Th::Implicit(_) => inherited,
            Th::Set(t) => {
                if inherited.is_empty() {
                    let shared = &*self.shared;
                    if let Some((own, state)) = &shared.sampler_state {
                        if *own == t {
                            return state.clone();
                        }
                    }
                    if let Some(state) = shared.shed.root_state(t) {
                        return state.clone();
                    }
                }
                with_threshold(&inherited, Some(t))
            }
            Th::Erase => with_threshold(&inherited, None),
        }
    }

    /// The ids and the decision: sampled (with a pooled recording, a slot
    /// in this thread's log to write it in, and the `th` to carry), sampled
    /// out, or shed (see [`crate::shed`]: decided where the trace enters
    /// this process, followed by its local children).
    ///
    /// Hot path (runs per span start): no lock, no atomic but once per
    /// bundle of recordings and per chunk, one relaxed load of the shedding
    /// threshold for a sampled span whose parent is not a local sampled
    /// span, and one read-modify-write per 16 sampled spans while shedding
    /// is on.
    #[inline(always)]
    fn begin(&self, l: &ThreadState, parent: Option<&SpanContext>) -> (TraceId, SpanId, Begun) {
        let shared = &self.shared;
        let (trace_id, span_id) = match parent {
            Some(p) => (p.trace_id(), l.rng.span_id()),
            None => l.rng.trace_and_span_ids(),
        };
        if parent.is_some_and(SpanContext::is_shed) {
            // Its trace was shed: so is every span of it started here.
            l.count_shed(shared);
            return (trace_id, span_id, Begun::Shed);
        }
        let Some(mut th) = shared.sampler.decide(parent, &trace_id) else {
            l.count_sampled_out(shared);
            return (trace_id, span_id, Begun::Out);
        };
        if shared.shed.enabled() {
            // A local sampled parent decided for its trace already.
            if !parent.is_some_and(|p| p.is_sampled() && !p.is_remote()) {
                let s = shared.shed.threshold();
                if s != 0 {
                    let r = match parent {
                        Some(p) => randomness(&trace_id, p.trace_state()),
                        None => randomness(&trace_id, &TraceState::EMPTY),
                    };
                    if r < s {
                        l.count_shed(shared);
                        return (trace_id, span_id, Begun::Shed);
                    }
                    th = Shed::raise(th, s);
                }
            }
        }
        let mut rec = l.take_recording(&shared.bufs);
        l.begin_slot(shared, self.scope, &mut rec.slot);
        (trace_id, span_id, Begun::Sampled(rec, th))
    }
}

/// What [`Tracer::begin`] decided.
enum Begun {
    /// Sampled: the span's pooled recording (with its slot, unless it
    /// writes into its own buffer) and the `th` it carries.
    Sampled(Box<Recording>, Th),
    /// Not sampled.
    Out,
    /// Shed under overload (counted recorded and shed).
    Shed,
}

/// Options for a span that [`Tracer::start`] does not cover.
pub struct SpanBuilder<'a> {
    tracer: &'a Tracer,
    name: &'a str,
    kind: SpanKind,
    parent: Option<&'a SpanContext>,
    start_time: Option<u64>,
    links: Vec<(&'a SpanContext, &'a [(&'a str, ValueRef<'a>)])>,
}

impl<'a> SpanBuilder<'a> {
    /// The span's kind (default `Internal`).
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// The parent context.
    pub fn parent(mut self, parent: &'a SpanContext) -> Self {
        self.parent = Some(parent);
        self
    }

    /// An explicit start time.
    pub fn start_time(mut self, t: SystemTime) -> Self {
        self.start_time = Some(clock::to_unix_nanos(t));
        self
    }

    /// Adds a link (available to the sampler's caller at creation, as
    /// OpenTelemetry recommends).
    pub fn link(mut self, ctx: &'a SpanContext, attributes: &'a [(&'a str, ValueRef<'a>)]) -> Self {
        self.links.push((ctx, attributes));
        self
    }

    /// Starts the span.
    pub fn start(self) -> Span {
        let mut span = self
            .tracer
            .start_inner(self.name, self.kind, self.parent, self.start_time);
        for (ctx, attrs) in self.links {
            span.add_link(ctx, attrs);
        }
        span
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Span;
    use super::Tracer;
    use crate::model::{SpanKind, SpanLimits};
    use crate::priority::WorkerPriority;
    use crate::sampling::Sampler;
    use crate::shared::Shared;

    #[test]
    fn roots_kept_by_the_probability_sampler_share_no_count() {
        // Every root the sampler keeps, on every thread, carries its
        // `ot=th:...`: cloned through one reference count, that count
        // would be a cache line all recording threads write twice per
        // span. It is interned instead; children inherit it as it is.
        let limits = SpanLimits::default();
        let sampler = Sampler::probability(1.0);
        let shared = Shared::new(64, 16, sampler, limits, false, WorkerPriority::default());
        let tracer = Tracer::new(Arc::new(shared), 0);
        let roots: Vec<Span> = (0..3)
            .map(|_| tracer.start("root", SpanKind::Server))
            .collect();
        for root in &roots {
            let state = root.context().trace_state();
            assert_eq!(state.as_str(), "ot=th:0");
            assert!(state.is_constant(), "{state:?}");
            let child = tracer.start_with_parent("child", SpanKind::Client, Some(root.context()));
            assert!(child.context().trace_state().is_constant());
            assert_eq!(child.context().trace_state(), state);
        }
        // The same on another thread, from the same interned text.
        let other = std::thread::scope(|s| {
            s.spawn(|| {
                let span = tracer.start("root", SpanKind::Server);
                span.context().trace_state().is_constant()
            })
            .join()
        });
        assert_eq!(other.ok(), Some(true));
    }

    #[test]
    fn a_consumed_span_lets_its_trace_state_go() {
        // `end` and `end_at` drop what a span owns themselves, not through
        // its drop glue: its share of the parent's trace state must still
        // go, sampled or not, ended or dropped.
        let parent = crate::propagation::extract(
            Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            [&b"vendor=opaque"[..]],
        )
        .expect("a valid traceparent");
        assert_eq!(parent.trace_state().holders(), 1);
        for sampler in [Sampler::AlwaysOn, Sampler::AlwaysOff] {
            let limits = SpanLimits::default();
            let shared = Shared::new(64, 16, sampler, limits, false, WorkerPriority::default());
            let tracer = Tracer::new(Arc::new(shared), 0);
            let ends: [fn(Span); 3] = [Span::end, |s| s.end_at(std::time::SystemTime::now()), drop];
            for end in ends {
                let span = tracer.start_with_parent("child", SpanKind::Client, Some(&parent));
                assert_eq!(span.is_recording(), sampler == Sampler::AlwaysOn);
                assert_eq!(
                    span.context().trace_state().as_str(),
                    "vendor=opaque",
                    "{sampler:?}"
                );
                assert_eq!(parent.trace_state().holders(), 2, "{sampler:?}");
                end(span);
                assert_eq!(parent.trace_state().holders(), 1, "{sampler:?}");
            }
        }
    }
}
