//! Recording: the proxy-facing API ([`Tracer`], [`Span`], [`SpanBuilder`])
//! and the per-thread state behind it.
//!
//! - `tracer`: starting spans (ids, sampling, the fields known at start);
//! - `recording`: a sampled span's state while it is recorded (pooled);
//! - `span`: setting fields and ending a span;
//! - `thread`: each recording thread's ids, counter stripe, pipeline
//!   handles and cache of pooled recordings.
//!
//! Everything here runs on the proxy's threads, per span: it must never
//! block, do I/O, lock, or allocate once warm. When the queue is full a
//! span is dropped and counted, never waited for.

mod recording;
mod span;
mod thread;
mod tracer;

pub use span::Span;
pub use tracer::{SpanBuilder, Tracer};
