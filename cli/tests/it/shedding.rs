use crate::common::collectors::*;
use std::collections::HashMap;
use std::time::Duration;
use tracewire::model::SpanKind;

/// One scenario at a time: the machine is small and the figures are rates.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Delivered traces: `(trace id -> (SERVER spans, CLIENT spans))`.
fn delivered(state: &HttpState) -> HashMap<Vec<u8>, (usize, usize)> {
    let mut traces: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
    for r in state.received.lock().unwrap().iter() {
        for rs in &r.request.resource_spans {
            for ss in &rs.scope_spans {
                for s in &ss.spans {
                    let e = traces.entry(s.trace_id.clone()).or_default();
                    if s.kind == SpanKind::Server as i32 {
                        e.0 += 1;
                    } else {
                        e.1 += 1;
                    }
                }
            }
        }
    }
    traces
}

/// `(complete traces, delivered traces)`.
fn completeness(state: &HttpState) -> (usize, usize) {
    let traces = delivered(state);
    let complete = traces.values().filter(|&&(s, c)| s == 1 && c == 1).count();
    (complete, traces.len())
}

/// Runs `tracewire load` (the real command) against `url` with `args`;
/// returns its `--json` summary.
fn load(url: &str, args: &[&str]) -> serde_json::Value {
    let out = crate::tracewire()
        .arg("load")
        .args(args)
        .arg("--json")
        .arg(format!("--tracing.otlp.http.endpoint={url}"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{e}: {text}\n{}", String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_with_thousands_of_requests_in_flight_delivers_whole_pairs() {
    let _serial = SERIAL.lock().await;
    // A collector that answers each request after 50 ms: with four exports
    // of 512 spans in flight, about 40,000 spans/s, far less than `load`
    // records without backpressure.
    let slow = vec![HttpReply::Slow(Duration::from_millis(50)); 100_000];
    let args = [
        "--spans",
        "200000",
        "--concurrency",
        "5000",
        "--no-backpressure",
    ];
    for shedding in [true, false] {
        let collector = HttpCollector::start(slow.clone(), None).await;
        let url = collector.url(false);
        let flag = format!("--tracing.batch.shedding={shedding}");
        let summary = tokio::task::spawn_blocking(move || {
            let mut a = args.to_vec();
            a.push(&flag);
            load(&url, &a)
        })
        .await
        .unwrap();
        let (complete, traces) = completeness(&collector.state);
        let n = |k: &str| {
            summary[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {summary}"))
        };
        eprintln!("shedding {shedding}: {complete} of {traces} complete; {summary}");
        assert_eq!(n("recorded"), 200_000, "{summary}");
        assert_eq!(
            n("recorded"),
            n("exported") + n("dropped") + n("shed") + n("failed") + n("rejected") + n("queued"),
            "{summary}"
        );
        assert_eq!(n("exported") as usize, collector.state.accepted_spans());
        assert!(traces > 500, "{summary}");
        if shedding {
            assert!(n("shed") > 0, "the collector could not keep up: {summary}");
            assert!(
                complete * 100 >= traces * 99,
                "{complete} of {traces} delivered traces complete: {summary}"
            );
        } else {
            assert_eq!(n("shed"), 0, "{summary}");
            assert!(n("dropped") > 0, "{summary}");
            // Random drops leave most delivered pairs broken.
            assert!(
                complete * 2 < traces,
                "{complete} of {traces} delivered traces complete: {summary}"
            );
        }
    }
}
