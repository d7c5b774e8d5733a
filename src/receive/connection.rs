//! What connections may take of the receiver: how long a client may take
//! to send headers and bodies, how long a gRPC connection may sit idle,
//! how many connections and streams are served at once, and how many
//! request-body bytes are held in flight over all of them. Each has a
//! `tracewire receive` flag of the same name.

use std::time::Duration;

/// Time and concurrency limits on connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's headers (the TLS
    /// handshake and the HTTP/2 preface included); an HTTP/1.1 keep-alive
    /// connection idle this long is closed too (default 10 s).
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive, from its headers
    /// (default 30 s); then HTTP 408 / gRPC `DEADLINE_EXCEEDED`.
    pub body_timeout: Duration,
    /// How long a gRPC connection with no call in progress stays open
    /// (default 60 s); then it is closed with GOAWAY.
    pub idle_timeout: Duration,
    /// Connections served at once, over both listeners (default 128);
    /// beyond it a new connection waits for one to close before it is
    /// served (each listener holds one such connection, the kernel's
    /// backlog the rest).
    pub max_connections: usize,
    /// Concurrent gRPC calls on one HTTP/2 connection (default 16).
    pub max_streams_per_connection: u32,
    /// Request-body bytes held at once over all connections (default 256
    /// MiB); a request that would pass it gets HTTP 503 / gRPC
    /// `UNAVAILABLE`.
    pub max_inflight_bytes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 128,
            max_streams_per_connection: 16,
            max_inflight_bytes: 256 << 20,
        }
    }
}
