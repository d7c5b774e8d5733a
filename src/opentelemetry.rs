//! An OpenTelemetry SDK span exporter (feature `opentelemetry`): an
//! application that keeps the OpenTelemetry API and SDK (its tracer, its
//! batch processor) sends through tracewire's encoder and transports,
//! configured the same way as a [`Pipeline`](crate::Pipeline) (Traefik's
//! `tracing` section, `OTEL_*`).
//!
//! This module owns the mapping from the SDK's `SpanData` to OTLP (the
//! same one `opentelemetry-otlp` makes: flags with the remote bits, a
//! status on every span, scopes grouped in order of first appearance) and
//! the hand-over of each encoded batch to a transport on a tokio runtime.
//! It never records spans and never touches the pipeline's queue.
//!
//! ```no_run
//! use opentelemetry::trace::{Tracer as _, TracerProvider as _};
//! use opentelemetry_sdk::trace::SdkTracerProvider;
//!
//! let config = tracewire::config::load_from_env().unwrap();
//! let exporter = tracewire::opentelemetry::SpanExporter::from_config(&config).unwrap();
//! let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).build();
//! provider.tracer("my-app").in_span("work", |_cx| {});
//! provider.shutdown().unwrap();
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::opentelemetry::trace as otel;
use ::opentelemetry::{Array, KeyValue as OtelKeyValue, Value};
use bytes::BytesMut;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::SpanData as SdkSpan;

use crate::codec::otlp::{
    encode_span, put_request, request_len, EncodedResource, EncodedScope, ScopeGroup,
};
use crate::config::Config;
use crate::export::{ExportRequest, Exporter};
use crate::fleet::Router;
use crate::model::{
    AnyValue, Event, InstrumentationScope, KeyValue, Link, Resource, SpanData, SpanId, SpanKind,
    Status, StatusCode, TraceId,
};
use crate::transport::{self, ExporterConfig, TransportError};

/// Why a [`SpanExporter`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The transport could not be set up (TLS files, endpoint).
    #[error("tracewire exporter: {0}")]
    Transport(#[from] TransportError),
    /// No tokio runtime was running and one could not be started.
    #[error("tracewire exporter: cannot start a tokio runtime for the transport: {0} (build the exporter inside a tokio runtime instead)")]
    Runtime(std::io::Error),
}

/// Where the transport's futures run: the runtime current when the
/// exporter was built, or one of its own (a single worker thread).
enum Runtime {
    Shared(tokio::runtime::Handle),
    Owned(Option<tokio::runtime::Runtime>),
}

impl Runtime {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        match self {
            Runtime::Shared(h) => Some(h),
            Runtime::Owned(rt) => rt.as_ref().map(|rt| rt.handle()),
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Runtime::Owned(rt) = self {
            if let Some(rt) = rt.take() {
                // Safe to drop from async code too.
                rt.shutdown_background();
            }
        }
    }
}

/// An `opentelemetry_sdk::trace::SpanExporter` that encodes with
/// tracewire's codec and sends with its OTLP/HTTP or OTLP/gRPC transport
/// (retries, TLS, compression, headers: everything the `tracing.otlp`
/// section configures).
///
/// ```no_run
/// let mut config = tracewire::config::Config::default();
/// config.exporter = tracewire::transport::ExporterConfig::new(
///     tracewire::transport::Protocol::Grpc,
///     tracewire::transport::Endpoint::parse_grpc("collector:4317", true).unwrap(),
/// );
/// let exporter = tracewire::opentelemetry::SpanExporter::from_config(&config).unwrap();
/// ```
pub struct SpanExporter {
    transport: Arc<dyn Exporter>,
    runtime: Runtime,
    resource: EncodedResource,
    /// Encoded scopes seen so far (the SDK gives each span its scope).
    scopes: Mutex<Vec<(::opentelemetry::InstrumentationScope, Arc<EncodedScope>)>>,
    export_timeout: Duration,
    shut_down: AtomicBool,
}

impl std::fmt::Debug for SpanExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanExporter")
            .field("export_timeout", &self.export_timeout)
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

impl SpanExporter {
    /// An exporter sending as `config.exporter` says, each batch within
    /// `config.batch.export_timeout` (retries included).
    ///
    /// Built inside a tokio runtime, it sends on that runtime; otherwise it
    /// starts one of its own (one worker thread).
    ///
    /// ```no_run
    /// let config = tracewire::config::load_from_env().unwrap();
    /// let exporter = tracewire::opentelemetry::SpanExporter::from_config(&config).unwrap();
    /// ```
    pub fn from_config(config: &Config) -> Result<Self, Error> {
        Self::new(&config.exporter, config.batch.export_timeout)
    }

    /// An exporter for one transport configuration.
    ///
    /// ```no_run
    /// use tracewire::transport::{Endpoint, ExporterConfig, Protocol};
    /// let cfg = ExporterConfig::new(Protocol::Http, Endpoint::parse_http("http://localhost:4318/v1/traces").unwrap());
    /// let exporter = tracewire::opentelemetry::SpanExporter::new(&cfg, std::time::Duration::from_secs(10)).unwrap();
    /// ```
    pub fn new(exporter: &ExporterConfig, export_timeout: Duration) -> Result<Self, Error> {
        let runtime = match tokio::runtime::Handle::try_current() {
            Ok(h) => Runtime::Shared(h),
            Err(_) => Runtime::Owned(Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("tracewire-otel-export")
                    .enable_all()
                    .build()
                    .map_err(Error::Runtime)?,
            )),
        };
        let transport = {
            // The transports may spawn on the current runtime.
            let _guard = runtime.handle().map(|h| h.enter());
            transport::build(exporter)?
        };
        Ok(SpanExporter {
            transport,
            runtime,
            resource: EncodedResource::new(&Resource::default()),
            scopes: Mutex::new(Vec::new()),
            export_timeout,
            shut_down: AtomicBool::new(false),
        })
    }

    /// The encoded scope for `scope`, cached.
    fn scope(&self, scope: &::opentelemetry::InstrumentationScope) -> Arc<EncodedScope> {
        let mut scopes = crate::sync::lock(&self.scopes);
        if let Some((_, e)) = scopes.iter().find(|(s, _)| s == scope) {
            return e.clone();
        }
        let e = Arc::new(EncodedScope::new(&convert_scope(scope)));
        scopes.push((scope.clone(), e.clone()));
        e
    }

    /// One `ExportTraceServiceRequest` for `batch`, after `prefix` zero
    /// bytes: one `ScopeSpans` per scope, in order of first appearance.
    fn encode(&self, batch: Vec<SdkSpan>, prefix: usize) -> BytesMut {
        /// A scope, its SDK form, its encoded spans.
        type Group<'a> = (
            Arc<EncodedScope>,
            &'a ::opentelemetry::InstrumentationScope,
            Vec<Vec<u8>>,
        );
        let mut groups: Vec<Group<'_>> = Vec::new();
        for span in &batch {
            let mut body = Vec::new();
            encode_span(&mut body, &convert_span(span));
            match groups
                .iter_mut()
                .find(|(_, s, _)| *s == &span.instrumentation_scope)
            {
                Some((_, _, spans)) => spans.push(body),
                None => groups.push((
                    self.scope(&span.instrumentation_scope),
                    &span.instrumentation_scope,
                    vec![body],
                )),
            }
        }
        let scope_groups: Vec<ScopeGroup<'_, Vec<u8>>> = groups
            .iter()
            .map(|(scope, _, spans)| ScopeGroup { scope, spans })
            .collect();
        let len = request_len(&self.resource, &scope_groups);
        let mut out = BytesMut::with_capacity(prefix + len);
        out.resize(prefix, 0);
        put_request(&mut out, &self.resource, &scope_groups);
        out
    }
}

impl opentelemetry_sdk::trace::SpanExporter for SpanExporter {
    async fn export(&self, batch: Vec<SdkSpan>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        if batch.is_empty() {
            return Ok(());
        }
        let Some(handle) = self.runtime.handle() else {
            return Err(OTelSdkError::AlreadyShutdown);
        };
        let prefix = self.transport.prefix_len();
        let deadline = Instant::now() + self.export_timeout;
        // With a fleet, each trace goes to its member (as the pipeline's
        // worker routes them): one request per member.
        let mut router = Router::default();
        if let Some(m) = self.transport.members() {
            m.route(&mut router);
        }
        let parts: Vec<(usize, Vec<SdkSpan>)> = if !router.is_routing() {
            vec![(router.member_of_trace(&[0; 16]), batch)]
        } else {
            let mut parts: Vec<(usize, Vec<SdkSpan>)> = Vec::new();
            for span in batch {
                let member = router.member_of_trace(&span.span_context.trace_id().to_bytes());
                match parts.iter_mut().find(|(m, _)| *m == member) {
                    Some((_, spans)) => spans.push(span),
                    None => parts.push((member, vec![span])),
                }
            }
            parts
        };
        let mut tasks = Vec::with_capacity(parts.len());
        for (member, spans) in parts {
            let request = ExportRequest {
                spans: spans.len(),
                buffer: self.encode(spans, prefix),
                prefix,
                deadline,
                member,
            };
            let transport = self.transport.clone();
            tasks.push(handle.spawn(async move { transport.export(request).await }));
        }
        let mut failure = None;
        for task in tasks {
            let report = task.await.map_err(|e| {
                OTelSdkError::InternalFailure(format!("tracewire export task: {e}"))
            })?;
            match report.result {
                Ok(()) if report.rejected == 0 => {}
                Ok(()) => {
                    failure = Some(format!(
                        "the collector rejected {} span(s)",
                        report.rejected
                    ))
                }
                Err(e) => failure = Some(e.to_string()),
            }
        }
        match failure {
            None => Ok(()),
            Some(f) => Err(OTelSdkError::InternalFailure(f)),
        }
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.resource = EncodedResource::new(&convert_resource(resource));
    }
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn convert_value(v: &Value) -> AnyValue {
    match v {
        Value::Bool(b) => AnyValue::Bool(*b),
        Value::I64(i) => AnyValue::Int(*i),
        Value::F64(f) => AnyValue::Double(*f),
        Value::String(s) => AnyValue::String(s.as_str().to_owned()),
        Value::Array(Array::Bool(a)) => {
            AnyValue::Array(a.iter().map(|b| AnyValue::Bool(*b)).collect())
        }
        Value::Array(Array::I64(a)) => {
            AnyValue::Array(a.iter().map(|i| AnyValue::Int(*i)).collect())
        }
        Value::Array(Array::F64(a)) => {
            AnyValue::Array(a.iter().map(|f| AnyValue::Double(*f)).collect())
        }
        Value::Array(Array::String(a)) => AnyValue::Array(
            a.iter()
                .map(|s| AnyValue::String(s.as_str().to_owned()))
                .collect(),
        ),
        // Types added to the API later: their display form.
        other => AnyValue::String(other.to_string()),
    }
}

fn convert_kvs(kvs: &[OtelKeyValue]) -> Vec<KeyValue> {
    kvs.iter()
        .map(|kv| KeyValue {
            key: kv.key.as_str().to_owned(),
            value: convert_value(&kv.value),
        })
        .collect()
}

/// `SpanFlags`: the W3C trace flags, plus "has is-remote" and "is remote"
/// (bits 8 and 9), as opentelemetry-otlp sets them.
fn span_flags(is_remote: bool, trace_flags: otel::TraceFlags) -> u32 {
    u32::from(trace_flags.to_u8()) | 0x100 | if is_remote { 0x200 } else { 0 }
}

fn convert_span(s: &SdkSpan) -> SpanData {
    let ctx = &s.span_context;
    SpanData {
        trace_id: TraceId::from_bytes(ctx.trace_id().to_bytes()),
        span_id: SpanId::from_bytes(ctx.span_id().to_bytes()),
        trace_state: ctx.trace_state().header(),
        parent_span_id: (s.parent_span_id != otel::SpanId::INVALID)
            .then(|| SpanId::from_bytes(s.parent_span_id.to_bytes())),
        flags: span_flags(s.parent_span_is_remote, ctx.trace_flags()),
        name: s.name.to_string(),
        kind: match s.span_kind {
            otel::SpanKind::Client => SpanKind::Client,
            otel::SpanKind::Server => SpanKind::Server,
            otel::SpanKind::Producer => SpanKind::Producer,
            otel::SpanKind::Consumer => SpanKind::Consumer,
            otel::SpanKind::Internal => SpanKind::Internal,
        },
        start_time_unix_nano: nanos(s.start_time),
        end_time_unix_nano: nanos(s.end_time),
        attributes: convert_kvs(&s.attributes),
        dropped_attributes_count: s.dropped_attributes_count,
        events: s
            .events
            .iter()
            .map(|e| Event {
                time_unix_nano: nanos(e.timestamp),
                name: e.name.to_string(),
                attributes: convert_kvs(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: s.events.dropped_count,
        links: s
            .links
            .iter()
            .map(|l| Link {
                trace_id: TraceId::from_bytes(l.span_context.trace_id().to_bytes()),
                span_id: SpanId::from_bytes(l.span_context.span_id().to_bytes()),
                trace_state: l.span_context.trace_state().header(),
                attributes: convert_kvs(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: span_flags(l.span_context.is_remote(), l.span_context.trace_flags()),
            })
            .collect(),
        dropped_links_count: s.links.dropped_count,
        status: Some(match &s.status {
            otel::Status::Unset => Status {
                code: StatusCode::Unset,
                message: "".into(),
            },
            otel::Status::Ok => Status {
                code: StatusCode::Ok,
                message: "".into(),
            },
            otel::Status::Error { description } => Status {
                code: StatusCode::Error,
                message: description.to_string().into(),
            },
        }),
    }
}

fn convert_scope(s: &::opentelemetry::InstrumentationScope) -> InstrumentationScope {
    InstrumentationScope {
        name: s.name().to_owned(),
        version: s.version().unwrap_or_default().to_owned(),
        attributes: s
            .attributes()
            .map(|kv| KeyValue {
                key: kv.key.as_str().to_owned(),
                value: convert_value(&kv.value),
            })
            .collect(),
        dropped_attributes_count: 0,
        schema_url: s.schema_url().unwrap_or_default().to_owned(),
    }
}

fn convert_resource(r: &opentelemetry_sdk::Resource) -> Resource {
    Resource {
        attributes: r
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.as_str().to_owned(),
                value: convert_value(v),
            })
            .collect(),
        dropped_attributes_count: 0,
        schema_url: r.schema_url().unwrap_or_default().to_owned(),
    }
}
