//! The server side: [`TraceLayer`] wraps a service in [`TraceService`],
//! which starts a SERVER span per request under the incoming
//! `traceparent` / `tracestate`, hands its context to the inner service in
//! the request's extensions, and ends it when the response (or the error)
//! comes back.
//!
//! Per request: no lock, no blocking; attributes only when sampled.

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::semconv::{
    end_with, host_and_port, protocol_version, push_redacted_query, record_headers, span_name,
    with_scratch, HttpOptions, Route,
};
use crate::config::Config;
use crate::model::SpanKind;
use crate::propagation::baggage::Baggage;
use crate::record::{Span, Tracer};

/// A route extractor: the request's URI and extensions to a low-cardinality
/// route template (`/users/{id}`), or `None` to name the span by the
/// method alone.
pub type RouteFn =
    Arc<dyn for<'a> Fn(&'a http::Uri, &'a http::Extensions) -> Route<'a> + Send + Sync>;

/// The peer's address, for `client.address`: put it in the request's
/// extensions before the layer sees it (hyper does not; a
/// `service_fn` per connection can, as `examples/proxy.rs` does).
///
/// ```
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(tracewire::tower::ClientAddr("10.0.0.1:5000".parse().unwrap()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

struct Shared {
    tracer: Tracer,
    options: HttpOptions,
    route: Option<RouteFn>,
    scheme: &'static str,
}

/// A [`tower_layer::Layer`] that traces each request as a SERVER span.
///
/// The span:
/// - is a child of the incoming `traceparent` / `tracestate` (a root
///   otherwise);
/// - is named `METHOD route` when the [`route`](TraceLayer::route)
///   extractor gives a route, `METHOD` otherwise (never the raw path);
/// - has the stable HTTP semantic-convention attributes:
///   `http.request.method`, `url.scheme`, `url.path`, `url.query` (only
///   `safeQueryParams` shown, other values `REDACTED`),
///   `http.response.status_code`, `server.address` / `server.port` (from
///   `Host`), `client.address` / `client.port` (from [`ClientAddr`]),
///   `user_agent.original`, `network.protocol.version`, and the captured
///   headers as string arrays (`http.request.header.<name>`,
///   `http.response.header.<name>`);
/// - has an error status on a 5xx answer or an error from the inner
///   service;
/// - puts its [`SpanContext`](crate::SpanContext) in the request's
///   extensions before calling the inner service.
///
/// ```
/// # fn f(pipeline: &tracewire::Pipeline, config: &tracewire::config::Config) {
/// let layer = tracewire::tower::TraceLayer::new(pipeline.tracer("proxy")).config(config);
/// # }
/// ```
#[derive(Clone)]
pub struct TraceLayer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TraceLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceLayer")
            .field("tracer", &self.shared.tracer)
            .field("options", &self.shared.options)
            .field("route", &self.shared.route.is_some())
            .field("scheme", &self.shared.scheme)
            .finish()
    }
}

impl TraceLayer {
    /// A layer recording with `tracer`, no header captured, every query
    /// value redacted, no route, scheme `http`.
    ///
    /// ```
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// let layer = tracewire::tower::TraceLayer::new(pipeline.tracer("proxy"));
    /// # }
    /// ```
    pub fn new(tracer: Tracer) -> Self {
        TraceLayer {
            shared: Arc::new(Shared {
                tracer,
                options: HttpOptions::default(),
                route: None,
                scheme: "http",
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Shared)) -> Self {
        match Arc::get_mut(&mut self.shared) {
            Some(s) => f(s),
            None => {
                let mut s = Shared {
                    tracer: self.shared.tracer.clone(),
                    options: self.shared.options.clone(),
                    route: self.shared.route.clone(),
                    scheme: self.shared.scheme,
                };
                f(&mut s);
                self.shared = Arc::new(s);
            }
        }
        self
    }

    /// Takes Traefik's `capturedRequestHeaders`, `capturedResponseHeaders`
    /// and `safeQueryParams` from `config`.
    ///
    /// ```
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// let mut config = tracewire::config::Config::default();
    /// config.captured_request_headers = vec!["X-Request-Id".into()];
    /// let layer = tracewire::tower::TraceLayer::new(pipeline.tracer("proxy")).config(&config);
    /// # }
    /// ```
    pub fn config(self, config: &Config) -> Self {
        let options = HttpOptions::from_config(config);
        self.edit(|s| s.options = options)
    }

    /// Names spans `METHOD route` with the route `f` gives (a template such
    /// as `/users/{id}`, low cardinality); `None` falls back to `METHOD`.
    ///
    /// ```
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// let layer = tracewire::tower::TraceLayer::new(pipeline.tracer("proxy"))
    ///     .route(|uri, _ext| (uri.path() == "/health").then_some("/health".into()));
    /// # }
    /// ```
    pub fn route<F>(self, f: F) -> Self
    where
        F: for<'a> Fn(&'a http::Uri, &'a http::Extensions) -> Option<Cow<'a, str>>
            + Send
            + Sync
            + 'static,
    {
        let f: RouteFn = Arc::new(f);
        self.edit(|s| s.route = Some(f))
    }

    /// `url.scheme` when the request's URI has none (`https` behind TLS).
    ///
    /// ```
    /// # fn f(pipeline: &tracewire::Pipeline) {
    /// let layer = tracewire::tower::TraceLayer::new(pipeline.tracer("proxy")).scheme("https");
    /// # }
    /// ```
    pub fn scheme(self, scheme: &'static str) -> Self {
        self.edit(|s| s.scheme = scheme)
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> TraceService<S> {
        TraceService {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`TraceLayer`] makes.
///
/// ```
/// # fn f(pipeline: &tracewire::Pipeline) {
/// use tower_layer::Layer;
/// let svc: tracewire::tower::TraceService<()> =
///     tracewire::tower::TraceLayer::new(pipeline.tracer("proxy")).layer(());
/// # }
/// ```
#[derive(Clone)]
pub struct TraceService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for TraceService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Starts the SERVER span for `req` and records the request's fields.
    /// Hot path: no allocation once warm, no lock.
    fn start<B>(&self, req: &Request<B>) -> (Span, Baggage) {
        let found = self.options.propagators.extract(req.headers());
        let parent = found.context;
        let route = self
            .route
            .as_ref()
            .and_then(|f| f(req.uri(), req.extensions()));
        let mut span = with_scratch(|buf| {
            let name = span_name(buf, req.method(), route.as_deref());
            self.tracer
                .start_with_parent(name, SpanKind::Server, parent.as_ref())
        });
        if !span.is_recording() {
            return (span, found.baggage);
        }
        span.set_str("http.request.method", req.method().as_str());
        span.set_str("url.scheme", req.uri().scheme_str().unwrap_or(self.scheme));
        span.set_str("url.path", req.uri().path());
        if let Some(q) = req.uri().query() {
            with_scratch(|buf| {
                push_redacted_query(buf, q, &self.options.safe_query_params);
                span.set_str("url.query", buf);
            });
        }
        if let Some(r) = &route {
            span.set_str("http.route", r);
        }
        let authority = req.uri().authority().map(|a| a.as_str()).or_else(|| {
            req.headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        });
        if let Some(a) = authority {
            let (host, port) = host_and_port(a);
            span.set_str("server.address", host);
            if let Some(p) = port {
                span.set_i64("server.port", i64::from(p));
            }
        }
        if let Some(ClientAddr(peer)) = req.extensions().get::<ClientAddr>() {
            with_scratch(|buf| {
                use std::fmt::Write as _;
                let _ = write!(buf, "{}", peer.ip());
                span.set_str("client.address", buf);
            });
            span.set_i64("client.port", i64::from(peer.port()));
        }
        if let Some(ua) = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
        {
            span.set_str("user_agent.original", ua);
        }
        span.set_str("network.protocol.version", protocol_version(req.version()));
        record_headers(&mut span, &self.options.request_headers, req.headers());
        (span, found.baggage)
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for TraceService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: std::fmt::Display,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let (span, baggage) = self.shared.start(&req);
        req.extensions_mut().insert(span.context().clone());
        if !baggage.is_empty() {
            // For the client layer to carry on unchanged.
            req.extensions_mut().insert(baggage);
        }
        ResponseFuture {
            inner: self.inner.call(req),
            span: Some(span),
            shared: self.shared.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`TraceService`]: ends the SERVER span when
    /// the inner service answers (or when dropped unanswered).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<Span>,
        shared: Arc<Shared>,
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
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
            end_with(span, &this.shared.options.response_headers, &result, false);
        }
        Poll::Ready(result)
    }
}
