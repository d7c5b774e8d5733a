//! Everything between an encoded batch and the collector: OTLP/HTTP over
//! HTTP/1.1 (`otlp_http`, on hyper) and OTLP/gRPC over HTTP/2 (`otlp_grpc`,
//! on h2 with tracewire's own gRPC framing), connections (`conn`: TCP or a
//! unix socket, then TLS), what every export shares once its retries are
//! over (`outcome`), and a fleet of collectors (`fleet`: each trace routed
//! to one member, failover, `dns:///` names).
//!
//! This module is the public face of "how to reach a collector":
//! [`ExporterConfig`] and its parts, and [`build`], which turns one into an
//! [`Exporter`].
//!
//! A transport must never hold a batch longer than one export: every
//! request it is given resolves, by its deadline, to an
//! [`ExportReport`](crate::export::ExportReport). The protocol logic it
//! relies on (framing, response decoding) is sans-IO and lives in the
//! codec, below it.

mod conn;
mod fleet;
mod options;
pub(crate) mod otlp_grpc;
pub(crate) mod otlp_http;
mod outcome;

use std::sync::Arc;

pub use crate::endpoint::{Endpoint, EndpointError, Via};
use crate::export::Exporter;
pub use crate::retry::RetryConfig;
pub use crate::tls::{TlsError, TlsOptions};
pub use options::{Compression, ExporterConfig, Protocol, Resolver, TransportError};

/// Builds the exporter a configuration describes.
///
/// ```
/// use tracewire::transport::{build, Endpoint, ExporterConfig, Protocol};
/// let cfg = ExporterConfig::new(Protocol::Grpc, Endpoint::parse_grpc("localhost:4317", true).unwrap());
/// assert!(build(&cfg).is_ok());
/// ```
pub fn build(config: &ExporterConfig) -> Result<Arc<dyn Exporter>, TransportError> {
    if cfg!(not(feature = "zstd")) && config.compression == Compression::Zstd {
        return Err(TransportError::ZstdNotBuilt);
    }
    if !config.fleet.is_empty() || *config.endpoint.via() == Via::Dns {
        return Ok(Arc::new(fleet::Fleet(Arc::new(fleet::FleetExporter::new(
            config,
        )?))));
    }
    build_one(config)
}

/// One collector's exporter.
fn build_one(config: &ExporterConfig) -> Result<Arc<dyn Exporter>, TransportError> {
    Ok(match config.protocol {
        Protocol::Http => Arc::new(otlp_http::HttpExporter::new(config)?),
        Protocol::Grpc => Arc::new(otlp_grpc::GrpcExporter::new(config)?),
    })
}
