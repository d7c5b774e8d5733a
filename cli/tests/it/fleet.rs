use crate::common::collectors::*;
use std::time::Duration;

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

/// Runs `tracewire load ARGS --json` (without the test environment's
/// `OTEL_*`) on a blocking thread; checks that it succeeded and returns
/// its JSON summary.
async fn load_json(args: Vec<String>) -> serde_json::Value {
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = crate::tracewire();
        for (k, _) in std::env::vars() {
            if k.starts_with("OTEL_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("load").args(args).arg("--json").output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "load failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_against_three_receivers_one_dying_halfway_delivers_every_span() {
    let a = GrpcCollector::start(vec![], None).await;
    let mut b = GrpcCollector::start(vec![], None).await;
    let c = GrpcCollector::start(vec![], None).await;
    let endpoints = format!("{},{},{}", a.endpoint(), b.endpoint(), c.endpoint());
    let run = tokio::spawn(load_json(vec![
        "--spans".into(),
        "40000".into(),
        "--rate".into(),
        "20000".into(),
        format!("--tracing.otlp.grpc.endpoints={endpoints}"),
        "--tracing.otlp.grpc.insecure=true".into(),
    ]));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    b.stop();
    let json = run.await.unwrap();
    assert_eq!(json["exported"], 40000, "{json}");
    assert_eq!(json["failed"], 0, "{json}");
    let members = json["endpoints"].as_array().expect("endpoints in the JSON");
    assert_eq!(members.len(), 3);
    let exported: u64 = members
        .iter()
        .map(|m| m["exported"].as_u64().unwrap())
        .sum();
    assert_eq!(exported, 40000, "{json}");
    assert_eq!(members[1]["endpoint"], b.endpoint());
    let received = a.state.accepted_spans() + b.state.accepted_spans() + c.state.accepted_spans();
    assert_eq!(received, 40000, "every span exactly once");
    assert!(
        b.state.accepted_spans() > 0,
        "b took traffic before it died"
    );
    assert!(
        b.state.accepted_spans() < 40000 / 3,
        "b took traffic after it died?"
    );
}

/// `load --json` with a `dns:///` endpoint reports the name (its addresses,
/// re-resolutions and failures) beside its members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_reports_its_dns_names() {
    let (port, addrs, rx) = on_every_localhost_address().await;
    let name = format!("dns:///localhost:{port}");
    let json = load_json(vec![
        "--spans".into(),
        "2000".into(),
        format!("--tracing.otlp.grpc.endpoint={name}"),
        "--tracing.otlp.grpc.insecure=true".into(),
    ])
    .await;
    assert_eq!(json["exported"], 2000, "{json}");
    let dns = json["dns"].as_array().expect("dns in the JSON");
    assert_eq!(dns.len(), 1, "{json}");
    assert_eq!(dns[0]["name"], name.as_str(), "{json}");
    assert_eq!(dns[0]["addresses"], addrs.len() as u64, "{json}");
    assert_eq!(dns[0]["failures"], 0, "{json}");
    let members = json["endpoints"].as_array().expect("endpoints in the JSON");
    assert_eq!(members.len(), addrs.len(), "{json}");
    let received: usize = rx.iter().map(|r| r.state.accepted_spans()).sum();
    assert_eq!(received, 2000);
}
