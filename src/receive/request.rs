//! One request, once its body is in: decoded within the limits and handed
//! to the sink on the blocking pool (never on the runtime's workers, so a
//! slow sink cannot stop the listeners answering), at most [`DECODERS`] at
//! a time (which bounds the memory decoding takes, whatever the number of
//! connections), and the outcome classified into what the client is told:
//! an HTTP status or a gRPC code, and a message that says what to do.
//!
//! Both listeners (`http`, `grpc`) share this; it knows neither protocol's
//! framing of the answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::Semaphore;

use super::budget::Budget;
use super::decode::{decode_grpc_body, decode_http_body, Limits, ReceiveError};
use super::throttle::Warnings;
use crate::codec::grpc::code;
use crate::proto::collector::trace::v1::ExportTraceServiceRequest;

/// Requests decoded (and handed to the sink) at once, at most.
pub(super) const DECODERS: usize = 2;

/// Which protocol a request came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// OTLP/HTTP.
    Http,
    /// OTLP/gRPC.
    Grpc,
}

/// One accepted export request.
#[derive(Debug)]
#[non_exhaustive]
pub struct Received {
    /// The protocol.
    pub via: Via,
    /// The decoded request.
    pub request: ExportTraceServiceRequest,
    /// Bytes on the wire (the body as sent, compressed or not).
    pub wire_bytes: usize,
}

/// What the receiver has seen.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ReceiverStats {
    /// Requests accepted.
    pub requests: AtomicU64,
    /// Spans in accepted requests.
    pub spans: AtomicU64,
    /// Body bytes of accepted requests, as sent.
    pub bytes: AtomicU64,
    /// Requests refused (malformed, over a limit, wrong path, timed out,
    /// or not stored by the sink).
    pub refused: AtomicU64,
}

/// Why a sink did not take a request. The client is told, with the
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// The sink cannot store requests now (a full disk, say); the client
    /// should retry later. HTTP 503, gRPC `UNAVAILABLE`.
    #[error("{0}")]
    Unavailable(String),
    /// This request is more than the sink will take. HTTP 400, gRPC
    /// `RESOURCE_EXHAUSTED`.
    #[error("{0}")]
    TooLarge(String),
}

/// The sink: called once per accepted request, on the blocking pool.
pub(super) type Sink = Arc<dyn Fn(Received) -> Result<(), SinkError> + Send + Sync>;

/// Why a request was not accepted, and so what the client is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// Not an OTLP endpoint: HTTP 404, gRPC `UNIMPLEMENTED`.
    NotFound,
    /// A content type the receiver does not decode: HTTP 415.
    Unsupported,
    /// Malformed: HTTP 400, gRPC `INVALID_ARGUMENT`.
    Invalid,
    /// Over a limit: HTTP 400, gRPC `RESOURCE_EXHAUSTED`.
    TooLarge,
    /// The body did not arrive in time: HTTP 408, gRPC `DEADLINE_EXCEEDED`.
    Timeout,
    /// The receiver cannot take it now; retry: HTTP 503, gRPC `UNAVAILABLE`.
    Unavailable,
}

/// A refused request: why, and what to tell the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) kind: Kind,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Refusal {
            kind,
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub(super) fn http_status(&self) -> u16 {
        match self.kind {
            Kind::NotFound => 404,
            Kind::Unsupported => 415,
            Kind::Invalid | Kind::TooLarge => 400,
            Kind::Timeout => 408,
            Kind::Unavailable => 503,
        }
    }

    /// The gRPC status code.
    pub(super) fn grpc_code(&self) -> u32 {
        match self.kind {
            Kind::NotFound => code::UNIMPLEMENTED,
            Kind::Unsupported | Kind::Invalid => code::INVALID_ARGUMENT,
            Kind::TooLarge => code::RESOURCE_EXHAUSTED,
            Kind::Timeout => code::DEADLINE_EXCEEDED,
            Kind::Unavailable => code::UNAVAILABLE,
        }
    }

    /// The refusal for a body over `--max-request-bytes`.
    pub(super) fn too_large(limits: &Limits) -> Self {
        ReceiveError::TooLarge(limits.max_request_bytes).into()
    }

    /// The refusal for a body that passed the in-flight budget.
    pub(super) fn busy(budget: &Budget) -> Self {
        Refusal::new(
            Kind::Unavailable,
            format!(
                "the receiver is already holding {} bytes of requests in flight, the limit \
                 set by --max-inflight-bytes; retry later, or raise --max-inflight-bytes",
                budget.limit()
            ),
        )
    }
}

impl From<ReceiveError> for Refusal {
    fn from(e: ReceiveError) -> Self {
        let kind = if e.is_limit() {
            Kind::TooLarge
        } else {
            Kind::Invalid
        };
        Refusal::new(kind, e.to_string())
    }
}

impl From<SinkError> for Refusal {
    fn from(e: SinkError) -> Self {
        match e {
            SinkError::Unavailable(m) => Refusal::new(Kind::Unavailable, m),
            SinkError::TooLarge(m) => Refusal::new(Kind::TooLarge, m),
        }
    }
}

/// What both listeners share.
pub(super) struct Shared {
    pub(super) limits: Limits,
    pub(super) sink: Sink,
    pub(super) stats: Arc<ReceiverStats>,
    pub(super) budget: Arc<Budget>,
    pub(super) decoders: Semaphore,
    pub(super) warnings: Warnings,
}

impl Shared {
    /// Counts and logs (rate-limited) a refused request.
    pub(super) fn refused(&self, via: Via, peer: SocketAddr, r: &Refusal) {
        self.stats.refused.fetch_add(1, Ordering::Relaxed);
        if r.kind == Kind::NotFound {
            return;
        }
        let (throttle, what) = match via {
            Via::Http => (&self.warnings.http, "an OTLP/HTTP request"),
            Via::Grpc => (&self.warnings.grpc, "an OTLP/gRPC call"),
        };
        throttle.warn(|| format!("receive: refused {what} from {peer}: {}", r.message));
    }
}

/// Decodes `body` and hands the request to the sink, on the blocking pool
/// and with at most [`DECODERS`] at once.
pub(super) async fn process(
    shared: &Arc<Shared>,
    via: Via,
    body: Bytes,
    encoding: Option<Vec<u8>>,
) -> Result<(), Refusal> {
    let Ok(_permit) = shared.decoders.acquire().await else {
        return Err(Refusal::new(
            Kind::Unavailable,
            "the receiver is shutting down",
        ));
    };
    let s = shared.clone();
    let work = tokio::task::spawn_blocking(move || {
        let request = match via {
            Via::Http => decode_http_body(&body, encoding.as_deref(), &s.limits),
            Via::Grpc => decode_grpc_body(&body, encoding.as_deref(), &s.limits),
        }?;
        let spans: usize = request
            .resource_spans
            .iter()
            .flat_map(|rs| rs.scope_spans.iter())
            .map(|ss| ss.spans.len())
            .sum();
        (s.sink)(Received {
            via,
            request,
            wire_bytes: body.len(),
        })?;
        s.stats.requests.fetch_add(1, Ordering::Relaxed);
        s.stats.spans.fetch_add(spans as u64, Ordering::Relaxed);
        s.stats
            .bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
        Ok::<(), Refusal>(())
    });
    match work.await {
        Ok(outcome) => outcome,
        Err(e) => Err(Refusal::new(
            Kind::Unavailable,
            format!("the receiver failed on this request ({e}); this is a bug in tracewire"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_maps_to_a_status_and_a_code() {
        let r = |kind| Refusal::new(kind, "x");
        assert_eq!(r(Kind::Invalid).http_status(), 400);
        assert_eq!(r(Kind::Invalid).grpc_code(), code::INVALID_ARGUMENT);
        assert_eq!(r(Kind::TooLarge).http_status(), 400);
        assert_eq!(r(Kind::TooLarge).grpc_code(), code::RESOURCE_EXHAUSTED);
        assert_eq!(r(Kind::Unavailable).http_status(), 503);
        assert_eq!(r(Kind::Unavailable).grpc_code(), code::UNAVAILABLE);
        assert_eq!(r(Kind::Timeout).http_status(), 408);
        assert_eq!(r(Kind::Timeout).grpc_code(), code::DEADLINE_EXCEEDED);
        assert_eq!(
            Refusal::from(ReceiveError::TooManySpans(3)).kind,
            Kind::TooLarge
        );
        assert_eq!(
            Refusal::from(ReceiveError::Protobuf("x".into())).kind,
            Kind::Invalid
        );
        assert_eq!(
            Refusal::from(SinkError::Unavailable("disk full".into())),
            Refusal::new(Kind::Unavailable, "disk full")
        );
    }
}
