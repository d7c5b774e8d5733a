//! The proxy-shaped span every benchmark records, with tracewire and with
//! the OpenTelemetry SDK: name, SERVER kind, 8 HTTP attributes, status.
#![allow(dead_code)]

use opentelemetry::trace::{Span as _, SpanKind as OtelKind, Status as OtelStatus, Tracer as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::trace::SdkTracer;
use tracewire::export::{BoxFuture, ExportReport, ExportRequest, Exporter};
use tracewire::span::{SpanKind, Status};
use tracewire::Tracer;

/// Records one proxy-shaped span with tracewire.
#[inline]
pub fn tracewire_span(tracer: &Tracer, i: u64) {
    let mut s = tracer.start("GET /api/v1/users/{id}", SpanKind::Server);
    s.set_str("http.request.method", "GET");
    s.set_str("url.path", "/api/v1/users/42");
    s.set_str("url.scheme", "https");
    s.set_str("server.address", "api.example.com");
    s.set_i64("server.port", 443);
    s.set_str("client.address", "10.0.3.7");
    s.set_str(
        "user_agent.original",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    );
    s.set_i64("http.response.status_code", 200 + (i & 1) as i64);
    s.set_status(Status::OK);
    s.end();
}

/// Records the same span with the OpenTelemetry SDK.
#[inline]
pub fn otel_span(tracer: &SdkTracer, i: u64) {
    let mut s = tracer
        .span_builder("GET /api/v1/users/{id}")
        .with_kind(OtelKind::Server)
        .start(tracer);
    s.set_attribute(KeyValue::new("http.request.method", "GET"));
    s.set_attribute(KeyValue::new("url.path", "/api/v1/users/42"));
    s.set_attribute(KeyValue::new("url.scheme", "https"));
    s.set_attribute(KeyValue::new("server.address", "api.example.com"));
    s.set_attribute(KeyValue::new("server.port", 443i64));
    s.set_attribute(KeyValue::new("client.address", "10.0.3.7"));
    s.set_attribute(KeyValue::new(
        "user_agent.original",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
    ));
    s.set_attribute(KeyValue::new(
        "http.response.status_code",
        200 + (i & 1) as i64,
    ));
    s.set_status(OtelStatus::Ok);
    s.end();
}

/// A tracewire exporter that accepts every batch and keeps nothing.
pub struct Discard;

impl Exporter for Discard {
    fn export(&self, r: ExportRequest) -> BoxFuture<'_, ExportReport> {
        Box::pin(async move { ExportReport::success(r.message().len() as u64, Some(r.buffer)) })
    }
}

/// An OpenTelemetry SDK exporter that accepts every batch and keeps nothing.
#[derive(Debug)]
pub struct OtelDiscard;

impl opentelemetry_sdk::trace::SpanExporter for OtelDiscard {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}
