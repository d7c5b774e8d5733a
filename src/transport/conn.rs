//! Opening a connection to a collector: TCP (no delay), then TLS when the
//! endpoint says so, within a timeout; refused certificates are told apart
//! from transient failures.
//!
//! This module must never retry by itself: the caller's retry policy decides.

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::endpoint::Endpoint;
use crate::tls::{ClientStream, Connector, MaybeTls};

/// Why a connection could not be made.
#[derive(Debug)]
pub(crate) struct ConnectError {
    pub(crate) message: String,
    /// Retrying cannot help (the certificate was refused): fail at once.
    pub(crate) permanent: bool,
}

impl ConnectError {
    fn retryable(message: String) -> Self {
        ConnectError {
            message,
            permanent: false,
        }
    }
}

/// Whether a TLS handshake error is a verdict on certificates (ours or the
/// collector's), which retrying will not change.
fn is_certificate_error(e: &io::Error) -> bool {
    use rustls::AlertDescription as A;
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(rustls::Error::InvalidCertificate(_)) => true,
        Some(rustls::Error::AlertReceived(a)) => matches!(
            a,
            A::BadCertificate
                | A::UnknownCA
                | A::CertificateUnknown
                | A::CertificateRequired
                | A::AccessDenied
        ),
        _ => false,
    }
}

/// Whether a TLS handshake failed because the peer answered with something
/// other than TLS (a plaintext port): retrying will not change that.
fn is_not_tls(e: &io::Error) -> bool {
    matches!(
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
                | rustls::InvalidMessage::UnknownProtocolVersion
        ))
    )
}

/// Connects to `endpoint` (TCP, then TLS when `tls` is given), within
/// `timeout`. Refused certificates and a peer that does not speak TLS are
/// permanent failures; everything else (refused, timed out, reset) is a
/// retryable connection-level failure: a collector that starts late still
/// gets every span.
pub(crate) async fn connect(
    endpoint: &Endpoint,
    tls: Option<&Connector>,
    timeout: Duration,
) -> Result<ClientStream, ConnectError> {
    let attempt = async {
        let tcp = TcpStream::connect((endpoint.host(), endpoint.port()))
            .await
            .map_err(|e| {
                ConnectError::retryable(format!("connecting to {}: {e}", endpoint.authority()))
            })?;
        let _ = tcp.set_nodelay(true);
        match tls {
            None => Ok(MaybeTls::Plain(tcp)),
            Some(c) => c.connect(endpoint.host(), tcp).await.map(|s| MaybeTls::Tls(Box::new(s))).map_err(|e| {
                if is_certificate_error(&e) {
                    return ConnectError {
                        message: format!(
                            "TLS handshake with {}: {e}; check tls.ca (or tls.cert and tls.key when the collector requires a client certificate)",
                            endpoint.authority()
                        ),
                        permanent: true,
                    };
                }
                if is_not_tls(&e) {
                    return ConnectError {
                        message: format!(
                            "{} does not speak TLS on this port (its answer was not a TLS record: {e}); \
                             send to it without TLS (http:// for OTLP/HTTP, insecure: true for gRPC), or use the collector's TLS port",
                            endpoint.authority()
                        ),
                        permanent: true,
                    };
                }
                ConnectError::retryable(format!("TLS handshake with {}: {e}", endpoint.authority()))
            }),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(ConnectError::retryable(format!(
            "connecting to {} timed out after {timeout:?}",
            endpoint.authority()
        ))),
    }
}
