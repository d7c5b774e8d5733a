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
#[non_exhaustive]
pub enum TransportError {
    /// The endpoint is not usable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// TLS could not be set up from the options.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A `dns:///` name could not be resolved at start.
    #[error("cannot resolve {name}: {reason}; check the name (every A/AAAA address behind it becomes a fleet member) or list the collectors as host:port")]
    Resolve {
        /// The endpoint as written.
        name: String,
        /// What the resolver said.
        reason: String,
    },
    /// zstd was asked for, but tracewire was built without it.
    #[error("zstd compression needs tracewire's `zstd` feature: add features = [\"zstd\"] to the tracewire dependency in Cargo.toml, or use gzip")]
    ZstdNotBuilt,
    /// The same collector is listed twice.
    #[error("the collector {member} is listed twice in the endpoints (or resolved twice from dns:/// names); list each collector once")]
    DuplicateMember {
        /// The member's address.
        member: String,
    },
}

/// Compresses `input` onto the end of `out` as `compression` says (`None`
/// copies it): the request body's bytes.
pub(crate) fn compress_into(
    compression: Compression,
    out: &mut bytes::BytesMut,
    input: &[u8],
) -> Result<(), String> {
    match compression {
        Compression::None => out.extend_from_slice(input),
        Compression::Gzip => crate::codec::gzip::compress_into(out, input),
        #[cfg(feature = "zstd")]
        Compression::Zstd => {
            crate::codec::zstd::compress_into(out, input).map_err(|e| e.to_string())?
        }
        #[cfg(not(feature = "zstd"))]
        Compression::Zstd => return Err(TransportError::ZstdNotBuilt.to_string()),
    }
    Ok(())
}

/// Which OTLP transport to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/HTTP with binary protobuf bodies, over HTTP/1.1.
    Http,
    /// OTLP/gRPC over HTTP/2.
    Grpc,
}

/// Request compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// None (OpenTelemetry's default).
    #[default]
    None,
    /// gzip (`Content-Encoding: gzip` / `grpc-encoding: gzip`).
    Gzip,
    /// zstd (`Content-Encoding: zstd` / `grpc-encoding: zstd`), which the
    /// OpenTelemetry Collector accepts on both protocols. Needs tracewire's
    /// `zstd` feature: without it, configuring it is an error.
    Zstd,
}

impl Compression {
    /// The name on the wire (`Content-Encoding`, `grpc-encoding`) and in
    /// configuration: `none`, `gzip` or `zstd`.
    ///
    /// ```
    /// assert_eq!(tracewire::transport::Compression::Zstd.as_str(), "zstd");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Where and how spans are sent.
#[derive(Clone, Debug)]
#[non_exhaustive]
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
    /// More collectors beside `endpoint` (`endpoints` in the configuration):
    /// when not empty, or when `endpoint` is a `dns:///` name, each trace is
    /// routed to one member by its trace id, with failover (see the README's
    /// fleet section).
    pub fleet: Vec<Endpoint>,
    /// How often `dns:///` names are re-resolved (default 30 s; also a
    /// second after a member fails).
    pub dns_refresh: Duration,
    /// gRPC: how long a request may wait for its response before the
    /// connection is checked with an HTTP/2 PING (default 10 s; zero turns
    /// pings off). Pings are sent only while requests are in flight, which
    /// the OpenTelemetry Collector's default keep-alive enforcement allows.
    pub keep_alive: Duration,
    /// gRPC: how long a PING may go unanswered before the connection is
    /// closed and its requests retried elsewhere (default 5 s).
    pub keep_alive_timeout: Duration,
    /// How `dns:///` names are resolved (the system's resolver unless a
    /// test or an application injects one).
    pub resolver: Resolver,
    /// The age after which a connection takes no new requests and is
    /// replaced (in-flight requests finish on it), so DNS changes and load
    /// balancer rebalancing take effect (default 5 minutes; zero: never).
    pub max_connection_age: Duration,
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
            fleet: Vec::new(),
            dns_refresh: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            max_connection_age: Duration::from_secs(300),
            resolver: Resolver::default(),
        }
    }
}

/// `otel.component.type` of the OTLP/gRPC exporter (self-observability).
pub(crate) const GRPC_COMPONENT: &str = "otlp_grpc_span_exporter";
/// `otel.component.type` of the OTLP/HTTP (protobuf) exporter.
pub(crate) const HTTP_COMPONENT: &str = "otlp_http_span_exporter";

/// The user agent: tracewire's own product token first, then the one the
/// OTLP specification asks of exporters (`OTel-OTLP-Exporter-<language>/<version>`),
/// so backends that count OpenTelemetry exporters by user agent see one.
pub(crate) const USER_AGENT: &str = concat!(
    "tracewire/",
    env!("CARGO_PKG_VERSION"),
    " OTel-OTLP-Exporter-Rust/",
    env!("CARGO_PKG_VERSION")
);

/// A resolver's answer for `(name, port)`.
type Resolve = dyn Fn(&str, u16) -> std::io::Result<Vec<std::net::SocketAddr>> + Send + Sync;

/// How `dns:///` names become addresses: the system's resolver
/// (`getaddrinfo`, every A and AAAA record), or a function given by the
/// application (service discovery, tests).
///
/// ```
/// use tracewire::transport::Resolver;
/// let fixed = Resolver::new(|_name, port| Ok(vec![([127, 0, 0, 1], port).into()]));
/// assert_eq!(fixed.resolve_blocking("collectors.example", 4317).unwrap().len(), 1);
/// ```
#[derive(Clone, Default)]
pub struct Resolver {
    custom: Option<std::sync::Arc<Resolve>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.custom.is_some() {
            "Resolver(custom)"
        } else {
            "Resolver(system)"
        })
    }
}

impl Resolver {
    /// A resolver that asks `f`.
    pub fn new(
        f: impl Fn(&str, u16) -> std::io::Result<Vec<std::net::SocketAddr>> + Send + Sync + 'static,
    ) -> Self {
        Resolver {
            custom: Some(std::sync::Arc::new(f)),
        }
    }

    /// Every address of `name`, sorted, without duplicates (blocking).
    pub fn resolve_blocking(
        &self,
        name: &str,
        port: u16,
    ) -> std::io::Result<Vec<std::net::SocketAddr>> {
        use std::net::ToSocketAddrs;
        let mut addrs: Vec<std::net::SocketAddr> = match &self.custom {
            Some(f) => f(name, port)?,
            None => (name, port).to_socket_addrs()?.collect(),
        };
        addrs.sort_unstable();
        addrs.dedup();
        Ok(addrs)
    }

    /// Every address of `name`, sorted, without duplicates.
    pub async fn resolve(
        &self,
        name: &str,
        port: u16,
    ) -> std::io::Result<Vec<std::net::SocketAddr>> {
        let mut addrs: Vec<std::net::SocketAddr> = match &self.custom {
            Some(f) => f(name, port)?,
            None => tokio::net::lookup_host((name, port)).await?.collect(),
        };
        addrs.sort_unstable();
        addrs.dedup();
        Ok(addrs)
    }
}
