//! The OTLP/gRPC listener's connections: HTTP/2 (h2), unary
//! `TraceService/Export` calls framed by the codec's gRPC framing.
//!
//! Time is bounded: the HTTP/2 preface must come within the header
//! timeout, each call's message within the body timeout (then
//! `DEADLINE_EXCEEDED`), and a connection with no call in progress is
//! closed (GOAWAY) after the idle timeout. Memory is bounded: calls per
//! connection are capped (SETTINGS_MAX_CONCURRENT_STREAMS, and refused
//! beyond it even before the client acknowledges the setting), a message
//! is refused as soon as its prefix announces more than the limit, and
//! every byte buffered is charged to the in-flight budget.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::RecvStream;
use prost::Message;
use tokio::sync::Notify;

use super::budget::Charge;
use super::connection::ConnectionLimits;
use super::decode::grpc_announced_len;
use super::request::{process, Kind, Refusal, Shared, Via};
use crate::codec::grpc::{encode_grpc_message, finish_frame, EXPORT_PATH};
use crate::proto::collector::trace::v1::ExportTraceServiceResponse;
use crate::tls::ServerStream;

/// Calls in progress on one connection; wakes the connection when one ends.
#[derive(Default)]
struct Activity {
    calls: AtomicUsize,
    ended: Notify,
}

/// One call in progress, for as long as it lives.
struct Call(Arc<Activity>);

impl Activity {
    fn start(self: &Arc<Self>) -> Call {
        self.calls.fetch_add(1, Ordering::AcqRel);
        Call(self.clone())
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::Acquire)
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.0.calls.fetch_sub(1, Ordering::AcqRel);
        self.0.ended.notify_one();
    }
}

/// Serves one HTTP/2 connection.
pub(super) async fn serve(
    io: ServerStream,
    shared: Arc<Shared>,
    t: ConnectionLimits,
    peer: SocketAddr,
) {
    let max_calls = t.max_streams_per_connection.max(1);
    let handshake = h2::server::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(1 << 21)
        .max_header_list_size(64 << 10)
        .max_concurrent_streams(max_calls)
        .handshake::<_, Bytes>(io);
    let Ok(Ok(mut conn)) = tokio::time::timeout(t.header_timeout, handshake).await else {
        return;
    };
    let activity = Arc::new(Activity::default());
    loop {
        let idle = activity.calls() == 0;
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok((req, mut respond))) => {
                    if activity.calls() >= max_calls as usize {
                        // Beyond SETTINGS_MAX_CONCURRENT_STREAMS (a client
                        // that has not acknowledged it yet).
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                        continue;
                    }
                    let call = activity.start();
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _call = call;
                        serve_call(req, respond, &shared, t, peer).await;
                    });
                }
                Some(Err(_)) | None => return,
            },
            _ = activity.ended.notified() => {}
            _ = tokio::time::sleep(t.idle_timeout), if idle => {
                conn.graceful_shutdown();
                // Calls that crossed the GOAWAY are refused (the client
                // retries them on a new connection); the connection gets
                // the header timeout to close.
                let _ = tokio::time::timeout(t.header_timeout, async {
                    while let Some(Ok((_, mut respond))) = conn.accept().await {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                    }
                })
                .await;
                return;
            }
        }
    }
}

fn trailers_only(code: u32, message: &str) -> Result<http::Response<()>, http::Error> {
    http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .header("grpc-status", code.to_string())
        .header("grpc-message", encode_grpc_message(message))
        .body(())
}

async fn serve_call(
    req: http::Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    shared: &Arc<Shared>,
    t: ConnectionLimits,
    peer: SocketAddr,
) {
    match call(req, shared, t).await {
        Ok(()) => {
            let head = http::Response::builder()
                .status(200)
                .header("content-type", "application/grpc")
                .body(());
            let Ok(head) = head else { return };
            if let Ok(mut stream) = respond.send_response(head, false) {
                let mut framed = BytesMut::zeroed(5);
                if ExportTraceServiceResponse::default()
                    .encode(&mut framed)
                    .is_ok()
                    && finish_frame(&mut framed, false).is_ok()
                {
                    let _ = stream.send_data(framed.freeze(), false);
                }
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                let _ = stream.send_trailers(trailers);
            }
        }
        Err(r) => {
            shared.refused(Via::Grpc, peer, &r);
            if let Ok(head) = trailers_only(r.grpc_code(), &r.message) {
                let _ = respond.send_response(head, true);
            }
        }
    }
}

async fn call(
    req: http::Request<RecvStream>,
    shared: &Arc<Shared>,
    t: ConnectionLimits,
) -> Result<(), Refusal> {
    if req.uri().path() != EXPORT_PATH {
        return Err(Refusal::new(
            Kind::NotFound,
            format!("unknown method {}", req.uri().path()),
        ));
    }
    let encoding = req
        .headers()
        .get("grpc-encoding")
        .map(|v| v.as_bytes().to_vec());
    let mut charge = shared.budget.charge();
    let body = tokio::time::timeout(
        t.body_timeout,
        read_message(req.into_body(), shared, &mut charge),
    )
    .await
    .map_err(|_| {
        Refusal::new(
            Kind::Timeout,
            format!(
                "the request message did not arrive within {:?}, the limit set by \
                 --body-timeout; send it faster or raise --body-timeout",
                t.body_timeout
            ),
        )
    })??;
    let outcome = process(shared, Via::Grpc, body, encoding).await;
    drop(charge);
    outcome
}

/// Reads the call's request stream, within the size limit (prefix
/// included) and the in-flight budget.
async fn read_message(
    mut body: RecvStream,
    shared: &Shared,
    charge: &mut Charge,
) -> Result<Bytes, Refusal> {
    let limits = &shared.limits;
    let max_framed = limits.max_request_bytes.saturating_add(5);
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk
            .map_err(|e| Refusal::new(Kind::Invalid, format!("reading the request stream: {e}")))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        if buf.len().saturating_add(chunk.len()) > max_framed {
            return Err(Refusal::too_large(limits));
        }
        if !charge.grow(chunk.len()) {
            return Err(Refusal::busy(&shared.budget));
        }
        buf.extend_from_slice(&chunk);
        // Refuse an oversized message as soon as its prefix says so.
        if grpc_announced_len(&buf).is_some_and(|len| len > limits.max_request_bytes) {
            return Err(Refusal::too_large(limits));
        }
    }
    Ok(buf.freeze())
}
