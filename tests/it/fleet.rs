//! A fleet of collectors (issue 15): several endpoints, each trace routed
//! to one member by its trace id, failover when a member stops, traffic
//! back when it returns; over OTLP/gRPC (tonic) and OTLP/HTTP (hyper), a
//! `dns:///` name (the system resolver and an injected one), and a unix
//! socket. Every receiver is a real server on 127.0.0.1 port 0.

use crate::common;

use common::collectors::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracewire::config::{load_str, Format};
use tracewire::model::SpanKind;
use tracewire::transport::{build, Endpoint, ExporterConfig, Protocol, Resolver, RetryConfig};
use tracewire::{BatchConfig, Pipeline};

fn fast_retry() -> RetryConfig {
    {
        let mut c = RetryConfig::default();
        c.initial_backoff = Duration::from_millis(20);
        c.max_backoff = Duration::from_millis(300);
        c
    }
}

fn grpc_fleet(endpoints: &[String]) -> ExporterConfig {
    let mut c = ExporterConfig::new(
        Protocol::Grpc,
        Endpoint::parse_grpc(&endpoints[0], true).unwrap(),
    );
    c.fleet = endpoints[1..]
        .iter()
        .map(|e| Endpoint::parse_grpc(e, true).unwrap())
        .collect();
    c.retry = fast_retry();
    c
}

fn http_fleet(urls: &[String]) -> ExporterConfig {
    let mut c = ExporterConfig::new(Protocol::Http, Endpoint::parse_http(&urls[0]).unwrap());
    c.fleet = urls[1..]
        .iter()
        .map(|e| Endpoint::parse_http(e).unwrap())
        .collect();
    c.retry = fast_retry();
    c
}

fn pipeline(cfg: &ExporterConfig) -> Pipeline {
    Pipeline::builder()
        .exporter_arc(build(cfg).expect("exporter builds"))
        .batch({
            let mut c = BatchConfig::default();
            c.scheduled_delay = Duration::from_secs(3600);
            c.export_timeout = Duration::from_secs(20);
            c.max_queue_size = 1 << 16;
            c
        })
        .start()
        .expect("pipeline starts")
}

/// Records `n` traces of two spans (a SERVER span and its CLIENT child)
/// and flushes; returns the span ids recorded, per trace id.
fn record_traces(p: &Pipeline, n: usize) -> BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>> {
    let tracer = p.tracer("fleet-test");
    let mut traces: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>> = BTreeMap::new();
    for _ in 0..n {
        let mut server = tracer.start("GET /", SpanKind::Server);
        server.set_str("http.request.method", "GET");
        let ctx = server.context().clone();
        let client = tracer.start_with_parent("upstream", SpanKind::Client, Some(&ctx));
        let ids = traces
            .entry(ctx.trace_id().to_bytes().to_vec())
            .or_default();
        ids.insert(client.context().span_id().to_bytes().to_vec());
        ids.insert(ctx.span_id().to_bytes().to_vec());
        client.end();
        server.end();
    }
    p.force_flush(Duration::from_secs(20))
        .expect("flush delivers");
    traces
}

/// (receiver, trace id, span id) of every span a gRPC receiver accepted.
fn grpc_delivered(rx: &[&GrpcState]) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, st) in rx.iter().enumerate() {
        for r in st.received.lock().unwrap().iter() {
            if matches!(r.reply, GrpcReply::Ok) {
                for (t, s) in r.traces.iter().zip(&r.ids) {
                    out.push((i, t.clone(), s.clone()));
                }
            }
        }
    }
    out
}

fn http_delivered(rx: &[&HttpState]) -> Vec<(usize, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, st) in rx.iter().enumerate() {
        for r in st.received.lock().unwrap().iter() {
            if matches!(r.reply, HttpReply::Ok) {
                for (t, s) in span_traces(&r.request).iter().zip(span_ids(&r.request)) {
                    out.push((i, t.clone(), s));
                }
            }
        }
    }
    out
}

/// Every recorded span delivered exactly once, each trace whole at one
/// receiver; returns spans per receiver.
fn check_whole(
    recorded: &BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    delivered: &[(usize, Vec<u8>, Vec<u8>)],
    receivers: usize,
) -> Vec<usize> {
    let mut per = vec![0; receivers];
    let mut seen: BTreeMap<Vec<u8>, (usize, BTreeSet<Vec<u8>>)> = BTreeMap::new();
    for (i, t, s) in delivered {
        if !recorded.contains_key(t) {
            continue; // an earlier phase's trace
        }
        per[*i] += 1;
        let entry = seen.entry(t.clone()).or_insert((*i, BTreeSet::new()));
        assert_eq!(entry.0, *i, "a trace's spans went to two receivers");
        assert!(entry.1.insert(s.clone()), "a span arrived twice");
    }
    assert_eq!(seen.len(), recorded.len(), "some traces never arrived");
    for (t, ids) in recorded {
        assert_eq!(&seen[t].1, ids, "a trace arrived incomplete");
    }
    per
}

async fn bind_again(addr: std::net::SocketAddr) -> tokio::net::TcpListener {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) if Instant::now() > until => panic!("cannot bind {addr} again: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_fleet_routes_whole_traces_fails_over_and_takes_a_member_back() {
    let a = GrpcCollector::start(vec![], None).await;
    let mut b = GrpcCollector::start(vec![], None).await;
    let c = GrpcCollector::start(vec![], None).await;
    let endpoints = [a.endpoint(), b.endpoint(), c.endpoint()];
    let p = pipeline(&grpc_fleet(&endpoints));

    // 1. All three up: whole traces, every member gets a share.
    let phase1 = tokio::task::block_in_place(|| record_traces(&p, 3000));
    let states = [a.state.clone(), b.state.clone(), c.state.clone()];
    let states = [&*states[0], &*states[1], &*states[2]];
    let per = check_whole(&phase1, &grpc_delivered(&states), 3);
    for n in &per {
        assert!(*n > 6000 / 3 / 2, "uneven shares: {per:?}");
    }

    // 2. b stops: its traces move to the others, nothing is lost.
    b.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let phase2 = tokio::task::block_in_place(|| record_traces(&p, 3000));
    let per = check_whole(&phase2, &grpc_delivered(&states), 3);
    assert_eq!(per[1], 0, "the stopped member took spans: {per:?}");
    assert!(per[0] > 0 && per[2] > 0);
    let stats = p.stats();
    assert_eq!(stats.exported, 12000);
    assert_eq!((stats.failed, stats.dropped, stats.rejected), (0, 0, 0));
    let members = p.endpoint_stats();
    assert_eq!(members.len(), 3);
    assert_eq!(members[1].endpoint, endpoints[1]);
    assert_eq!(
        members.iter().map(|m| m.exported).sum::<u64>(),
        12000,
        "{members:?}"
    );

    // 3. b returns on the same port: after its backoff it gets traffic again.
    let b2 = GrpcCollector::start_on(bind_again(b.addr).await, vec![], None);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let phase3 = tokio::task::block_in_place(|| record_traces(&p, 3000));
    let states3 = [&*a.state, &*b2.state, &*c.state];
    let per = check_whole(&phase3, &grpc_delivered(&states3), 3);
    assert!(per[1] > 0, "the member that came back got nothing: {per:?}");
    assert_eq!(p.endpoint_stats()[1].state, "up");
    let s = tokio::task::block_in_place(|| p.shutdown(Duration::from_secs(10))).unwrap();
    assert_eq!(s.exported, 18000);
    assert!(s.is_consistent());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_fleet_routes_whole_traces_and_fails_over() {
    let a = HttpCollector::start(vec![], None).await;
    let b = HttpCollector::start(vec![], None).await;
    let mut c = HttpCollector::start(vec![], None).await;
    let urls = [a.url(false), b.url(false), c.url(false)];
    // Byte caps and batch sizes hold per member's request.
    let p = Pipeline::builder()
        .exporter_arc(build(&http_fleet(&urls)).unwrap())
        .batch({
            let mut c = BatchConfig::default();
            c.scheduled_delay = Duration::from_secs(3600);
            c.max_queue_size = 1 << 16;
            c.max_export_batch_size = 300;
            c.max_export_bytes = Some(32 * 1024);
            c
        })
        .start()
        .unwrap();
    let states = [a.state.clone(), b.state.clone(), c.state.clone()];
    let states = [&*states[0], &*states[1], &*states[2]];

    let phase1 = tokio::task::block_in_place(|| record_traces(&p, 2000));
    let per = check_whole(&phase1, &http_delivered(&states), 3);
    assert!(per.iter().all(|n| *n > 4000 / 3 / 2), "{per:?}");

    c.stop();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let phase2 = tokio::task::block_in_place(|| record_traces(&p, 2000));
    let per = check_whole(&phase2, &http_delivered(&states), 3);
    assert_eq!(per[2], 0);
    let s = tokio::task::block_in_place(|| p.shutdown(Duration::from_secs(10))).unwrap();
    assert_eq!((s.exported, s.failed), (8000, 0));
    for st in states {
        for r in st.received.lock().unwrap().iter() {
            assert!(r.wire_len <= 32 * 1024, "a request of {} bytes", r.wire_len);
            assert!(span_count(&r.request) <= 300);
        }
    }
    let members = p.endpoint_stats();
    assert_eq!(members[2].endpoint, urls[2]);
    assert_eq!(members[2].state, "down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_takes_a_member_out_and_its_batch_goes_to_the_others() {
    let a = HttpCollector::start(vec![], None).await;
    let b = HttpCollector::start(
        (0..50)
            .map(|_| HttpReply::Status {
                code: 503,
                retry_after: None,
                body: Vec::new(),
            })
            .collect(),
        None,
    )
    .await;
    let urls = [a.url(false), b.url(false)];
    let p = pipeline(&http_fleet(&urls));
    let traces = tokio::task::block_in_place(|| record_traces(&p, 500));
    let states = [&*a.state, &*b.state];
    let per = check_whole(&traces, &http_delivered(&states), 2);
    assert_eq!(per, [1000, 0]);
    let s = p.stats();
    assert_eq!((s.exported, s.failed), (1000, 0));
    assert!(s.retried > 0, "the failed-over spans count as retried");
    let m = p.endpoint_stats();
    assert!(m[1].failed > 0 && m[1].exported == 0, "{m:?}");
    assert_eq!(m[0].exported, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_member_is_down_the_usual_accounting_applies() {
    let (dead1, dead2) = {
        let l1 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let l2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        (l1.local_addr().unwrap(), l2.local_addr().unwrap())
    };
    let mut cfg = grpc_fleet(&[dead1.to_string(), dead2.to_string()]);
    cfg.retry.max_elapsed = Duration::from_millis(800);
    let p = pipeline(&cfg);
    let tracer = p.tracer("t");
    for _ in 0..100 {
        tracer.start("s", SpanKind::Server).end();
    }
    let flushed = tokio::task::block_in_place(|| p.force_flush(Duration::from_secs(10)));
    assert!(flushed.is_err());
    let s = p.stats();
    assert_eq!((s.exported, s.failed, s.queued), (0, 100, 0));
    assert!(s.is_consistent());
}

/// With one member up and one down, each batch goes straight to the member
/// up (the only one in the route, whatever its index), not first to member
/// 0: while its backoff lasts, the member that is down is not tried again
/// and nothing is resent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_member_is_down_batches_go_straight_to_the_one_up() {
    let b = HttpCollector::start(vec![], None).await;
    // The member down stays out of the route for its first backoff (500
    // ms): both batches must fit in it. A slow round is run again.
    for round in 1.. {
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut cfg = http_fleet(&[format!("http://{dead}/v1/traces"), b.url(false)]);
        cfg.retry.max_backoff = Duration::from_secs(30);
        let p = pipeline(&cfg);
        let started = Instant::now();
        // 1. Member 0 refuses: it goes down, its traces go to member 1.
        let first = tokio::task::block_in_place(|| record_traces(&p, 100));
        let (m1, s1) = (p.endpoint_stats(), p.stats());
        // 2. Member 0 still down: the whole batch goes to member 1.
        let second = tokio::task::block_in_place(|| record_traces(&p, 100));
        let in_time = started.elapsed() < Duration::from_millis(450);
        let (m2, s2) = (p.endpoint_stats(), p.stats());
        let s = tokio::task::block_in_place(|| p.shutdown(Duration::from_secs(10))).unwrap();
        assert_eq!((s.exported, s.failed), (400, 0), "{s:?}");
        assert_eq!(m1[0].state, "down", "{m1:?}");
        assert!(m1[0].failed > 0 && s1.retried > 0, "{m1:?} {s1:?}");
        if !in_time {
            assert!(
                round < 10,
                "ten rounds took over 450 ms each: too slow to test"
            );
            continue;
        }
        assert_eq!(
            m2[0].failed, m1[0].failed,
            "member 0 was tried while down: {m2:?}"
        );
        assert_eq!(
            s2.retried, s1.retried,
            "the second batch was resent: {s2:?}"
        );
        assert_eq!(m2[1].exported - m1[1].exported, 200, "{m2:?}");
        let states = [&*b.state];
        let mut all = first;
        all.extend(second);
        let delivered: Vec<_> = http_delivered(&states)
            .into_iter()
            .filter(|(_, t, _)| all.contains_key(t))
            .collect();
        assert_eq!(check_whole(&all, &delivered, 1), [400]);
        break;
    }
}

/// Records a span at a time until `done` holds (a `dns:///` refresh runs
/// when the worker builds a batch past the interval); fails after 10 s,
/// naming `what`.
async fn record_until(p: &Pipeline, what: &str, done: impl Fn(&Pipeline) -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !done(p) {
        assert!(Instant::now() < until, "{what}: {:?}", p.dns_stats());
        tokio::task::block_in_place(|| record_traces(p, 1));
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The members DNS no longer lists.
fn gone_members(p: &Pipeline) -> Vec<String> {
    p.endpoint_stats()
        .into_iter()
        .filter(|m| m.state == "gone")
        .map(|m| m.endpoint)
        .collect()
}

/// A tonic receiver on each address `localhost` resolves to (127.0.0.1,
/// and ::1 where the system lists it), all on one port: what
/// `dns:///localhost:PORT` names.
async fn on_every_localhost_address() -> (u16, Vec<std::net::SocketAddr>, Vec<GrpcCollector>) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addrs: Vec<std::net::SocketAddr> = {
        use std::net::ToSocketAddrs;
        let mut v: Vec<_> = ("localhost", port).to_socket_addrs().unwrap().collect();
        v.sort();
        v.dedup();
        v
    };
    let mut rx = Vec::new();
    for a in &addrs {
        let l = tokio::net::TcpListener::bind(a).await.unwrap();
        rx.push(GrpcCollector::start_on(l, vec![], None));
    }
    (port, addrs, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_names_resolve_to_members_and_follow_changes() {
    // The system resolver: every address of localhost, each a member.
    let (port, addrs, rx) = on_every_localhost_address().await;
    let cfg = grpc_fleet(&[format!("dns:///localhost:{port}")]);
    let p = pipeline(&cfg);
    let traces = tokio::task::block_in_place(|| record_traces(&p, 500));
    let states: Vec<&GrpcState> = rx.iter().map(|r| &*r.state).collect();
    let per = check_whole(&traces, &grpc_delivered(&states), states.len());
    assert!(per.iter().all(|n| *n > 0), "{per:?}");
    let labels: Vec<String> = p.endpoint_stats().into_iter().map(|m| m.endpoint).collect();
    let want: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    assert_eq!(labels, want);
    drop(p);

    // An injected resolver whose answer changes: members come and go.
    let a = GrpcCollector::start(vec![], None).await;
    let b = GrpcCollector::start(vec![], None).await;
    let c = GrpcCollector::start(vec![], None).await;
    let answer = Arc::new(Mutex::new(vec![a.addr, b.addr]));
    let seen = answer.clone();
    let mut cfg = grpc_fleet(&["dns:///collectors.test:4317".to_string()]);
    cfg.resolver = Resolver::new(move |name, _port| {
        assert_eq!(name, "collectors.test");
        Ok(seen.lock().unwrap().clone())
    });
    cfg.dns_refresh = Duration::from_millis(100);
    let p = pipeline(&cfg);
    let first = tokio::task::block_in_place(|| record_traces(&p, 1000));
    let states = [&*a.state, &*b.state, &*c.state];
    let per = check_whole(&first, &grpc_delivered(&states), 3);
    assert!(per[0] > 0 && per[1] > 0 && per[2] == 0, "{per:?}");
    *answer.lock().unwrap() = vec![a.addr, c.addr];
    let new = c.addr.to_string();
    record_until(&p, "the new address never became a member", |p| {
        p.endpoint_stats().iter().any(|m| m.endpoint == new)
    })
    .await;
    let second = tokio::task::block_in_place(|| record_traces(&p, 1000));
    let per = check_whole(&second, &grpc_delivered(&states), 3);
    assert!(per[0] > 0 && per[1] == 0 && per[2] > 0, "{per:?}");
    assert_eq!(gone_members(&p), [b.addr.to_string()]);
}

/// After start, a name that fails to resolve (an error, or no address) is
/// counted and retried; its members stay in the route and keep receiving
/// whole traces until an answer changes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dns_name_that_stops_resolving_keeps_its_members_and_is_counted() {
    use tracewire::export::DnsStats;
    let a = GrpcCollector::start(vec![], None).await;
    let b = GrpcCollector::start(vec![], None).await;
    // Ok(addresses) answers; Err(()) fails as a resolver's SERVFAIL would.
    let answer: Arc<Mutex<Result<Vec<std::net::SocketAddr>, ()>>> =
        Arc::new(Mutex::new(Ok(vec![a.addr, b.addr])));
    let seen = answer.clone();
    let mut cfg = grpc_fleet(&["dns:///collectors.test:4317".to_string()]);
    cfg.resolver = Resolver::new(move |_, _| match &*seen.lock().unwrap() {
        Ok(addrs) => Ok(addrs.clone()),
        Err(()) => Err(std::io::Error::other("SERVFAIL")),
    });
    cfg.dns_refresh = Duration::from_millis(100);
    let p = pipeline(&cfg);
    let name = "dns:///collectors.test:4317".to_string();
    assert_eq!(
        p.dns_stats(),
        [{
            let mut c = DnsStats::default();
            c.name = name.clone();
            c.resolutions = 0;
            c.failures = 0;
            c.addresses = 2;
            c
        }]
    );

    let failures = |p: &Pipeline| p.dns_stats()[0].failures;
    *answer.lock().unwrap() = Err(());
    record_until(&p, "SERVFAIL counted", |p| failures(p) >= 2).await;
    *answer.lock().unwrap() = Ok(vec![]);
    let before = failures(&p);
    record_until(&p, "no address counted", |p| failures(p) > before).await;

    // Both members kept, both up, both still getting whole traces.
    let states = [&*a.state, &*b.state];
    let traces = tokio::task::block_in_place(|| record_traces(&p, 1000));
    let per = check_whole(&traces, &grpc_delivered(&states), 2);
    assert!(per.iter().all(|n| *n > 0), "{per:?}");
    let members = p.endpoint_stats();
    assert!(members.iter().all(|m| m.state == "up"), "{members:?}");
    let d = &p.dns_stats()[0];
    assert_eq!(d.addresses, 2, "{d:?}");
    assert!(d.resolutions >= d.failures, "{d:?}");

    // The metrics show the failures by name.
    let mut text = String::new();
    p.render_metrics(&mut text);
    let line = format!("tracewire_dns_resolution_failures_total{{name=\"{name}\"}} ");
    let shown: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in\n{text}"))
        .parse()
        .unwrap();
    assert!(shown > before, "{text}");

    // The name answers again, with one address: b is gone, a takes all.
    *answer.lock().unwrap() = Ok(vec![a.addr]);
    record_until(&p, "one address", |p| p.dns_stats()[0].addresses == 1).await;
    assert_eq!(gone_members(&p), [b.addr.to_string()]);
}

#[test]
fn a_dns_name_without_addresses_is_an_error_at_start() {
    let mut cfg = grpc_fleet(&["dns:///collectors.test:4317".to_string()]);
    cfg.resolver = Resolver::new(|_, _| Ok(vec![]));
    let err = build(&cfg).err().expect("build fails").to_string();
    assert!(err.contains("dns:///collectors.test:4317"), "{err}");
    assert!(err.contains("no A or AAAA record"), "{err}");
    cfg.resolver = Resolver::new(|_, _| Err(std::io::Error::other("SERVFAIL")));
    let err = build(&cfg).err().expect("build fails").to_string();
    assert!(err.contains("SERVFAIL"), "{err}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("otlp.sock");
    let state = Arc::new(GrpcState::default());
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_unix(listener, state.clone(), stopped));
    let yaml = format!(
        "tracing:\n  otlp:\n    grpc:\n      endpoint: unix://{}\n",
        path.display()
    );
    let config = load_str(&yaml, Format::Yaml, &[] as &[&str], |_| None).unwrap();
    let p = Pipeline::builder()
        .config(&config)
        .unwrap()
        .start()
        .unwrap();
    let traces = tokio::task::block_in_place(|| record_traces(&p, 100));
    let per = check_whole(&traces, &grpc_delivered(&[&state]), 1);
    assert_eq!(per, [200]);
    let _ = stop.send(());
    let _ = server.await;
}

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn endpoints_are_configured_as_lists_in_yaml_toml_and_flags() {
    let yaml = "tracing:\n  otlp:\n    grpc:\n      insecure: true\n      endpoints: [c1:4317, c2:4317, 'dns:///c3.example:4317']\n      keepAliveTime: 20s\n      keepAliveTimeout: 2s\n      maxConnectionAge: 10m\n      dnsRefreshInterval: 1m\n";
    let y = load_str(yaml, Format::Yaml, &[] as &[&str], no_env).unwrap();
    let toml = "[tracing.otlp.grpc]\ninsecure = true\nENDPOINTS = [\"c1:4317\", \"c2:4317\", \"dns:///c3.example:4317\"]\nkeepalivetime = \"20s\"\nkeepAliveTimeout = \"2s\"\nmaxConnectionAge = \"10m\"\ndnsRefreshInterval = \"1m\"\n";
    let t = load_str(toml, Format::Toml, &[] as &[&str], no_env).unwrap();
    let flags = [
        "--tracing.otlp.grpc.insecure=true",
        "--tracing.otlp.grpc.endpoints=c1:4317,c2:4317,dns:///c3.example:4317",
        "--tracing.otlp.grpc.keepAliveTime=20s",
        "--tracing.otlp.grpc.keepAliveTimeout=2s",
        "--tracing.otlp.grpc.maxConnectionAge=10m",
        "--tracing.otlp.grpc.dnsRefreshInterval=1m",
    ];
    let f = load_str("", Format::Yaml, &flags, no_env).unwrap();
    for c in [&y, &t, &f] {
        let e = &c.exporter;
        assert_eq!(e.endpoint.authority(), "c1:4317");
        assert!(!e.endpoint.is_tls());
        let rest: Vec<String> = e.fleet.iter().map(|x| x.to_string()).collect();
        assert_eq!(rest, ["http://c2:4317", "dns:///c3.example:4317"]);
        assert!(!e.fleet[1].is_tls(), "insecure applies to every member");
        assert_eq!(e.keep_alive, Duration::from_secs(20));
        assert_eq!(e.keep_alive_timeout, Duration::from_secs(2));
        assert_eq!(e.max_connection_age, Duration::from_secs(600));
        assert_eq!(e.dns_refresh, Duration::from_secs(60));
    }
    let shown = y.to_redacted_yaml();
    assert!(shown.contains("endpoints:\n        - \"c1:4317\"\n        - \"c2:4317\"\n        - \"dns:///c3.example:4317\""), "{shown}");

    let http = "tracing:\n  otlp:\n    http:\n      endpoints:\n        - http://c1:4318/v1/traces\n        - https://c2:4318/v1/traces\n";
    let h = load_str(http, Format::Yaml, &[] as &[&str], no_env).unwrap();
    assert_eq!(h.exporter.endpoint.to_string(), "http://c1:4318/v1/traces");
    assert_eq!(h.exporter.fleet[0].to_string(), "https://c2:4318/v1/traces");

    // The defaults.
    let d = load_str("tracing:\n", Format::Yaml, &[] as &[&str], no_env).unwrap();
    assert!(d.exporter.fleet.is_empty());
    assert_eq!(d.exporter.dns_refresh, Duration::from_secs(30));
    assert_eq!(d.exporter.keep_alive, Duration::from_secs(10));
    assert_eq!(d.exporter.max_connection_age, Duration::from_secs(300));
}

/// The configuration errors `yaml` gives, as the user reads them.
fn config_error(yaml: &str) -> String {
    load_str(yaml, Format::Yaml, &[] as &[&str], no_env)
        .unwrap_err()
        .to_string()
}

#[test]
fn endpoint_and_endpoints_together_or_a_bad_member_are_clear_errors() {
    let both =
        "tracing:\n  otlp:\n    grpc:\n      endpoint: c0:4317\n      endpoints: [c1:4317]\n";
    let err = config_error(both);
    assert!(
        err.contains("tracing.otlp.grpc.endpoint and tracing.otlp.grpc.endpoints are both given"),
        "{err}"
    );
    let empty = "tracing:\n  otlp:\n    grpc:\n      endpoints: []\n";
    let err = config_error(empty);
    assert!(
        err.contains("tracing.otlp.grpc.endpoints") && err.contains("empty"),
        "{err}"
    );
    let bad = "tracing:\n  otlp:\n    grpc:\n      endpoints: [c1:4317, 'c2']\n";
    let err = config_error(bad);
    assert!(
        err.contains("tracing.otlp.grpc.endpoints[1]") && err.contains("no port"),
        "{err}"
    );
    let dns = "tracing:\n  otlp:\n    grpc:\n      endpoint: dns://8.8.8.8/c.example:4317\n";
    let err = config_error(dns);
    assert!(err.contains("dns:///<host>:<port>"), "{err}");
    let rel = "tracing:\n  otlp:\n    grpc:\n      endpoint: unix:otlp.sock\n";
    let err = config_error(rel);
    assert!(err.contains("must be absolute"), "{err}");
    let twice = grpc_fleet(&["127.0.0.1:4317".into(), "127.0.0.1:4317".into()]);
    let err = build(&twice).err().expect("duplicate members").to_string();
    assert!(err.contains("listed twice"), "{err}");
}

/// Copies `r` to `w`, holding everything while `frozen`.
async fn pump(
    mut r: impl tokio::io::AsyncRead + Unpin,
    mut w: impl tokio::io::AsyncWrite + Unpin,
    frozen: Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16384];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while frozen.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// A TCP relay that can be frozen: it then forwards nothing either way
/// and keeps the connections open (a peer that hangs, not one that closes).
async fn freezable_relay(
    to: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::AtomicBool;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let frozen = Arc::new(AtomicBool::new(false));
    let f = frozen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((inbound, _)) = listener.accept().await else {
                return;
            };
            let Ok(outbound) = tokio::net::TcpStream::connect(to).await else {
                return;
            };
            let (ri, wi) = inbound.into_split();
            let (ro, wo) = outbound.into_split();
            tokio::spawn(pump(ri, wo, f.clone()));
            tokio::spawn(pump(ro, wi, f.clone()));
        }
    });
    (addr, frozen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_hangs_is_found_by_keep_alive_pings_not_the_request_timeout() {
    let a = GrpcCollector::start(vec![], None).await;
    let b = GrpcCollector::start(vec![], None).await;
    let (relay, frozen) = freezable_relay(a.addr).await;
    let mut cfg = grpc_fleet(&[relay.to_string(), b.endpoint()]);
    cfg.timeout = Duration::from_secs(60);
    cfg.keep_alive = Duration::from_millis(200);
    cfg.keep_alive_timeout = Duration::from_millis(300);
    // The batch's deadline (8 s) comes long before the request timeout
    // (60 s): only the pings can find the hung member in time to fail over.
    let p = Pipeline::builder()
        .exporter_arc(build(&cfg).unwrap())
        .batch({
            let mut c = BatchConfig::default();
            c.scheduled_delay = Duration::from_secs(3600);
            c.export_timeout = Duration::from_secs(8);
            c
        })
        .start()
        .unwrap();
    // Warm the connection through the relay, then freeze it.
    tokio::task::block_in_place(|| record_traces(&p, 200));
    assert!(a.state.accepted_spans() > 0);
    frozen.store(true, std::sync::atomic::Ordering::SeqCst);
    let traces = tokio::task::block_in_place(|| record_traces(&p, 500));
    // The relay's traces were delivered by b; nothing lost, nothing twice.
    let states = [&*a.state, &*b.state];
    let per = check_whole(&traces, &grpc_delivered(&states), 2);
    assert_eq!(per[0], 0, "{per:?}");
    assert_eq!(p.endpoint_stats()[0].state, "down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_older_than_max_connection_age_are_replaced_without_loss() {
    use std::sync::atomic::Ordering;
    let g = GrpcCollector::start(vec![], None).await;
    let h = HttpCollector::start(vec![], None).await;
    for (cfg, connections) in [
        (grpc_fleet(&[g.endpoint()]), &g.state.connections),
        (http_fleet(&[h.url(false)]), &h.state.connections),
    ] {
        let mut cfg = cfg;
        cfg.max_connection_age = Duration::from_millis(150);
        let p = pipeline(&cfg);
        let mut recorded = 0;
        for _ in 0..5 {
            recorded += tokio::task::block_in_place(|| record_traces(&p, 50)).len() * 2;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let s = tokio::task::block_in_place(|| p.shutdown(Duration::from_secs(10))).unwrap();
        assert_eq!((s.exported, s.failed), (recorded as u64, 0));
        let n = connections.load(Ordering::SeqCst);
        assert!(
            n >= 4,
            "{n} connection(s) for 5 exports 200 ms apart with a 150 ms age limit"
        );
    }
    assert_eq!(g.state.accepted_spans() + h.state.accepted_spans(), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goaway_from_a_member_costs_a_new_connection_not_a_failover() {
    use std::sync::atomic::Ordering;
    let h2 = H2Collector::start(vec![H2Reply::OkThenGoAway]).await;
    let other = GrpcCollector::start(vec![], None).await;
    let p = pipeline(&grpc_fleet(&[h2.endpoint(), other.endpoint()]));
    let first = tokio::task::block_in_place(|| record_traces(&p, 300)).len() * 2;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = tokio::task::block_in_place(|| record_traces(&p, 300)).len() * 2;
    let s = tokio::task::block_in_place(|| p.shutdown(Duration::from_secs(10))).unwrap();
    assert_eq!((s.exported, s.failed), ((first + second) as u64, 0));
    let m = p.endpoint_stats();
    assert_eq!((m[0].failed, m[0].retried), (0, 0), "{m:?}");
    assert_eq!(m[0].state, "up");
    assert_eq!(h2.state.connections.load(Ordering::SeqCst), 2);
    assert_eq!(
        h2.state.accepted_spans() + other.state.accepted_spans(),
        first + second
    );
}
