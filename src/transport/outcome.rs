//! What every export does once its retries are over, whichever transport
//! sent it: the buffer goes back where it came from, the outcome becomes
//! the [`ExportReport`], and a collector's partial-success message is
//! logged without flooding.
//!
//! Runs once per export on the worker's runtime; never per span.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::BytesMut;

use crate::export::ExportReport;
use crate::pool::Pool;
use crate::retry::{Accepted, Retried};
use crate::sync::lock;

/// Logs each distinct partial-success message once (up to 64 distinct
/// messages), and at most one such line per second.
#[derive(Default)]
pub(crate) struct PartialSuccessLog {
    seen: Mutex<Vec<u64>>,
    last: AtomicU64,
}

impl PartialSuccessLog {
    pub(crate) fn report(&self, rejected: i64, message: &str) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        message.hash(&mut h);
        let key = h.finish();
        {
            let mut seen = lock(&self.seen);
            if seen.contains(&key) || seen.len() >= 64 {
                return;
            }
            seen.push(key);
        }
        let now = crate::clock::now_unix_nanos() / 1_000_000_000;
        if self.last.swap(now, Ordering::Relaxed) == now {
            return;
        }
        log::warn!("tracewire: collector rejected {rejected} span(s): {message}");
    }
}

/// What an export put on the wire, counted as it happens: the requests
/// that went out and their bytes. An attempt that could not connect sends
/// nothing, so a collector that refuses connections shows 0 requests and
/// 0 bytes, not one request per retry.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    bytes: AtomicU64,
    requests: AtomicU32,
}

impl Sent {
    /// A request of `bytes` bytes went out.
    pub(crate) fn request(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// What both transports do once an export's retries are over: the buffer
/// goes back where it came from (the worker's pool when it was the request's
/// own, `scratch` when it was a compression buffer), and the outcome
/// becomes the report.
pub(crate) fn finish_export(
    outcome: Retried,
    spans: u64,
    sent: &Sent,
    body: bytes::Bytes,
    original: Option<BytesMut>,
    scratch: &Pool<BytesMut>,
    partial: &PartialSuccessLog,
) -> ExportReport {
    // Take the buffer back when nobody else holds it.
    let buffer = match (original, body.try_into_mut().ok()) {
        (None, b) => b,
        (Some(original), Some(b)) => {
            scratch.give(b);
            Some(original)
        }
        (Some(original), None) => Some(original),
    };
    match outcome.result {
        Ok(Accepted { rejected, message }) => {
            if rejected > 0 {
                partial.report(rejected as i64, &message);
            }
            ExportReport {
                result: Ok(()),
                rejected: rejected.min(spans),
                failed: 0,
                retried: None,
                attempts: sent.requests(),
                bytes_sent: sent.bytes(),
                buffer,
            }
        }
        Err(e) => {
            let mut report = ExportReport::failure(e, sent.requests(), sent.bytes());
            report.buffer = buffer;
            report
        }
    }
}
