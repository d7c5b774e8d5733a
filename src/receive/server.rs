//! The receiver itself: binds the OTLP/HTTP and OTLP/gRPC listeners, plain
//! or TLS (each offering in ALPN only the protocol it serves), accepts
//! connections within the connection limit, and hands each to its
//! protocol's module (`http`, `grpc`).
//!
//! This module must never import the client transport: what it shares with
//! the exporter (gRPC framing, TLS) lives below both.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use super::budget::Budget;
use super::connection::ConnectionLimits;
use super::decode::Limits;
use super::request::{Received, ReceiverStats, Shared, Sink, SinkError, Via, DECODERS};
use super::throttle::Warnings;
use super::{grpc, http};
use crate::tls::{server_config, Alpn, MaybeTls, TlsError};

/// Where to listen and with what.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ReceiverConfig {
    /// OTLP/HTTP address (`None`: no HTTP listener).
    pub http: Option<SocketAddr>,
    /// OTLP/gRPC address (`None`: no gRPC listener).
    pub grpc: Option<SocketAddr>,
    /// Serve TLS with this certificate chain and key (PEM).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// What one request may cost.
    pub limits: Limits,
    /// What connections may take.
    pub connections: ConnectionLimits,
}

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A listener could not bind its address.
    #[error("cannot listen for {} on {addr}: {source}", via_name(*via))]
    Bind {
        /// Which listener.
        via: Via,
        /// The address it was given.
        addr: SocketAddr,
        /// Why (address in use, permission denied, ...).
        #[source]
        source: std::io::Error,
    },
}

fn via_name(via: Via) -> &'static str {
    match via {
        Via::Http => "OTLP/HTTP",
        Via::Grpc => "OTLP/gRPC",
    }
}

/// A running receiver. Stops accepting connections when dropped or on
/// [`Receiver::shutdown`].
pub struct Receiver {
    http: Option<SocketAddr>,
    grpc: Option<SocketAddr>,
    stats: Arc<ReceiverStats>,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("http", &self.http)
            .field("grpc", &self.grpc)
            .finish()
    }
}

impl Receiver {
    /// Binds the listeners and starts serving on the current tokio runtime.
    /// `sink` is called once per accepted request, on the blocking pool.
    pub async fn start(
        config: ReceiverConfig,
        sink: impl Fn(Received) + Send + Sync + 'static,
    ) -> Result<Receiver, StartError> {
        Self::start_with(config, move |r| {
            sink(r);
            Ok(())
        })
        .await
    }

    /// As [`Receiver::start`], with a sink that may refuse a request: the
    /// client is told why (HTTP 503 / gRPC `UNAVAILABLE` for
    /// [`SinkError::Unavailable`], HTTP 400 / gRPC `RESOURCE_EXHAUSTED` for
    /// [`SinkError::TooLarge`]), and the request is not counted as
    /// accepted.
    pub async fn start_with(
        config: ReceiverConfig,
        sink: impl Fn(Received) -> Result<(), SinkError> + Send + Sync + 'static,
    ) -> Result<Receiver, StartError> {
        let sink: Sink = Arc::new(sink);
        let stats = Arc::new(ReceiverStats::default());
        // Each listener offers in ALPN only the protocol it serves.
        let acceptor = |alpn: Alpn| -> Result<Option<tokio_rustls::TlsAcceptor>, TlsError> {
            match &config.tls {
                Some((c, k)) => Ok(Some(server_config(c, k, alpn)?.into())),
                None => Ok(None),
            }
        };
        let http_tls = acceptor(Alpn::Http11)?;
        let grpc_tls = acceptor(Alpn::H2)?;
        let bind = |via, addr| async move {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind { via, addr, source })?;
            let local = l
                .local_addr()
                .map_err(|source| StartError::Bind { via, addr, source })?;
            Ok::<_, StartError>((l, local))
        };
        let http = match config.http {
            Some(addr) => Some(bind(Via::Http, addr).await?),
            None => None,
        };
        let grpc = match config.grpc {
            Some(addr) => Some(bind(Via::Grpc, addr).await?),
            None => None,
        };
        let shared = Arc::new(Shared {
            limits: config.limits,
            sink,
            stats: stats.clone(),
            budget: Budget::new(config.connections.max_inflight_bytes),
            decoders: Semaphore::new(DECODERS),
            warnings: Warnings::default(),
        });
        let connections = Arc::new(Semaphore::new(
            config
                .connections
                .max_connections
                .clamp(1, Semaphore::MAX_PERMITS),
        ));
        let (stop, stopped) = watch::channel(false);
        let listen = |via, listener, tls| Listener {
            listener,
            via,
            tls,
            limits: config.connections,
            shared: shared.clone(),
            connections: connections.clone(),
            stopped: stopped.clone(),
        };
        let (mut http_addr, mut grpc_addr) = (None, None);
        if let Some((l, local)) = http {
            http_addr = Some(local);
            tokio::spawn(listen(Via::Http, l, http_tls).run());
        }
        if let Some((l, local)) = grpc {
            grpc_addr = Some(local);
            tokio::spawn(listen(Via::Grpc, l, grpc_tls).run());
        }
        Ok(Receiver {
            http: http_addr,
            grpc: grpc_addr,
            stats,
            stop,
        })
    }

    /// The bound OTLP/HTTP address.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http
    }

    /// The bound OTLP/gRPC address.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc
    }

    /// What the receiver has seen so far.
    pub fn stats(&self) -> &ReceiverStats {
        &self.stats
    }

    /// Stops accepting connections.
    pub fn shutdown(&self) {
        let _ = self.stop.send(true);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One listener's accept loop.
struct Listener {
    listener: TcpListener,
    via: Via,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
    shared: Arc<Shared>,
    connections: Arc<Semaphore>,
    stopped: watch::Receiver<bool>,
}

impl Listener {
    async fn run(mut self) {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = self.stopped.changed() => return,
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        self.shared
                            .warnings
                            .accept
                            .warn(|| format!("receive: accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            // Over the connection limit, the connection just accepted waits
            // for another to close, and this listener accepts no more
            // meanwhile (the kernel's backlog holds them).
            let permit = tokio::select! {
                _ = self.stopped.changed() => return,
                p = self.connections.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(serve(
                tcp,
                peer,
                permit,
                self.via,
                self.tls.clone(),
                self.limits,
                self.shared.clone(),
            ));
        }
    }
}

/// Serves one connection, holding its place under the connection limit.
async fn serve(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    via: Via,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: ConnectionLimits,
    shared: Arc<Shared>,
) {
    let io = match tls {
        None => MaybeTls::Plain(tcp),
        Some(acceptor) => {
            match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => MaybeTls::Tls(Box::new(s)),
                Ok(Err(e)) => {
                    shared
                        .warnings
                        .tls
                        .warn(|| format!("receive: TLS handshake with {peer} failed: {e}"));
                    return;
                }
                Err(_) => {
                    shared.warnings.tls.warn(|| {
                        format!(
                            "receive: TLS handshake with {peer} took longer than {:?} \
                             (--header-timeout)",
                            limits.header_timeout
                        )
                    });
                    return;
                }
            }
        }
    };
    match via {
        Via::Http => http::serve(io, shared, limits, peer).await,
        Via::Grpc => grpc::serve(io, shared, limits, peer).await,
    }
}
