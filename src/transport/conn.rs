//! Opening a connection to a collector: TCP (no delay), then TLS when the
//! endpoint says so, within a timeout; refused certificates are told apart
//! from transient failures.
//!
//! This module must never retry by itself: the caller's retry policy decides.

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;

use crate::endpoint::{Endpoint, Via};
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
        let shown = endpoint.member_label();
        let tcp = match endpoint.via() {
            #[cfg(unix)]
            Via::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| ConnectError::retryable(format!("connecting to {shown}: {e}")))?;
                return Ok(MaybeTls::Unix(s));
            }
            #[cfg(not(unix))]
            Via::Unix(_) => {
                return Err(ConnectError {
                    message: format!("{shown}: unix sockets are not available on this platform"),
                    permanent: true,
                })
            }
            Via::Address(address) => TcpStream::connect(*address).await,
            Via::Host | Via::Dns => TcpStream::connect((endpoint.host(), endpoint.port())).await,
        }
        .map_err(|e| ConnectError::retryable(format!("connecting to {shown}: {e}")))?;
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

/// A connection that remembers whether its peer ever sent a byte: an
/// HTTP/2 server always speaks first (its SETTINGS frame), so a connection
/// closed before a byte came back was closed by something that is not an
/// HTTP/2 server (an HTTP/1.1-only port, a proxy with nowhere to send it).
#[derive(Debug)]
pub(crate) struct Heard<S> {
    inner: S,
    heard: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<S> Heard<S> {
    /// Wraps `inner`; the flag turns true on the first byte read.
    pub(crate) fn new(inner: S) -> (Self, std::sync::Arc<std::sync::atomic::AtomicBool>) {
        let heard = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        (
            Heard {
                inner,
                heard: heard.clone(),
            },
            heard,
        )
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Heard<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.heard.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        poll
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Heard<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
