//! The resolved configuration: [`Config`] and its defaults.
//!
//! Plain data: this module must never read files or the environment.

use crate::batch::BatchConfig;
use crate::endpoint::Endpoint;
use crate::model::SpanLimits;
use crate::propagation::Propagators;
use crate::sampling::Sampler;
use crate::transport::{ExporterConfig, Protocol};

/// The default OTLP/HTTP endpoint (the standard path, `/v1/traces`).
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318/v1/traces";
/// The default OTLP/gRPC endpoint (TLS unless `insecure`, as in Traefik).
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:4317";
/// The default `serviceName`.
pub const DEFAULT_SERVICE_NAME: &str = "tracewire";

/// A complete, validated tracewire configuration. Build it in code
/// ([`Config::default`], then set fields) or load it with [`load`](crate::config::load).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// Whether the configuration enables tracing (a `tracing` section or
    /// `--tracing` was present). [`Config::default`] is enabled.
    pub enabled: bool,
    /// `service.name`.
    pub service_name: String,
    /// Extra resource attributes, in order.
    pub resource_attributes: Vec<(String, String)>,
    /// Head sampling.
    pub sampler: Sampler,
    /// Trace internal endpoints such as `/ping` (Traefik's `addInternals`).
    pub add_internals: bool,
    /// Request headers recorded as span attributes.
    pub captured_request_headers: Vec<String>,
    /// Response headers recorded as span attributes.
    pub captured_response_headers: Vec<String>,
    /// Query parameters recorded unredacted; all others are redacted.
    pub safe_query_params: Vec<String>,
    /// The header formats the tower layers read the parent from and write
    /// the context in: `OTEL_PROPAGATORS` (default `tracecontext,baggage`).
    pub propagators: Propagators,
    /// The transport.
    pub exporter: ExporterConfig,
    /// Batching.
    pub batch: BatchConfig,
    /// Span limits.
    pub limits: SpanLimits,
}

impl Default for Config {
    /// Enabled, OTLP/HTTP to `http://localhost:4318/v1/traces`, everything
    /// else at its default; no environment is read.
    fn default() -> Self {
        Config {
            enabled: true,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            resource_attributes: Vec::new(),
            sampler: Sampler::traefik(1.0),
            add_internals: false,
            captured_request_headers: Vec::new(),
            captured_response_headers: Vec::new(),
            safe_query_params: Vec::new(),
            propagators: Propagators::default(),
            exporter: ExporterConfig::new(Protocol::Http, Endpoint::default_http()),
            batch: BatchConfig::default(),
            limits: SpanLimits::default(),
        }
    }
}
