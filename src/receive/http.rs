//! The OTLP/HTTP listener's connections: HTTP/1.1 (hyper), `POST
//! /v1/traces` with a binary protobuf body, optionally gzip.
//!
//! Time is bounded: a connection that does not send a request's headers
//! within the header timeout (including while idle between keep-alive
//! requests) is closed by hyper, and a request whose body is not in within
//! the body timeout is answered 408 and its connection closed. Memory is
//! bounded: a `Content-Length` over the limit is refused before any of the
//! body is read, and every byte buffered is charged to the in-flight
//! budget.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body as _, Incoming};
use prost::Message;

use super::budget::Charge;
use super::connection::ConnectionLimits;
use super::request::{process, Kind, Refusal, Shared, Via};
use crate::codec::grpc::code;
use crate::proto::collector::trace::v1::ExportTraceServiceResponse;
use crate::tls::ServerStream;

/// A `google.rpc.Status` with `code` and `message`, as OTLP/HTTP answers
/// errors.
fn rpc_status_body(code: u32, message: &str) -> Bytes {
    let mut out = Vec::new();
    let code = i32::try_from(code).unwrap_or(2);
    prost::encoding::int32::encode(1, &code, &mut out);
    prost::encoding::string::encode(2, &message.to_owned(), &mut out);
    Bytes::from(out)
}

fn respond(status: u16, body: Bytes, close: bool) -> hyper::Response<Full<Bytes>> {
    let mut b = hyper::Response::builder()
        .status(status)
        .header("content-type", "application/x-protobuf");
    if status == 503 {
        b = b.header("retry-after", "1");
    }
    if close {
        b = b.header("connection", "close");
    }
    b.body(Full::new(body))
        .unwrap_or_else(|_| hyper::Response::new(Full::new(Bytes::new())))
}

/// Serves one HTTP/1.1 connection.
pub(super) async fn serve(
    io: ServerStream,
    shared: Arc<Shared>,
    t: ConnectionLimits,
    peer: SocketAddr,
) {
    let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let shared = shared.clone();
        async move {
            let outcome = handle(req, &shared, t).await;
            Ok::<_, Infallible>(match outcome {
                Ok(()) => respond(
                    200,
                    Bytes::from(ExportTraceServiceResponse::default().encode_to_vec()),
                    false,
                ),
                Err(r) => {
                    shared.refused(Via::Http, peer, &r);
                    let code = match r.kind {
                        Kind::NotFound => code::NOT_FOUND,
                        _ => r.grpc_code(),
                    };
                    // The body may be unread (refused on its headers, its
                    // length, the budget, or its deadline): the connection
                    // cannot carry another request.
                    respond(r.http_status(), rpc_status_body(code, &r.message), true)
                }
            })
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(t.header_timeout)
        .serve_connection(hyper_util::rt::TokioIo::new(io), svc)
        .await;
}

async fn handle(
    req: hyper::Request<Incoming>,
    shared: &Arc<Shared>,
    t: ConnectionLimits,
) -> Result<(), Refusal> {
    if req.method() != http::Method::POST || req.uri().path() != "/v1/traces" {
        return Err(Refusal::new(
            Kind::NotFound,
            format!(
                "{} {} is not an OTLP endpoint; POST /v1/traces",
                req.method(),
                req.uri().path()
            ),
        ));
    }
    let is_json = req
        .headers()
        .get("content-type")
        .is_some_and(|c| c.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Err(Refusal::new(
            Kind::Unsupported,
            "application/json is not supported; send application/x-protobuf",
        ));
    }
    let encoding = req
        .headers()
        .get("content-encoding")
        .map(|v| v.as_bytes().to_vec());
    let body = req.into_body();
    let max = shared.limits.max_request_bytes;
    // A Content-Length over the limit is refused before a byte of the body
    // is read.
    if usize::try_from(body.size_hint().lower()).map_or(true, |n| n > max) {
        return Err(Refusal::too_large(&shared.limits));
    }
    let mut charge = shared.budget.charge();
    let body = tokio::time::timeout(t.body_timeout, collect(body, shared, &mut charge))
        .await
        .map_err(|_| {
            Refusal::new(
                Kind::Timeout,
                format!(
                    "the request body did not arrive within {:?}, the limit set by \
                     --body-timeout; send it faster or raise --body-timeout",
                    t.body_timeout
                ),
            )
        })??;
    let outcome = process(shared, Via::Http, body, encoding).await;
    drop(charge);
    outcome
}

/// Reads the whole body, within the size limit and the in-flight budget.
async fn collect(
    mut body: Incoming,
    shared: &Shared,
    charge: &mut Charge,
) -> Result<Bytes, Refusal> {
    let max = shared.limits.max_request_bytes;
    let mut buf = BytesMut::new();
    let mut charged = 0;
    if let Some(n) = body.size_hint().exact() {
        // Within `max`, checked above.
        let n = usize::try_from(n).unwrap_or(max).min(max);
        if !charge.grow(n) {
            return Err(Refusal::busy(&shared.budget));
        }
        buf.reserve(n);
        charged = n;
    }
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Refusal::new(Kind::Invalid, format!("reading the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if buf.len().saturating_add(data.len()) > max {
            return Err(Refusal::too_large(&shared.limits));
        }
        let needed = buf.len() + data.len();
        if needed > charged {
            if !charge.grow(needed - charged) {
                return Err(Refusal::busy(&shared.budget));
            }
            charged = needed;
        }
        buf.extend_from_slice(&data);
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_google_rpc_status() {
        let body = rpc_status_body(3, "bad");
        assert_eq!(&body[..], b"\x08\x03\x12\x03bad");
    }
}
