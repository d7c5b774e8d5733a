//! `examples/proxy.rs --sdk`: the same proxy traced with the OpenTelemetry
//! Rust SDK and opentelemetry-otlp's gRPC exporter (tonic) instead of
//! tracewire, so `benches/proxy_latency.sh` can show what a user would
//! pick instead, through the same harness. Not how to use tracewire: see
//! the rest of `examples/proxy.rs`.
//!
//! The spans carry the same attributes as tracewire's `TraceLayer` and
//! `ClientTraceLayer` give this proxy's requests (the HTTP semantic
//! conventions, the captured `X-Request-Id`, the query with only
//! `safeQueryParams` shown); the SDK runs with its defaults (batch span
//! processor: 2048 spans queued, batches of 512, 5 s delay), sampling
//! `ParentBased(TraceIdRatioBased(sampleRate))` as Traefik does.

use std::net::SocketAddr;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{
    SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

/// The SDK's tracer and what the proxy needs to record like tracewire's
/// layers do.
pub struct SdkTracing {
    pub provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
    captured: Vec<http::HeaderName>,
    safe_query: Vec<String>,
}

impl SdkTracing {
    /// Exports over OTLP/gRPC to `config`'s endpoint (plaintext), sampling
    /// `ParentBased(TraceIdRatioBased(ratio))`. Must be called inside a
    /// tokio runtime (tonic's channel spawns its task there).
    pub fn new(config: &tracewire::config::Config, ratio: f64) -> Result<SdkTracing, String> {
        let url = format!("http://{}", config.exporter.endpoint.authority());
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(url)
            .build()
            .map_err(|e| format!("opentelemetry-otlp exporter: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                ratio,
            ))))
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("tracewire-example-proxy");
        Ok(SdkTracing {
            provider,
            tracer,
            propagator: TraceContextPropagator::new(),
            captured: config
                .captured_request_headers
                .iter()
                .filter_map(|h| {
                    http::HeaderName::from_bytes(h.to_ascii_lowercase().as_bytes()).ok()
                })
                .collect(),
            safe_query: config.safe_query_params.clone(),
        })
    }

    /// Starts the SERVER span of an incoming request, from its
    /// `traceparent`.
    pub fn server(&self, req: &http::Request<impl Sized>, peer: Option<SocketAddr>) -> Context {
        let parent = self.propagator.extract(&Headers(req.headers()));
        let method = req.method().as_str().to_owned();
        let mut attrs = vec![
            KeyValue::new("http.request.method", method.clone()),
            KeyValue::new("url.scheme", "http"),
            KeyValue::new("url.path", req.uri().path().to_owned()),
            KeyValue::new("network.protocol.version", "1.1"),
        ];
        if let Some(q) = req.uri().query() {
            attrs.push(KeyValue::new("url.query", self.redact(q)));
        }
        if let Some(host) = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
        {
            let (name, port) = host.rsplit_once(':').unwrap_or((host, "80"));
            attrs.push(KeyValue::new("server.address", name.to_owned()));
            attrs.push(KeyValue::new(
                "server.port",
                port.parse::<i64>().unwrap_or(80),
            ));
        }
        if let Some(peer) = peer {
            attrs.push(KeyValue::new("client.address", peer.ip().to_string()));
            attrs.push(KeyValue::new("client.port", i64::from(peer.port())));
        }
        if let Some(ua) = req
            .headers()
            .get(http::header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
        {
            attrs.push(KeyValue::new("user_agent.original", ua.to_owned()));
        }
        for name in &self.captured {
            let values: Vec<opentelemetry::StringValue> = req
                .headers()
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok().map(|v| v.to_owned().into()))
                .collect();
            if !values.is_empty() {
                attrs.push(KeyValue::new(
                    format!("http.request.header.{name}"),
                    opentelemetry::Value::Array(values.into()),
                ));
            }
        }
        let span = self
            .tracer
            .span_builder(method)
            .with_kind(SpanKind::Server)
            .with_attributes(attrs)
            .start_with_context(&self.tracer, &parent);
        parent.with_span(span)
    }

    /// Starts the CLIENT span of the upstream call under `server` and
    /// injects its `traceparent` into `up`.
    pub fn client(
        &self,
        server: &Context,
        up: &mut http::Request<impl Sized>,
        upstream: &str,
    ) -> Context {
        let (host, port) = upstream.rsplit_once(':').unwrap_or((upstream, "80"));
        let path = up.uri().path_and_query().map_or("/", |p| p.as_str());
        let url = format!("http://{upstream}{}", self.redact_path(path));
        let span = self
            .tracer
            .span_builder(up.method().as_str().to_owned())
            .with_kind(SpanKind::Client)
            .with_attributes([
                KeyValue::new("http.request.method", up.method().as_str().to_owned()),
                KeyValue::new("server.address", host.to_owned()),
                KeyValue::new("server.port", port.parse::<i64>().unwrap_or(80)),
                KeyValue::new("url.full", url),
                KeyValue::new("network.protocol.version", "1.1"),
            ])
            .start_with_context(&self.tracer, server);
        let cx = server.with_span(span);
        self.propagator
            .inject_context(&cx, &mut HeadersMut(up.headers_mut()));
        cx
    }

    /// Ends a span with the response's status (an error from 500 up, or
    /// from 400 up for a CLIENT span, as tracewire's layers do).
    pub fn end(cx: &Context, status: Option<u16>, error_from: u16) {
        let span = cx.span();
        match status {
            Some(code) => {
                span.set_attribute(KeyValue::new("http.response.status_code", i64::from(code)));
                if code >= error_from {
                    span.set_attribute(KeyValue::new("error.type", code.to_string()));
                    span.set_status(Status::error(""));
                }
            }
            None => {
                span.set_attribute(KeyValue::new("error.type", "_OTHER"));
                span.set_status(Status::error("upstream request failed"));
            }
        }
        span.end();
    }

    /// The query with every value not in `safeQueryParams` `REDACTED`.
    fn redact(&self, query: &str) -> String {
        let mut out = String::with_capacity(query.len());
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, v)) if self.safe_query.iter().any(|s| s == k) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(v);
                }
                Some((k, _)) => {
                    out.push_str(k);
                    out.push_str("=REDACTED");
                }
                None => out.push_str(pair),
            }
        }
        out
    }

    fn redact_path(&self, path_and_query: &str) -> String {
        match path_and_query.split_once('?') {
            Some((p, q)) => format!("{p}?{}", self.redact(q)),
            None => path_and_query.to_owned(),
        }
    }
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeadersMut<'a>(&'a mut http::HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(k, v);
        }
    }
}
