//! tower middleware (feature `tower`): a SERVER span per incoming request
//! ([`TraceLayer`]) and a CLIENT span per outgoing one
//! ([`ClientTraceLayer`]), for hyper, axum and tower services and proxies.
//!
//! This module owns the HTTP semantic conventions (stable attribute names),
//! Traefik's `capturedRequestHeaders` / `capturedResponseHeaders` /
//! `safeQueryParams` handling, and the W3C context hand-over between the
//! two layers: the server layer puts its span's
//! [`SpanContext`](crate::SpanContext) in the request's extensions, where
//! handlers (and the client layer, when the outgoing request carries it)
//! find their parent. It records through [`Tracer`](crate::Tracer) and
//! never touches the pipeline, the codec or a transport.
//!
//! - `server`: [`TraceLayer`], [`TraceService`], the SERVER span;
//! - `client`: [`ClientTraceLayer`], [`ClientTraceService`], the CLIENT
//!   span;
//! - `semconv`: what both share (attribute values, Traefik's options, the
//!   per-thread scratch string).
//!
//! Per request (the hot path) the layers must never lock, block or do I/O;
//! an unsampled request costs the context (extract, inject, one extension)
//! and nothing else: no attribute is looked at.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use tower::{service_fn, Layer, ServiceExt};
//! use tracewire::tower::TraceLayer;
//! use tracewire::{model::SpanContext, Pipeline};
//!
//! # use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
//! # struct Discard;
//! # impl Exporter for Discard {
//! #     fn export(&self, r: ExportRequest) -> BoxFuture<'_, ExportReport> {
//! #         Box::pin(async move { ExportReport::success(0, Some(r.buffer)) })
//! #     }
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let config = tracewire::config::Config::default();
//! // Pipeline::from_config(&config) in a real proxy.
//! let pipeline = Pipeline::builder().exporter(Discard).start().unwrap();
//! let layer = TraceLayer::new(pipeline.tracer("my-proxy"))
//!     .config(&config)
//!     .route(|uri, _ext| uri.path().starts_with("/users/").then_some("/users/{id}".into()));
//! let svc = layer.layer(service_fn(|req: Request<String>| async move {
//!     // The SERVER span's context: a handler's children start under it.
//!     assert!(req.extensions().get::<SpanContext>().is_some());
//!     Ok::<_, Infallible>(Response::new(String::new()))
//! }));
//! let resp = svc.oneshot(Request::get("/users/7").body(String::new()).unwrap()).await.unwrap();
//! assert_eq!(resp.status(), 200);
//! # });
//! ```

mod client;
mod semconv;
mod server;

pub use client::{ClientResponseFuture, ClientTraceLayer, ClientTraceService};
pub use server::{ClientAddr, ResponseFuture, RouteFn, TraceLayer, TraceService};
