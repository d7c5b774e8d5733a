//! A fleet of collectors, its I/O edge: several endpoints (listed, or every
//! address a `dns:///` name resolves to), one exporter, health and
//! statistics per member. Every routing decision (which members are in the
//! route, which member a trace goes to, how a failed request is split) is
//! `crate::fleet`'s; this module only tells it each member's
//! [`Standing`] and sends what it decides.
//!
//! Each member is an ordinary single-collector exporter built with retries
//! off: the fleet decides what a retryable failure means. A member that
//! refuses connections, times out or answers UNAVAILABLE / 503 is taken
//! out of the route for a backoff period (500 ms, doubling up to the retry
//! policy's `max_backoff`); the request that failed is split by trace id
//! over the members still up and sent there, so its spans are delivered,
//! not lost. The member comes back into the route when its backoff ends;
//! the next request to it is the probe (a failure takes it out again, for
//! longer). When every member is down, requests wait the retry policy's
//! backoff and try again until the export deadline, as a single collector
//! would. Names are re-resolved every `dns_refresh` and after a member
//! fails; a member whose address disappears is `gone` (out of the route,
//! its statistics kept). A re-resolution that fails keeps the members as
//! they were, is counted ([`DnsStats`]) and is tried again.
//!
//! This module must never hold a batch past its deadline, and never drop a
//! span silently: each one is exported, failed or rejected in the report.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use super::options::{ExporterConfig, Protocol, TransportError, GRPC_COMPONENT, HTTP_COMPONENT};
use super::otlp_grpc::GrpcExporter;
use super::otlp_http::HttpExporter;
use crate::endpoint::{Endpoint, Via};
use crate::export::{
    BoxFuture, DnsStats, EndpointStats, ExportError, ExportReport, ExportRequest, Exporter, Members,
};
use crate::fleet::{Route, Router, Standing};
use crate::retry::{Backoff, RetryConfig};
use crate::sync::lock;

/// The first backoff of a member taken out of the route.
const MEMBER_BACKOFF: Duration = Duration::from_millis(500);

/// One collector of the fleet.
struct Member {
    label: String,
    seed: u64,
    exporter: Arc<dyn Exporter>,
    /// Out of the route until then.
    down_until: Mutex<Option<Instant>>,
    /// The next backoff, doubled at each failure in a row.
    backoff: Mutex<Duration>,
    /// No longer resolved by DNS.
    gone: AtomicBool,
    /// The `dns:///` name it was resolved from (index in `names`).
    name: Option<usize>,
    exported: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    retried: AtomicU64,
    bytes: AtomicU64,
}

impl Member {
    fn is_up(&self, now: Instant) -> bool {
        self.standing(now) == Standing::Up
    }

    fn standing(&self, now: Instant) -> Standing {
        if self.gone.load(Ordering::Relaxed) {
            Standing::Gone
        } else if lock(&self.down_until).is_none_or(|t| now >= t) {
            Standing::Up
        } else {
            Standing::Down
        }
    }

    fn mark_down(&self, max: Duration) {
        let mut backoff = lock(&self.backoff);
        let now = Instant::now();
        *lock(&self.down_until) = Some(now + *backoff);
        log::warn!(
            "tracewire: collector {} is taken out of the fleet's route for {:?}; its traces go to the next member",
            self.label,
            *backoff
        );
        *backoff = (*backoff * 2).min(max.max(MEMBER_BACKOFF));
    }

    fn mark_up(&self) {
        *lock(&self.down_until) = None;
        *lock(&self.backoff) = MEMBER_BACKOFF;
    }
}

/// A `dns:///` name whose addresses are members.
struct DnsName {
    endpoint: Endpoint,
    /// Re-resolutions since start, and how many of them failed.
    resolutions: AtomicU64,
    failures: AtomicU64,
    /// Addresses at the last successful resolution.
    addresses: AtomicU64,
}

/// An exporter that routes each trace to one of several collectors.
pub(crate) struct FleetExporter {
    /// Append-only: a member's id is its index, for good.
    members: RwLock<Vec<Arc<Member>>>,
    names: Vec<DnsName>,
    config: ExporterConfig,
    prefix: usize,
    max_request: Option<usize>,
    retry: RetryConfig,
    refresh: Duration,
    last_resolve: Mutex<Instant>,
    resolving: Arc<AtomicBool>,
}

impl std::fmt::Debug for FleetExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<String> = self
            .members
            .read()
            .map(|m| m.iter().map(|m| m.label.clone()).collect())
            .unwrap_or_default();
        f.debug_struct("FleetExporter")
            .field("members", &labels)
            .finish_non_exhaustive()
    }
}

/// A single-collector exporter for one member, retries off.
fn member_exporter(
    config: &ExporterConfig,
    endpoint: Endpoint,
) -> Result<Arc<dyn Exporter>, TransportError> {
    let mut c = config.clone();
    c.endpoint = endpoint;
    c.fleet.clear();
    c.retry.enabled = false;
    Ok(match c.protocol {
        Protocol::Http => Arc::new(HttpExporter::new(&c)?),
        Protocol::Grpc => Arc::new(GrpcExporter::new(&c)?),
    })
}

/// Every address `endpoint`'s name resolves to, at start (blocking).
fn resolve_now(
    config: &ExporterConfig,
    endpoint: &Endpoint,
) -> Result<Vec<SocketAddr>, TransportError> {
    let shown = endpoint.to_string();
    let addrs = config
        .resolver
        .resolve_blocking(endpoint.host(), endpoint.port())
        .map_err(|e| TransportError::Resolve {
            name: shown.clone(),
            reason: e.to_string(),
        })?;
    if addrs.is_empty() {
        return Err(TransportError::Resolve {
            name: shown,
            reason: "the name has no A or AAAA record".into(),
        });
    }
    Ok(addrs)
}

impl FleetExporter {
    /// Builds the fleet `config.endpoint` and `config.fleet` describe,
    /// resolving `dns:///` names now (a name that resolves to nothing is an
    /// error).
    pub(crate) fn new(config: &ExporterConfig) -> Result<Self, TransportError> {
        let mut members = Vec::new();
        let mut names = Vec::new();
        let all = std::iter::once(&config.endpoint).chain(&config.fleet);
        for endpoint in all {
            if *endpoint.via() == Via::Dns {
                let addrs = resolve_now(config, endpoint)?;
                let count = addrs.len() as u64;
                for addr in addrs {
                    let name = Some(names.len());
                    members.push(Self::member(config, endpoint.at_address(addr), name)?);
                }
                names.push(DnsName {
                    endpoint: endpoint.clone(),
                    resolutions: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                    addresses: AtomicU64::new(count),
                });
            } else {
                members.push(Self::member(config, endpoint.clone(), None)?);
            }
        }
        let mut seen = std::collections::HashSet::new();
        for m in &members {
            if !seen.insert(m.label.clone()) {
                return Err(TransportError::DuplicateMember {
                    member: m.label.clone(),
                });
            }
        }
        let first = members
            .first()
            .map(|m| (m.exporter.prefix_len(), m.exporter.max_request_bytes()));
        let (prefix, max_request) = first.unwrap_or((0, None));
        Ok(FleetExporter {
            members: RwLock::new(members),
            names,
            config: config.clone(),
            prefix,
            max_request,
            retry: config.retry,
            refresh: config.dns_refresh,
            last_resolve: Mutex::new(Instant::now()),
            resolving: Arc::new(AtomicBool::new(false)),
        })
    }

    fn member(
        config: &ExporterConfig,
        endpoint: Endpoint,
        name: Option<usize>,
    ) -> Result<Arc<Member>, TransportError> {
        let label = endpoint.member_label();
        Ok(Arc::new(Member {
            seed: Route::seed(&label),
            label,
            exporter: member_exporter(config, endpoint)?,
            down_until: Mutex::new(None),
            backoff: Mutex::new(MEMBER_BACKOFF),
            gone: AtomicBool::new(false),
            name,
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }))
    }

    fn snapshot(&self) -> Vec<Arc<Member>> {
        match self.members.read() {
            Ok(m) => m.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The members up now; every member still resolved when none is.
    fn fill_route(&self, router: &mut Router) {
        let now = Instant::now();
        let members = self.snapshot();
        router.fill(members.iter().map(|m| (m.seed, m.standing(now))));
    }

    /// Re-resolves the `dns:///` names in the background, at most once per
    /// `dns_refresh` unless `now_please` (after a failure: at most once a
    /// second).
    fn maybe_resolve(self: &Arc<Self>, now_please: bool) {
        if self.names.is_empty() {
            return;
        }
        {
            let mut last = lock(&self.last_resolve);
            let every = if now_please {
                Duration::from_secs(1)
            } else {
                self.refresh
            };
            if last.elapsed() < every {
                return;
            }
            *last = Instant::now();
        }
        if self.resolving.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.resolving.store(false, Ordering::Release);
            return;
        };
        let fleet = self.clone();
        runtime.spawn(async move {
            fleet.resolve().await;
            fleet.resolving.store(false, Ordering::Release);
        });
    }

    async fn resolve(&self) {
        for (index, name) in self.names.iter().enumerate() {
            let e = &name.endpoint;
            name.resolutions.fetch_add(1, Ordering::Relaxed);
            let found: Vec<SocketAddr> = match self
                .config
                .resolver
                .resolve(e.host(), e.port())
                .await
            {
                Ok(addrs) => addrs,
                Err(err) => {
                    name.failures.fetch_add(1, Ordering::Relaxed);
                    log::warn!("tracewire: resolving {e} failed ({err}); keeping its members as they were and retrying later");
                    continue;
                }
            };
            if found.is_empty() {
                name.failures.fetch_add(1, Ordering::Relaxed);
                log::warn!("tracewire: {e} resolved to no address; keeping its members as they were and retrying later");
                continue;
            }
            name.addresses.store(found.len() as u64, Ordering::Relaxed);
            let mut members = match self.members.write() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            for m in members.iter().filter(|m| m.name == Some(index)) {
                if let Ok(addr) = m.label.parse::<SocketAddr>() {
                    m.gone.store(!found.contains(&addr), Ordering::Relaxed);
                }
            }
            for addr in found {
                let label = addr.to_string();
                if members.iter().any(|m| m.label == label) {
                    continue;
                }
                match Self::member(&self.config, e.at_address(addr), Some(index)) {
                    Ok(m) => {
                        log::info!(
                            "tracewire: {e} now also resolves to {label}: a new fleet member"
                        );
                        members.push(m);
                    }
                    Err(err) => log::warn!("tracewire: cannot add {label} to the fleet: {err}"),
                }
            }
        }
    }

    async fn export_inner(self: Arc<Self>, request: ExportRequest) -> ExportReport {
        let spans = request.spans as u64;
        let deadline = match Instant::now().checked_add(self.retry.max_elapsed) {
            Some(bound) => request.deadline.min(bound),
            None => request.deadline,
        };
        let mut report = ExportReport {
            result: Ok(()),
            rejected: 0,
            failed: 0,
            retried: Some(0),
            attempts: 0,
            bytes_sent: 0,
            buffer: None,
        };
        let mut last_error: Option<ExportError> = None;
        let mut backoff = Backoff::new(self.retry);
        // Requests still to send: member, buffer, spans, whether a resend.
        let mut work = vec![(request.member, request.buffer, request.spans, false)];
        let mut router = Router::default();
        while let Some((id, buffer, n, resend)) = work.pop() {
            let members = self.snapshot();
            let Some(member) = members.get(id).cloned() else {
                report.failed += n as u64;
                continue;
            };
            let r = member
                .exporter
                .export(ExportRequest {
                    buffer,
                    prefix: self.prefix,
                    spans: n,
                    deadline,
                    member: id,
                })
                .await;
            report.attempts += r.attempts;
            report.bytes_sent += r.bytes_sent;
            member.bytes.fetch_add(r.bytes_sent, Ordering::Relaxed);
            if resend {
                member.retried.fetch_add(n as u64, Ordering::Relaxed);
                report.retried = report.retried.map(|x| x + n as u64);
            }
            let error = match r.result {
                Ok(()) => {
                    member.mark_up();
                    let lost = (r.rejected + r.failed).min(n as u64);
                    member
                        .exported
                        .fetch_add(n as u64 - lost, Ordering::Relaxed);
                    member.rejected.fetch_add(r.rejected, Ordering::Relaxed);
                    member.failed.fetch_add(r.failed, Ordering::Relaxed);
                    report.rejected += r.rejected;
                    report.failed += r.failed;
                    if report.buffer.is_none() {
                        report.buffer = r.buffer;
                    }
                    continue;
                }
                Err(e) => e,
            };
            member.failed.fetch_add(n as u64, Ordering::Relaxed);
            let fail_over = matches!(
                error,
                ExportError::Unreachable(_)
                    | ExportError::DeadlineExceeded { .. }
                    | ExportError::Unavailable(_)
            );
            let buffer = r.buffer.filter(|b| b.len() >= self.prefix);
            let (true, Some(buffer)) = (fail_over, buffer) else {
                // Refused for good (the others would refuse it too), or
                // nothing left to resend.
                report.failed += n as u64;
                last_error = Some(error);
                continue;
            };
            member.mark_down(self.retry.max_backoff);
            self.maybe_resolve(true);
            last_error = Some(error);
            if Instant::now() >= deadline {
                report.failed += n as u64;
                continue;
            }
            self.fill_route(&mut router);
            let anyone_up = {
                let now = Instant::now();
                let members = self.snapshot();
                (0..members.len()).any(|i| members[i].is_up(now))
            };
            if !anyone_up {
                // Every member is down: wait as a single collector would.
                let delay = backoff.next_delay(None);
                if Instant::now() + delay >= deadline {
                    report.failed += n as u64;
                    continue;
                }
                tokio::time::sleep(delay).await;
                self.fill_route(&mut router);
            }
            match router.split(&buffer[self.prefix..], self.prefix) {
                Ok(parts) => {
                    for p in parts {
                        work.push((p.member, p.buffer, p.spans, true));
                    }
                }
                Err(e) => {
                    log::warn!("tracewire: cannot re-route a failed request: {e}");
                    report.failed += n as u64;
                }
            }
        }
        if report.failed >= spans {
            let error = last_error.unwrap_or(ExportError::Unavailable(
                "no fleet member could take the request".into(),
            ));
            let mut failure = ExportReport::failure(error, report.attempts, report.bytes_sent);
            failure.retried = report.retried;
            return failure;
        }
        report
    }
}

/// The fleet as the worker's exporter (the `Arc` lets background DNS
/// refreshes outlive a call).
pub(crate) struct Fleet(pub(crate) Arc<FleetExporter>);

impl Exporter for Fleet {
    fn prefix_len(&self) -> usize {
        self.0.prefix
    }

    fn max_request_bytes(&self) -> Option<usize> {
        self.0.max_request
    }

    fn component_type(&self) -> &'static str {
        match self.0.config.protocol {
            Protocol::Grpc => GRPC_COMPONENT,
            _ => HTTP_COMPONENT,
        }
    }

    fn members(&self) -> Option<&dyn Members> {
        Some(self)
    }

    fn export(&self, request: ExportRequest) -> BoxFuture<'_, ExportReport> {
        Box::pin(self.0.clone().export_inner(request))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            for m in self.0.snapshot() {
                m.exporter.shutdown().await;
            }
        })
    }
}

impl Members for Fleet {
    fn route(&self, router: &mut Router) {
        self.0.maybe_resolve(false);
        self.0.fill_route(router);
    }

    fn endpoint_stats(&self) -> Vec<EndpointStats> {
        let now = Instant::now();
        self.0
            .snapshot()
            .iter()
            .map(|m| EndpointStats {
                endpoint: m.label.clone(),
                exported: m.exported.load(Ordering::Relaxed),
                failed: m.failed.load(Ordering::Relaxed),
                rejected: m.rejected.load(Ordering::Relaxed),
                retried: m.retried.load(Ordering::Relaxed),
                bytes_sent: m.bytes.load(Ordering::Relaxed),
                state: if m.gone.load(Ordering::Relaxed) {
                    "gone"
                } else if m.is_up(now) {
                    "up"
                } else {
                    "down"
                },
            })
            .collect()
    }

    fn dns_stats(&self) -> Vec<DnsStats> {
        self.0
            .names
            .iter()
            .map(|n| DnsStats {
                name: n.endpoint.to_string(),
                resolutions: n.resolutions.load(Ordering::Relaxed),
                failures: n.failures.load(Ordering::Relaxed),
                addresses: n.addresses.load(Ordering::Relaxed),
            })
            .collect()
    }
}
