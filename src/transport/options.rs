//! What describes an exporter: the protocol, the collector's endpoint,
//! headers, TLS, compression, timeouts and retries ([`ExporterConfig`]),
//! and why one could not be built ([`TransportError`]).
//!
//! Plain data: this module must never open a connection.

use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::endpoint::{Endpoint, EndpointError};
use crate::retry::RetryConfig;
use crate::tls::{TlsError, TlsOptions};

/// Why a transport could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The endpoint is not usable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// TLS could not be set up from the options.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// Which OTLP transport to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP/HTTP with binary protobuf bodies, over HTTP/1.1.
    Http,
    /// OTLP/gRPC over HTTP/2.
    Grpc,
}

/// Request compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// None (OpenTelemetry's default).
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip` / `grpc-encoding: gzip`).
    Gzip,
}

/// Where and how spans are sent.
#[derive(Clone, Debug)]
pub struct ExporterConfig {
    /// HTTP or gRPC.
    pub protocol: Protocol,
    /// The collector.
    pub endpoint: Endpoint,
    /// Extra headers on every request (authorization, tenant ids). Values
    /// are marked sensitive: never logged, redacted by `config check`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// TLS options (used when the endpoint uses TLS).
    pub tls: TlsOptions,
    /// Compression.
    pub compression: Compression,
    /// Longest a single request may take (`OTEL_EXPORTER_OTLP_TIMEOUT`,
    /// default 10 s); retries continue until the batch's export timeout.
    pub timeout: Duration,
    /// Longest a connection (TCP + TLS) may take to establish (default 5 s).
    pub connect_timeout: Duration,
    /// Retry policy.
    pub retry: RetryConfig,
}

impl ExporterConfig {
    /// An exporter configuration with defaults for `protocol` and `endpoint`.
    ///
    /// ```
    /// use tracewire::transport::{Endpoint, ExporterConfig, Protocol};
    /// let c = ExporterConfig::new(Protocol::Http, Endpoint::parse_http("http://127.0.0.1:4318/v1/traces").unwrap());
    /// assert_eq!(c.endpoint.port(), 4318);
    /// ```
    pub fn new(protocol: Protocol, endpoint: Endpoint) -> Self {
        ExporterConfig {
            protocol,
            endpoint,
            headers: Vec::new(),
            tls: TlsOptions::default(),
            compression: Compression::None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryConfig::default(),
        }
    }
}

/// `tracewire/<version>`, sent as the user agent.
pub(crate) const USER_AGENT: &str = concat!("tracewire/", env!("CARGO_PKG_VERSION"));
