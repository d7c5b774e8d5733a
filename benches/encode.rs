//! Encoding 512 proxy-shaped spans (name, SERVER kind, 8 HTTP attributes,
//! status) into one `ExportTraceServiceRequest`, tracewire against prost,
//! side by side in one run.
//!
//! - `tracewire`: what tracewire does for each span in total: its body is
//!   written from the span's fields into a pooled buffer by the writers the
//!   recording path uses, then the request is assembled into a pooled
//!   `BytesMut` (one copy of each body).
//! - `tracewire_request_only`: only the batch worker's share: assembling the
//!   request from already-encoded bodies.
//! - `prost`: build the prost structs from the same fields (as an SDK's
//!   exporter does), then encode them.
//!
//! Both produce the same bytes (asserted before measuring). Throughput is in
//! request bytes.
//!
//! The `compress` group then measures what compressing that request costs
//! per span, as the exporter does it (into a pooled buffer): `none` (a
//! copy, the floor), `gzip` (flate2 at its fastest level) and `zstd` (level
//! 1); the bytes each puts on the wire go to stderr.
//!
//! Run: `cargo bench --bench encode`

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use prost::Message;
use std::hint::black_box;
use tracewire::internal::codec::buf::SpanBuf;
use tracewire::internal::codec::otlp::{
    patch_end_time, put_i64_kv, put_request, put_span_end, put_span_start, put_str_kv, request_len,
    EncodedResource, EncodedScope, ScopeGroup, SpanEnd, SpanStart,
};
use tracewire::internal::pool::Pool;
use tracewire::model::{
    InstrumentationScope, KeyValue, Resource, SpanId, SpanKind, Status, TraceId,
};
use tracewire::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracewire::proto::common::v1::{
    any_value, AnyValue, InstrumentationScope as PScope, KeyValue as PKeyValue,
};
use tracewire::proto::resource::v1::Resource as PResource;
use tracewire::proto::trace::v1::{
    status, ResourceSpans, ScopeSpans, Span as PSpan, Status as PStatus,
};

const SPANS: usize = 512;

/// The fields of one proxy request span, as a proxy has them at hand.
struct ProxySpan {
    trace_id: TraceId,
    span_id: SpanId,
    name: &'static str,
    start: u64,
    end: u64,
    method: &'static str,
    path: String,
    status_code: i64,
    peer: String,
}

fn proxy_spans() -> Vec<ProxySpan> {
    (0..SPANS as u64)
        .map(|i| ProxySpan {
            trace_id: TraceId::from_bytes((i as u128 + 1).to_be_bytes()),
            span_id: SpanId::from_bytes((i + 1).to_be_bytes()),
            name: "GET /api/v1/users/{id}",
            start: 1_700_000_000_000_000_000 + i * 1_000,
            end: 1_700_000_000_000_000_000 + i * 1_000 + 734_512,
            method: "GET",
            path: format!("/api/v1/users/{}", 1000 + i),
            status_code: if i % 50 == 0 { 503 } else { 200 },
            peer: format!("10.0.{}.{}", i / 256, i % 256),
        })
        .collect()
}

fn status_of(s: &ProxySpan) -> Status {
    if s.status_code >= 500 {
        Status::error("upstream unavailable")
    } else {
        Status::OK
    }
}

/// The span body as the recording path writes it.
fn tracewire_span(buf: &mut SpanBuf, s: &ProxySpan) {
    let layout = put_span_start(
        buf,
        &SpanStart {
            trace_id: &s.trace_id,
            span_id: &s.span_id,
            trace_state: "",
            parent_span_id: None,
            name: s.name,
            kind: SpanKind::Server,
            start_time_unix_nano: s.start,
        },
    );
    // What `Span::set_str` / `Span::set_i64` do.
    put_str_kv(buf, 9, "http.request.method", s.method, usize::MAX);
    put_str_kv(buf, 9, "url.path", &s.path, usize::MAX);
    put_str_kv(buf, 9, "url.scheme", "https", usize::MAX);
    put_str_kv(buf, 9, "server.address", "api.example.com", usize::MAX);
    put_i64_kv(buf, 9, "server.port", 443);
    put_str_kv(buf, 9, "client.address", &s.peer, usize::MAX);
    put_str_kv(
        buf,
        9,
        "user_agent.original",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
        usize::MAX,
    );
    put_i64_kv(buf, 9, "http.response.status_code", s.status_code);
    patch_end_time(buf, &layout, s.end);
    let status = status_of(s);
    put_span_end(
        buf,
        &SpanEnd {
            dropped_attributes_count: 0,
            events: &[],
            dropped_events_count: 0,
            links: &[],
            dropped_links_count: 0,
            status: Some(&status),
            flags: 0x101,
        },
    );
}

fn resource() -> Resource {
    Resource {
        attributes: vec![
            KeyValue::new("service.name", "edge-proxy"),
            KeyValue::new("telemetry.sdk.name", "tracewire"),
            KeyValue::new("telemetry.sdk.language", "rust"),
        ],
        ..Resource::default()
    }
}

fn str_kv(k: &str, v: &str) -> PKeyValue {
    PKeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.to_owned())),
        }),
        ..Default::default()
    }
}

fn int_kv(k: &str, v: i64) -> PKeyValue {
    PKeyValue {
        key: k.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

fn prost_request(spans: &[ProxySpan]) -> ExportTraceServiceRequest {
    let spans = spans
        .iter()
        .map(|s| {
            let st = status_of(s);
            PSpan {
                trace_id: s.trace_id.to_bytes().to_vec(),
                span_id: s.span_id.to_bytes().to_vec(),
                name: s.name.to_owned(),
                kind: SpanKind::Server as i32,
                start_time_unix_nano: s.start,
                end_time_unix_nano: s.end,
                flags: 0x101,
                attributes: vec![
                    str_kv("http.request.method", s.method),
                    str_kv("url.path", &s.path),
                    str_kv("url.scheme", "https"),
                    str_kv("server.address", "api.example.com"),
                    int_kv("server.port", 443),
                    str_kv("client.address", &s.peer),
                    str_kv(
                        "user_agent.original",
                        "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0",
                    ),
                    int_kv("http.response.status_code", s.status_code),
                ],
                status: Some(PStatus {
                    message: st.message.to_string(),
                    code: match st.code {
                        tracewire::model::StatusCode::Error => status::StatusCode::Error as i32,
                        _ => status::StatusCode::Ok as i32,
                    },
                }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(PResource {
                attributes: vec![
                    str_kv("service.name", "edge-proxy"),
                    str_kv("telemetry.sdk.name", "tracewire"),
                    str_kv("telemetry.sdk.language", "rust"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(PScope {
                    name: "tracewire".into(),
                    ..Default::default()
                }),
                spans,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn bench_encode(c: &mut Criterion) {
    let spans = proxy_spans();
    let resource = EncodedResource::new(&resource());
    let scope = EncodedScope::new(&InstrumentationScope::named("tracewire"));
    let span_pool: Pool<SpanBuf> = Pool::new(SPANS, 64 * 1024, || SpanBuf::with_capacity(512));
    let request_pool: Pool<BytesMut> =
        Pool::new(4, 4 << 20, || BytesMut::with_capacity(256 * 1024));

    let encode_tracewire = |bodies: &mut Vec<SpanBuf>| -> BytesMut {
        for s in &spans {
            let mut buf = span_pool.take();
            tracewire_span(&mut buf, s);
            bodies.push(buf);
        }
        let groups = [ScopeGroup {
            scope: &scope,
            spans: bodies.as_slice(),
        }];
        let mut out = request_pool.take();
        out.reserve(request_len(&resource, &groups));
        put_request(&mut out, &resource, &groups);
        for b in bodies.drain(..) {
            span_pool.give(b);
        }
        out
    };

    // Same bytes from both encoders, or the comparison means nothing.
    let mut bodies = Vec::with_capacity(SPANS);
    let ours = encode_tracewire(&mut bodies);
    let theirs = prost_request(&spans).encode_to_vec();
    assert_eq!(
        &ours[..],
        &theirs[..],
        "tracewire and prost must produce identical requests"
    );
    let request_bytes = ours.len() as u64;
    let request = ours.clone().freeze();
    request_pool.give(ours);

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(request_bytes));
    group.bench_function(BenchmarkId::from_parameter("tracewire"), |b| {
        let mut bodies = Vec::with_capacity(SPANS);
        b.iter(|| {
            let out = encode_tracewire(&mut bodies);
            black_box(&out);
            request_pool.give(out);
        })
    });
    group.bench_function(BenchmarkId::from_parameter("tracewire_request_only"), |b| {
        let bodies: Vec<SpanBuf> = spans
            .iter()
            .map(|s| {
                let mut buf = SpanBuf::with_capacity(512);
                tracewire_span(&mut buf, s);
                buf
            })
            .collect();
        b.iter(|| {
            let groups = [ScopeGroup {
                scope: &scope,
                spans: bodies.as_slice(),
            }];
            let mut out = request_pool.take();
            out.reserve(request_len(&resource, &groups));
            put_request(&mut out, &resource, &groups);
            black_box(&out);
            request_pool.give(out);
        })
    });
    group.bench_function(BenchmarkId::from_parameter("prost"), |b| {
        let mut out = BytesMut::with_capacity(256 * 1024);
        b.iter(|| {
            out.clear();
            let req = prost_request(&spans);
            req.encode(&mut out).expect("capacity reserved");
            black_box(&out);
        })
    });
    group.finish();

    // Compression, per span of the same 512-span request.
    let mut group = c.benchmark_group("compress");
    group.throughput(Throughput::Elements(SPANS as u64));
    type Compress = fn(&mut BytesMut, &[u8]);
    let codecs: [(&str, Compress); 3] = [
        ("none", |out, input| out.extend_from_slice(input)),
        ("gzip", |out, input| {
            tracewire::internal::codec::gzip::compress_into(out, input)
        }),
        ("zstd", |out, input| {
            tracewire::internal::codec::zstd::compress_into(out, input).unwrap()
        }),
    ];
    for (name, compress) in codecs {
        let mut out = request_pool.take();
        compress(&mut out, &request);
        eprintln!(
            "compress {name}: {} request bytes -> {} on the wire ({:.1}%), {:.1} bytes per span",
            request.len(),
            out.len(),
            100.0 * out.len() as f64 / request.len() as f64,
            out.len() as f64 / SPANS as f64
        );
        request_pool.give(out);
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter(|| {
                let mut out = request_pool.take();
                compress(&mut out, black_box(&request));
                black_box(&out);
                request_pool.give(out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_encode);
criterion_main!(benches);
