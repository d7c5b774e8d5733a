//! The client side: [`ClientTraceLayer`] wraps an HTTP client service in
//! [`ClientTraceService`], which starts a CLIENT span per outgoing request
//! under the [`SpanContext`](crate::SpanContext) found in the request's
//! extensions, injects the span's `traceparent` / `tracestate`, and ends
//! the span with the response's status (or the transport error).
//!
//! Per request: no lock, no blocking; attributes only when sampled.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::semconv::{
    end_with, host_and_port, parent_of, protocol_version, push_redacted_query, record_headers,
    with_scratch, HttpOptions,
};
use crate::config::Config;
use crate::model::SpanKind;
use crate::propagation::baggage::Baggage;
use crate::record::{Span, Tracer};

struct Shared {
    tracer: Tracer,
    options: HttpOptions,
    scheme: &'static str,
}

/// A [`tower_layer::Layer`] that traces each outgoing request as a CLIENT
/// span, child of the [`SpanContext`](crate::SpanContext) in the
/// request's extensions (a root span when there is none), and injects its
/// context as `traceparent` / `tracestate`.
///
/// The span is named `METHOD` and has `http.request.method`,
/// `server.address`, `server.port`, `url.full` (only `safeQueryParams`
/// shown), `network.protocol.version`, `http.response.status_code`, the
/// captured headers, and an error status on a 4xx or 5xx answer (a
/// client's view, per the semantic conventions) or a transport error.
///
/// ```
/// # fn f(pipeline: &tracewire::Pipeline, config: &tracewire::config::Config) {
/// let layer = tracewire::tower::ClientTraceLayer::new(pipeline.tracer("proxy")).config(config);
/// # }
/// ```
#[derive(Clone)]
pub struct ClientTraceLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ClientTraceLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTraceLayer")
            .field("tracer", &self.shared.tracer)
            .field("options", &self.shared.options)
            .finish()
    }
}

impl ClientTraceLayer {
    /// A layer recording with `tracer`, no header captured, every query
    /// value redacted, scheme `http` for URIs without one.
    ///
    /// ```
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// let layer = tracewire::tower::ClientTraceLayer::new(pipeline.tracer("proxy"));
    /// # }
    /// ```
    pub fn new(tracer: Tracer) -> Self {
        ClientTraceLayer {
            shared: Arc::new(Shared {
                tracer,
                options: HttpOptions::default(),
                scheme: "http",
            }),
        }
    }

    /// Takes Traefik's `capturedRequestHeaders`, `capturedResponseHeaders`
    /// and `safeQueryParams` from `config`.
    ///
    /// ```
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// let config = tracewire::config::Config::default();
    /// let layer = tracewire::tower::ClientTraceLayer::new(pipeline.tracer("proxy")).config(&config);
    /// # }
    /// ```
    pub fn config(self, config: &Config) -> Self {
        ClientTraceLayer {
            shared: Arc::new(Shared {
                tracer: self.shared.tracer.clone(),
                options: HttpOptions::from_config(config),
                scheme: self.shared.scheme,
            }),
        }
    }

    /// The scheme of `url.full` when the request's URI has none (an
    /// origin-form URI sent with a `Host` header).
    ///
    /// ```
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// let layer = tracewire::tower::ClientTraceLayer::new(pipeline.tracer("proxy")).scheme("https");
    /// # }
    /// ```
    pub fn scheme(self, scheme: &'static str) -> Self {
        ClientTraceLayer {
            shared: Arc::new(Shared {
                tracer: self.shared.tracer.clone(),
                options: self.shared.options.clone(),
                scheme,
            }),
        }
    }
}

impl<S> Layer<S> for ClientTraceLayer {
    type Service = ClientTraceService<S>;

    fn layer(&self, inner: S) -> ClientTraceService<S> {
        ClientTraceService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`ClientTraceLayer`] makes.
///
/// ```
/// # fn f(pipeline: &tracewire::Pipeline) {
/// use tower_layer::Layer;
/// let svc: tracewire::tower::ClientTraceService<()> =
///     tracewire::tower::ClientTraceLayer::new(pipeline.tracer("proxy")).layer(());
/// # }
/// ```
#[derive(Clone)]
pub struct ClientTraceService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for ClientTraceService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTraceService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Starts the CLIENT span for `req` and records the request's fields.
    /// Hot path: no allocation once warm, no lock.
    fn start<B>(&self, req: &Request<B>) -> Span {
        let parent = parent_of(req.extensions());
        let mut span =
            self.tracer
                .start_with_parent(req.method().as_str(), SpanKind::Client, parent);
        if !span.is_recording() {
            return span;
        }
        span.set_str("http.request.method", req.method().as_str());
        let authority = req.uri().authority().map(|a| a.as_str()).or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        });
        if let Some(a) = authority {
            let (host, port) = host_and_port(a);
            span.set_str("server.address", host);
            let scheme = req.uri().scheme_str().unwrap_or(self.scheme);
            let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
            span.set_i64("server.port", i64::from(port));
            with_scratch(|buf| {
                buf.push_str(scheme);
                buf.push_str("://");
                buf.push_str(a);
                buf.push_str(req.uri().path());
                if let Some(q) = req.uri().query() {
                    buf.push('?');
                    push_redacted_query(buf, q, &self.options.safe_query_params);
                }
                span.set_str("url.full", buf);
            });
        }
        span.set_str("network.protocol.version", protocol_version(req.version()));
        record_headers(&mut span, &self.options.request_headers, req.headers());
        span
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ClientTraceService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ClientResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let span = self.shared.start(&req);
        let baggage = req
            .extensions()
            .get::<Baggage>()
            .cloned()
            .unwrap_or_default();
        self.shared
            .options
            .propagators
            .inject(span.context(), &baggage, req.headers_mut());
        ClientResponseFuture {
            inner: self.inner.call(req),
            span: Some(span),
            shared: self.shared.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`ClientTraceService`]: ends the CLIENT span
    /// when the response (or the transport error) arrives.
    pub struct ClientResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
        shared: Arc<Shared>,
    }
}

impl<F> std::fmt::Debug for ClientResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for ClientResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
    E: std::fmt::Display,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(r) => r,
        };
        if let Some(span) = this.span.take() {
            end_with(span, &this.shared.options.response_headers, &result, true);
        }
        Poll::Ready(result)
    }
}
