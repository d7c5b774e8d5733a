//! A `tracing` layer (feature `tracing`): [`TracingLayer`] records the
//! `tracing` crate's spans as tracewire spans.
//!
//! This module owns the mapping: a `tracing` span is a tracewire span
//! (INTERNAL unless its `otel.kind` field says otherwise, named by its
//! metadata or its `otel.name` field); its fields are attributes (also
//! those recorded later); an event inside it is a span event (named by its
//! `message`, the other fields its attributes); its parent is the nearest
//! recorded ancestor in the `tracing` span tree, or, for a root, the remote
//! context set with [`with_remote_parent`]. It records through [`Tracer`]
//! and never touches the pipeline, the codec or a transport.
//!
//! Everything here runs on the application's threads for every span and
//! event: no lock, no I/O, and no allocation beyond the registry's own
//! per-span extension (scratch strings are per thread and reused).
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt as _;
//! use tracewire::tracing::TracingLayer;
//! # use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
//! # struct Discard;
//! # impl Exporter for Discard {
//! #     fn export(&self, r: ExportRequest) -> BoxFuture<'_, ExportReport> {
//! #         Box::pin(async move { ExportReport::success(0, Some(r.buffer)) })
//! #     }
//! # }
//! // Pipeline::from_config(&config) in a real application.
//! let pipeline = tracewire::Pipeline::builder().exporter(Discard).start().unwrap();
//! let layer = TracingLayer::new(pipeline.tracer("my-app"))
//!     .with_level(tracing::level_filters::LevelFilter::INFO);
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     let _request = tracing::info_span!("request", otel.kind = "server", user = 7).entered();
//!     tracing::info!(cache = "miss", "looked up");
//! });
//! let stats = pipeline.shutdown(std::time::Duration::from_secs(5)).unwrap();
//! assert_eq!(stats.exported, 1);
//! ```

use std::cell::RefCell;
use std::fmt::Write as _;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, LevelFilter, Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::model::{SpanContext, SpanKind, Status, ValueRef};
use crate::record::{Span, Tracer};

/// A [`tracing_subscriber::Layer`] recording `tracing` spans with a
/// tracewire [`Tracer`].
///
/// Special fields, as `tracing-opentelemetry` reads them: `otel.kind`
/// (`server`, `client`, `producer`, `consumer`, `internal`), `otel.name`,
/// `otel.status_code` (`error`, `ok`), `otel.status_message`. They set
/// the span's kind, name and status instead of becoming attributes.
///
/// ```
/// # fn f(pipeline: &tracewire::Pipeline) {
/// use tracing_subscriber::layer::SubscriberExt as _;
/// let layer = tracewire::tracing::TracingLayer::new(pipeline.tracer("app"));
/// let subscriber = tracing_subscriber::registry().with(layer);
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct TracingLayer {
    tracer: Tracer,
    level: LevelFilter,
}

impl TracingLayer {
    /// A layer recording every span and event at every level.
    ///
    /// ```
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// let layer = tracewire::tracing::TracingLayer::new(pipeline.tracer("app"));
    /// # }
    /// ```
    pub fn new(tracer: Tracer) -> Self {
        TracingLayer {
            tracer,
            level: LevelFilter::TRACE,
        }
    }

    /// Records only spans and events at `level` or more severe; a span
    /// below it is skipped and its children attach to its nearest recorded
    /// ancestor. (A `tracing_subscriber` per-layer filter,
    /// `layer.with_filter(...)`, works too.)
    ///
    /// ```
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// use tracing::level_filters::LevelFilter;
    /// let layer = tracewire::tracing::TracingLayer::new(pipeline.tracer("app")).with_level(LevelFilter::INFO);
    /// # }
    /// ```
    pub fn with_level(mut self, level: LevelFilter) -> Self {
        self.level = level;
        self
    }

    fn wants(&self, meta: &Metadata<'_>) -> bool {
        *meta.level() <= self.level
    }
}

/// The tracewire span of a `tracing` span (its registry extension).
struct Recorded(Span);

thread_local! {
    /// The remote parent for root spans created in [`with_remote_parent`].
    static REMOTE_PARENT: RefCell<Option<SpanContext>> = const { RefCell::new(None) };
    /// Scratch for `Debug`-formatted values (reused: no allocation once
    /// warm).
    static SCRATCH: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` with `parent` (a context extracted from incoming headers with
/// [`crate::propagation::extract_from_headers`]) as the parent of every
/// root `tracing` span created in it, on this thread.
///
/// ```
/// # fn f(headers: &http::HeaderMap) {
/// let parent = tracewire::propagation::extract_from_headers(headers);
/// let span = match &parent {
///     Some(p) => tracewire::tracing::with_remote_parent(p, || tracing::info_span!("request")),
///     None => tracing::info_span!("request"),
/// };
/// # }
/// ```
pub fn with_remote_parent<R>(parent: &SpanContext, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<SpanContext>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            REMOTE_PARENT.with(|p| *p.borrow_mut() = previous);
        }
    }
    let previous = REMOTE_PARENT.with(|p| p.borrow_mut().replace(parent.clone()));
    let _restore = Restore(previous);
    f()
}

/// Formats `value` into this thread's scratch string and hands it to `f`.
fn with_debug<R>(value: &dyn std::fmt::Debug, f: impl FnOnce(&str) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut s) => {
            s.clear();
            let _ = write!(s, "{value:?}");
            f(&s)
        }
        Err(_) => f(&format!("{value:?}")),
    })
}

fn kind_of(s: &str) -> Option<SpanKind> {
    Some(match s {
        "server" | "SERVER" | "Server" => SpanKind::Server,
        "client" | "CLIENT" | "Client" => SpanKind::Client,
        "producer" | "PRODUCER" | "Producer" => SpanKind::Producer,
        "consumer" | "CONSUMER" | "Consumer" => SpanKind::Consumer,
        "internal" | "INTERNAL" | "Internal" => SpanKind::Internal,
        _ => return None,
    })
}

/// Finds `otel.kind` and `otel.name` before the span starts.
#[derive(Default)]
struct StartFields {
    kind: Option<SpanKind>,
    name: Option<String>,
}

impl Visit for StartFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "otel.kind" => self.kind = kind_of(value),
            "otel.name" => self.name = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "otel.kind" | "otel.name" => with_debug(value, |s| self.record_str(field, s)),
            _ => {}
        }
    }
}

/// Writes fields onto a span as attributes (or kind/name/status for the
/// `otel.*` fields).
struct SpanFields<'a>(&'a mut Span);

impl SpanFields<'_> {
    fn special(&mut self, field: &Field, value: &str) -> bool {
        match field.name() {
            "otel.kind" => true,
            "otel.name" => {
                self.0.update_name(value);
                true
            }
            "otel.status_code" => {
                if value.eq_ignore_ascii_case("error") {
                    self.0.set_status(Status::error(""));
                } else if value.eq_ignore_ascii_case("ok") {
                    self.0.set_status(Status::OK);
                }
                true
            }
            "otel.status_message" => {
                self.0.set_status(Status::error(value.to_owned()));
                true
            }
            _ => false,
        }
    }
}

impl Visit for SpanFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.special(field, value) {
            self.0.set_str(field.name(), value);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.set_i64(field.name(), value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.0.set_i64(field.name(), v),
            Err(_) => with_debug(&value, |s| self.0.set_str(field.name(), s)),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.set_f64(field.name(), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.set_bool(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        with_debug(value, |s| {
            if !self.special(field, s) {
                self.0.set_str(field.name(), s);
            }
        });
    }
}

/// The most attributes an event keeps (the rest are left out).
const MAX_EVENT_FIELDS: usize = 16;

/// Collects an event's fields. Strings are kept in one buffer, as ranges.
#[derive(Default)]
struct EventFields {
    strings: String,
    message: Option<std::ops::Range<usize>>,
    fields: Vec<(&'static str, Value)>,
}

#[derive(Clone, Copy)]
enum Value {
    Str(usize, usize),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl EventFields {
    fn push(&mut self, field: &Field, v: Value) {
        if self.fields.len() < MAX_EVENT_FIELDS {
            self.fields.push((field.name(), v));
        }
    }

    fn push_str(&mut self, field: &Field, s: &str) {
        let start = self.strings.len();
        self.strings.push_str(s);
        let range = start..self.strings.len();
        if field.name() == "message" {
            self.message = Some(range);
        } else {
            self.push(field, Value::Str(range.start, range.end));
        }
    }
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push_str(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match i64::try_from(value) {
            Ok(v) => self.push(field, Value::I64(v)),
            Err(_) => self.record_debug(field, &value),
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let start = self.strings.len();
        let _ = write!(self.strings, "{value:?}");
        let range = start..self.strings.len();
        if field.name() == "message" {
            self.message = Some(range);
        } else {
            self.push(field, Value::Str(range.start, range.end));
        }
    }
}

thread_local! {
    /// An event's fields, reused per thread.
    static EVENT: RefCell<EventFields> = RefCell::new(EventFields::default());
}

/// The tracewire context of `id`'s nearest recorded span, itself included.
fn recorded_context<S>(ctx: &Context<'_, S>, id: &Id) -> Option<SpanContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.span_scope(id)?.find_map(|span| {
        span.extensions()
            .get::<Recorded>()
            .map(|r| r.0.context().clone())
    })
}

impl<S> tracing_subscriber::Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if !self.wants(meta) {
            return;
        }
        let local_parent = if let Some(p) = attrs.parent() {
            recorded_context(&ctx, p)
        } else if attrs.is_contextual() {
            ctx.lookup_current()
                .and_then(|p| recorded_context(&ctx, &p.id()))
        } else {
            None
        };
        let parent = local_parent.or_else(|| REMOTE_PARENT.with(|p| p.borrow().clone()));
        let mut start = StartFields::default();
        let fields = meta.fields();
        if fields.field("otel.kind").is_some() || fields.field("otel.name").is_some() {
            attrs.record(&mut start);
        }
        let name = start.name.as_deref().unwrap_or(meta.name());
        let mut span = self.tracer.start_with_parent(
            name,
            start.kind.unwrap_or(SpanKind::Internal),
            parent.as_ref(),
        );
        if span.is_recording() {
            attrs.record(&mut SpanFields(&mut span));
        }
        if let Some(s) = ctx.span(id) {
            s.extensions_mut().insert(Recorded(span));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(s) = ctx.span(id) {
            if let Some(Recorded(span)) = s.extensions_mut().get_mut::<Recorded>() {
                if span.is_recording() {
                    values.record(&mut SpanFields(span));
                }
            }
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(target) = recorded_context(&ctx, follows) else {
            return;
        };
        if let Some(s) = ctx.span(id) {
            if let Some(Recorded(span)) = s.extensions_mut().get_mut::<Recorded>() {
                span.add_link(&target, &[]);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !self.wants(event.metadata()) {
            return;
        }
        let Some(start) = ctx.event_span(event) else {
            return;
        };
        // The nearest recorded span, the event's own first.
        let Some(span) = start
            .scope()
            .find(|s| s.extensions().get::<Recorded>().is_some())
        else {
            return;
        };
        let mut ext = span.extensions_mut();
        let Some(Recorded(target)) = ext.get_mut::<Recorded>() else {
            return;
        };
        if !target.is_recording() {
            return;
        }
        EVENT.with(|e| {
            let Ok(mut e) = e.try_borrow_mut() else {
                return;
            };
            e.strings.clear();
            e.fields.clear();
            e.message = None;
            event.record(&mut *e);
            let e = &*e;
            let mut attrs: [(&str, ValueRef<'_>); MAX_EVENT_FIELDS + 1] =
                [("", ValueRef::Bool(false)); MAX_EVENT_FIELDS + 1];
            attrs[0] = ("level", ValueRef::Str(event.metadata().level().as_str()));
            let mut n = 1;
            for (k, v) in &e.fields {
                attrs[n] = (
                    k,
                    match *v {
                        Value::Str(a, b) => ValueRef::Str(&e.strings[a..b]),
                        Value::I64(i) => ValueRef::I64(i),
                        Value::F64(f) => ValueRef::F64(f),
                        Value::Bool(b) => ValueRef::Bool(b),
                    },
                );
                n += 1;
            }
            let name = match &e.message {
                Some(r) => &e.strings[r.clone()],
                None => event.metadata().name(),
            };
            target.add_event(name, &attrs[..n]);
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(s) = ctx.span(&id) {
            if let Some(Recorded(span)) = s.extensions_mut().remove::<Recorded>() {
                span.end();
            }
        }
    }
}
