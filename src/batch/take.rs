//! Building one batch: taking spans from the recording threads' logs and
//! the lane of large spans, within the batch's count and the peer's
//! request size, and writing them into a request buffer (each span copied
//! once, already framed); what waits, and what goes back to the threads.
//!
//! Runs on the export worker, once per batch: never on a recording thread.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};

use super::Worker;
use crate::codec::otlp::{
    put_request_framed, request_len_framed, request_overhead, EncodedScope, FramedGroup,
};
use crate::codec::wire::{len_field_len, put_len_header};
use crate::fleet::Router;
use crate::shared::SPAN_BUFFER_RETAIN;
use crate::span_log::{Admit, LogReader};
use crate::sync::lock;

/// `ScopeSpans.spans`.
const SCOPE_SPANS_SPANS: u32 = crate::codec::otlp::field::scope_spans::SPANS;

impl Worker {
    /// Spans waiting in the logs and the lane (and one held back by the
    /// byte cap, and split spans being joined).
    pub(super) fn waiting(&mut self) -> u64 {
        self.refresh_logs();
        self.readers.iter().map(LogReader::waiting).sum::<u64>()
            + self.shared.lane.len() as u64
            + u64::from(self.held.is_some())
            + self.joins.pending() as u64
    }

    pub(super) fn refresh_scopes(&mut self) {
        let version = self.shared.scope_version.load(Ordering::Acquire);
        if version == self.scope_version {
            return;
        }
        let scopes = lock(&self.shared.scopes);
        self.scopes = scopes.iter().map(|(_, e)| e.clone()).collect();
        self.scope_version = version;
        drop(scopes);
        let scopes: Vec<&EncodedScope> = self.scopes.iter().map(|s| &**s).collect();
        self.overhead = request_overhead(&self.resource, &scopes);
    }

    /// Picks up the readers of logs that threads created since last time.
    pub(super) fn refresh_logs(&mut self) {
        let version = self.shared.log_version.load(Ordering::Acquire);
        if version != self.log_version {
            self.log_version = version;
            self.shared.take_new_readers(&mut self.readers);
        }
    }

    /// Frees the logs of threads that exited, once drained (their chunks go
    /// back to the pool for the threads still recording).
    pub(super) fn retire_finished_logs(&mut self) {
        self.refresh_logs();
        let mut i = 0;
        while i < self.readers.len() {
            if self.readers[i].is_finished() {
                let reader = self.readers.swap_remove(i);
                self.shared.retire(reader);
            } else {
                i += 1;
            }
        }
    }

    /// Writes the next batch into request buffers, one per fleet member its
    /// traces go to (one in all with a single collector), each with the
    /// gRPC prefix reserved in front when the exporter wants one, and
    /// consumes it from the logs. The requests go to `self.requests`;
    /// returns the number of spans taken (0 when nothing waits).
    ///
    /// Each member's request holds at most a batch of spans and the peer's
    /// byte cap; the batch stops at the first span whose member is full.
    pub(super) fn take_batch(&mut self) -> usize {
        self.refresh_scopes();
        self.refresh_logs();
        match self.exporter.members() {
            Some(m) => m.route(&mut self.router),
            None => self.router.clear(),
        }
        let batch = self.config.effective_batch_size();
        let (cap, overhead) = (self.max_request_bytes, self.overhead);
        let mut per = std::mem::take(&mut self.per_member);
        per.clear();
        let router = std::mem::take(&mut self.router);
        let mut b = Building {
            per: &mut per,
            batch,
            cap,
            overhead,
            taken: 0,
            rejected: 0,
            fresh: 0,
        };
        self.records.clear();
        self.marks.clear();
        self.large.clear();
        self.large_members.clear();
        // A span whose request alone would pass the cap is never sent; a
        // member's request closes before the span that would take it past
        // the cap or the batch size, and so does the whole batch.
        let mut full = self.take_large(&router, &mut b);
        let n = self.readers.len();
        let peek = router.head_len();
        for k in 0..n {
            if full {
                break;
            }
            let i = (self.next_reader + k) % n;
            let start = self.records.len();
            let mark =
                self.readers[i].gather(&mut self.records, peek, &mut self.joins, |r, head| {
                    if overhead.saturating_add(r.len) > cap {
                        b.rejected += 1;
                        return Admit::Skip;
                    }
                    let m = router.member_of_framed(head);
                    let slot = slot(b.per, m);
                    if slot.0 >= batch || overhead + slot.1 + r.len > cap {
                        full = true;
                        Admit::Stop
                    } else {
                        slot.0 += 1;
                        slot.1 += r.len;
                        b.taken += 1;
                        r.member = m as u32;
                        Admit::Take
                    }
                });
            b.fresh += mark.spans();
            let end = self.records.len();
            if end > start || mark.spans() > 0 {
                self.marks.push((i, mark, start..end));
            }
        }
        // Split spans whose rest was found: joined, and into this batch
        // while it has room.
        if self.joins.pending() > 0 {
            let lost = self.joins.resolve(&mut self.readers);
            if lost > 0 {
                self.lost_parts(lost);
            }
            if !full {
                self.take_large(&router, &mut b);
            }
        }
        let Building {
            taken,
            rejected,
            fresh,
            ..
        } = b;
        let taken = taken as usize;
        self.router = router;
        if rejected > 0 {
            self.reject_too_large(rejected);
        }
        // Out of the logs: no longer shedding pressure.
        self.shared.shed.taken(fresh);
        self.taken_total += fresh;
        self.taken_bytes_total += per.iter().map(|&(_, bytes)| bytes as u64).sum::<u64>();
        self.next_reader = if n == 0 {
            0
        } else {
            (self.next_reader + 1) % n
        };
        if taken == 0 {
            // Only spans too large to send (if any): taken out, nothing to send.
            for (i, mark, _) in self.marks.drain(..) {
                self.readers[i].consume(mark, &self.shared.pool);
            }
            self.per_member = per;
            return 0;
        }
        for (m, &(count, _)) in per.iter().enumerate() {
            if count > 0 {
                let buffer = self.write_request(m as u32);
                self.requests.push((m, buffer, count));
            }
        }
        self.per_member = per;
        // Copied: the logs may reuse the space.
        for (i, mark, _) in self.marks.drain(..) {
            self.readers[i].consume(mark, &self.shared.pool);
        }
        for s in self.large.drain(..) {
            self.returner
                .give(&self.shared.bufs, s.body, SPAN_BUFFER_RETAIN);
        }
        self.shared
            .counters
            .in_flight
            .fetch_add(taken as u64, Ordering::Relaxed);
        self.shared.wake.drained();
        taken
    }

    /// Adds large and joined spans to the batch being built (a held one
    /// first): whether the batch is full. A continuation too large for a
    /// chunk goes to the joins.
    fn take_large(&mut self, router: &Router, b: &mut Building<'_>) -> bool {
        loop {
            let span = match self.held.take().or_else(|| self.joins.pop_ready()) {
                Some(s) => s,
                None => match self.shared.lane.pop() {
                    Some(s) => {
                        b.fresh += 1;
                        s
                    }
                    None => return false,
                },
            };
            if span.part.is_some() {
                self.joins.cont_large(span);
                continue;
            }
            let size = len_field_len(SCOPE_SPANS_SPANS, span.span().len());
            if b.overhead.saturating_add(size) > b.cap {
                b.rejected += 1;
                self.returner
                    .give(&self.shared.bufs, span.body, SPAN_BUFFER_RETAIN);
                continue;
            }
            let m = router.member_of_span(span.span());
            let slot = slot(b.per, m);
            if slot.0 >= b.batch || b.overhead + slot.1 + size > b.cap {
                self.held = Some(span);
                return true;
            }
            slot.0 += 1;
            slot.1 += size;
            b.taken += 1;
            self.large.push(span);
            self.large_members.push(m as u32);
        }
    }

    /// Counts split spans whose part one was gone (dropped for the joins'
    /// budget) as dropped, with a warning at most once a second.
    fn lost_parts(&mut self, n: u64) {
        self.shared.counters.dropped.fetch_add(n, Ordering::Release);
        let now = Instant::now();
        if self
            .last_lost_warning
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.last_lost_warning = Some(now);
            log::warn!(
                "tracewire: {n} long-lived span(s) dropped: the start they wrote before their \
                 log moved on was no longer kept (more spans were open at once than the worker \
                 keeps the start of)"
            );
        }
    }

    /// Writes member `m`'s share of the gathered batch into a pooled
    /// request buffer (the exporter's prefix reserved in front).
    fn write_request(&mut self, m: u32) -> BytesMut {
        // One group per scope: the length of its framed spans.
        let last = self.scopes.len().saturating_sub(1);
        let mut lens = vec![0usize; self.scopes.len()];
        for r in self.records.iter().filter(|r| r.member == m) {
            if let Some(l) = lens.get_mut(usize::from(r.scope).min(last)) {
                *l += r.len;
            }
        }
        for (s, _) in self
            .large
            .iter()
            .zip(&self.large_members)
            .filter(|(_, &lm)| lm == m)
        {
            if let Some(l) = lens.get_mut(usize::from(s.scope).min(last)) {
                *l += len_field_len(SCOPE_SPANS_SPANS, s.span().len());
            }
        }
        let groups: Vec<FramedGroup<'_>> = self
            .scopes
            .iter()
            .zip(&lens)
            .map(|(scope, &spans_len)| FramedGroup { scope, spans_len })
            .collect();
        let prefix = self.exporter.prefix_len();
        let mut buffer = self.request_pool.take();
        buffer.reserve(prefix + request_len_framed(&self.resource, &groups));
        buffer.put_bytes(0, prefix);
        let (records, marks, readers, large, large_members) = (
            &self.records,
            &self.marks,
            &self.readers,
            &self.large,
            &self.large_members,
        );
        put_request_framed(&mut buffer, &self.resource, &groups, |out, g| {
            for (i, _, range) in marks {
                let reader = &readers[*i];
                for r in &records[range.clone()] {
                    if r.member == m && usize::from(r.scope).min(last) == g {
                        reader.with_record(r, |bytes| out.extend_from_slice(bytes));
                    }
                }
            }
            for (s, _) in large.iter().zip(large_members).filter(|(_, &lm)| lm == m) {
                if usize::from(s.scope).min(last) == g {
                    put_len_header(out, SCOPE_SPANS_SPANS, s.span().len());
                    out.extend_from_slice(s.span());
                }
            }
        });
        buffer
    }

    /// Counts spans larger than the peer accepts as rejected (they are never
    /// sent), with a warning at most once a second.
    pub(super) fn reject_too_large(&mut self, n: u64) {
        self.shared
            .counters
            .rejected
            .fetch_add(n, Ordering::Release);
        let now = Instant::now();
        if self
            .last_too_large_warning
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            self.last_too_large_warning = Some(now);
            log::warn!(
                "tracewire: {n} span(s) larger than the {} byte request limit were rejected, not sent; \
                 shorten their attributes (spanLimits.attributeValueLengthLimit) or raise \
                 tracing.batch.maxExportBytes if the collector accepts more",
                self.max_request_bytes
            );
        }
    }

    /// Takes every waiting span out of the logs and the lane without
    /// exporting it; returns how many.
    pub(super) fn discard_waiting(&mut self) -> u64 {
        self.refresh_logs();
        let mut n = 0;
        let mut fresh = 0;
        while let Some(span) = self.held.take().or_else(|| self.joins.pop_ready()) {
            n += 1;
            self.returner
                .give(&self.shared.bufs, span.body, SPAN_BUFFER_RETAIN);
        }
        while let Some(span) = self.shared.lane.pop() {
            fresh += 1;
            self.returner
                .give(&self.shared.bufs, span.body, SPAN_BUFFER_RETAIN);
        }
        for reader in &mut self.readers {
            self.records.clear();
            let mark = reader.gather(&mut self.records, 0, &mut self.joins, |_, _| Admit::Take);
            fresh += mark.spans();
            reader.consume(mark, &self.shared.pool);
        }
        // The continuations gathered just now are counted in `fresh`.
        self.joins.discard();
        self.records.clear();
        self.shared.shed.taken(fresh);
        self.taken_total += fresh;
        n + fresh
    }
}

/// The batch being built: its limits, and what went in so far.
struct Building<'a> {
    per: &'a mut Vec<(usize, usize)>,
    batch: usize,
    cap: usize,
    overhead: usize,
    taken: u64,
    rejected: u64,
    /// Spans taken out of the logs and the lane (for the shedding pressure
    /// and the arrival rate).
    fresh: u64,
}

/// Member `m`'s (spans, bytes) slot, grown when the route names a new id.
#[inline]
fn slot(per: &mut Vec<(usize, usize)>, m: usize) -> &mut (usize, usize) {
    if m >= per.len() {
        per.resize(m + 1, (0, 0));
    }
    &mut per[m]
}
