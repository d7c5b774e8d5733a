#!/usr/bin/env python3
"""Writes the golden OTLP fixtures in this folder with an implementation of
protobuf independent of tracewire and prost: the Python `opentelemetry-proto`
package on Google's `protobuf` runtime (upb).

Run once, by hand, when fixtures change (they are committed; CI does not
need Python):

    python3 -m venv /tmp/pyotel
    /tmp/pyotel/bin/pip install opentelemetry-proto==1.45.2 protobuf==7.36.2
    /tmp/pyotel/bin/python tests/golden/generate.py

`tests/it/golden.rs` decodes each `.bin` file with the build.rs prost types,
re-encodes the content with tracewire and asserts the bytes are identical.
Pass `--verify FILE...` to instead decode requests written by tracewire
(for example by `TRACEWIRE_GOLDEN_OUT=dir cargo test --test it golden`) with
this independent implementation, and print what they hold.
"""

import math
import os
import sys

from google.protobuf.internal import api_implementation
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

HERE = os.path.dirname(os.path.abspath(__file__))


def kv(key, value):
    return KeyValue(key=key, value=value)


def s(v):
    return AnyValue(string_value=v)


def i(v):
    return AnyValue(int_value=v)


def d(v):
    return AnyValue(double_value=v)


def b(v):
    return AnyValue(bool_value=v)


def raw(v):
    return AnyValue(bytes_value=v)


def arr(*vs):
    return AnyValue(array_value=ArrayValue(values=list(vs)))


def kvl(*kvs):
    return AnyValue(kvlist_value=KeyValueList(values=list(kvs)))


def tid(n):
    return bytes([n]) * 15 + bytes([0x01])


def sid(n):
    return bytes([n]) * 7 + bytes([0x02])


def resource(extra=()):
    return Resource(
        attributes=[
            kv("service.name", s("edge-proxy")),
            kv("service.version", s("3.1.4")),
            kv("telemetry.sdk.name", s("tracewire")),
            kv("telemetry.sdk.language", s("rust")),
            *extra,
        ]
    )


def proxy_span(n, parent=None, kind=Span.SPAN_KIND_SERVER, error=False):
    span = Span(
        trace_id=tid(n),
        span_id=sid(n if parent is None else n + 100),
        name="GET /api/v1/users/{id}" if parent is None else "GET",
        kind=kind,
        start_time_unix_nano=1_700_000_000_000_000_000 + n * 1_000_000,
        end_time_unix_nano=1_700_000_000_000_000_000 + n * 1_000_000 + 734_512,
        flags=0x101 if parent is None else 0x301,
        attributes=[
            kv("http.request.method", s("GET")),
            kv("url.path", s("/api/v1/users/42")),
            kv("url.scheme", s("https")),
            kv("server.address", s("api.example.com")),
            kv("server.port", i(443)),
            kv("network.protocol.version", s("1.1")),
            kv("user_agent.original", s("curl/8.5.0")),
            kv("http.response.status_code", i(500 if error else 200)),
        ],
    )
    if parent is not None:
        span.parent_span_id = parent
    if error:
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="upstream returned 500"))
    return span


def proxy_batch():
    spans = []
    for n in range(1, 4):
        server = proxy_span(n, error=(n == 3))
        client = proxy_span(n, parent=server.span_id, kind=Span.SPAN_KIND_CLIENT, error=(n == 3))
        spans += [server, client]
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource(),
                scope_spans=[ScopeSpans(scope=InstrumentationScope(name="tracewire", version="0.1.0"), spans=spans)],
            )
        ]
    )


def full_schema():
    span = Span(
        trace_id=tid(9),
        span_id=sid(9),
        trace_state="rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        parent_span_id=sid(8),
        flags=0x301,
        name="full schema span",
        kind=Span.SPAN_KIND_PRODUCER,
        start_time_unix_nano=1,
        end_time_unix_nano=2**64 - 1,
        attributes=[
            kv("str", s("value")),
            kv("empty.str", s("")),
            kv("bool.true", b(True)),
            kv("bool.false", b(False)),
            kv("int.zero", i(0)),
            kv("int.neg", i(-1)),
            kv("int.min", i(-(2**63))),
            kv("int.max", i(2**63 - 1)),
            kv("double", d(3.25)),
            kv("double.negzero", d(-0.0)),
            kv("double.inf", d(math.inf)),
            kv("double.neginf", d(-math.inf)),
            kv("double.nan", d(math.nan)),
            kv("bytes", raw(b"\x00\x01\xfe\xff")),
            kv("bytes.empty", raw(b"")),
            kv("array.mixed", arr(s("a"), i(1), d(1.5), b(True), raw(b"z"))),
            kv("array.empty", arr()),
            kv("kvlist", kvl(kv("inner", s("x")), kv("nested", kvl(kv("deep", arr(arr(i(7)))))))),
            kv("", s("empty key")),
            kv("no.value", AnyValue()),
        ],
        dropped_attributes_count=3,
        events=[
            Span.Event(
                time_unix_nano=5,
                name="exception",
                attributes=[kv("exception.type", s("io")), kv("exception.message", s("reset"))],
                dropped_attributes_count=1,
            ),
            Span.Event(name="no time"),
            Span.Event(time_unix_nano=7),
        ],
        dropped_events_count=4,
        links=[
            Span.Link(
                trace_id=tid(7),
                span_id=sid(7),
                trace_state="k=v",
                attributes=[kv("link.reason", s("retry"))],
                dropped_attributes_count=2,
                flags=0x101,
            ),
            Span.Link(trace_id=tid(6), span_id=sid(6)),
        ],
        dropped_links_count=5,
        status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
    )
    res = resource([kv("host.name", s("edge-1"))])
    res.dropped_attributes_count = 6
    scope = InstrumentationScope(
        name="full", version="1.2.3", attributes=[kv("scope.attr", i(1))], dropped_attributes_count=2
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=res,
                scope_spans=[
                    ScopeSpans(scope=scope, spans=[span], schema_url="https://opentelemetry.io/schemas/1.26.0")
                ],
                schema_url="https://opentelemetry.io/schemas/1.27.0",
            )
        ]
    )


def multi_scope():
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=resource(),
                scope_spans=[
                    ScopeSpans(scope=InstrumentationScope(name="router"), spans=[proxy_span(1), proxy_span(2)]),
                    ScopeSpans(
                        scope=InstrumentationScope(name="upstream", version="2"),
                        spans=[proxy_span(3, parent=sid(3), kind=Span.SPAN_KIND_CLIENT)],
                    ),
                    ScopeSpans(scope=InstrumentationScope(), spans=[Span(trace_id=tid(4), span_id=sid(4), kind=Span.SPAN_KIND_INTERNAL, status=Status(code=Status.STATUS_CODE_OK))]),
                ],
            )
        ]
    )


def unicode_and_extremes():
    long_ascii = "x" * 100_000
    long_utf8 = "héllo wörld ✓ 🚀 " * 2_000
    span = Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        name="名前 ☃ 🚀",
        kind=Span.SPAN_KIND_CONSUMER,
        start_time_unix_nano=2**63,
        end_time_unix_nano=2**64 - 1,
        attributes=[
            kv("long.ascii", s(long_ascii)),
            kv("long.utf8", s(long_utf8)),
            kv("ключ", s("значение")),
            kv("big.bytes", raw(bytes(range(256)) * 300)),
        ],
        dropped_attributes_count=2**32 - 1,
        dropped_events_count=2**32 - 1,
        dropped_links_count=2**32 - 1,
        flags=2**32 - 1,
        status=Status(code=Status.STATUS_CODE_UNSET, message="ünset but with message"),
    )
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(resource=Resource(), scope_spans=[ScopeSpans(scope=InstrumentationScope(), spans=[span])])
        ]
    )


FIXTURES = {
    "proxy_batch.bin": proxy_batch,
    "full_schema.bin": full_schema,
    "multi_scope.bin": multi_scope,
    "unicode_and_extremes.bin": unicode_and_extremes,
    "empty.bin": ExportTraceServiceRequest,
}


def verify(paths):
    for path in paths:
        with open(path, "rb") as f:
            req = ExportTraceServiceRequest()
            req.ParseFromString(f.read())
        spans = sum(len(ss.spans) for rs in req.resource_spans for ss in rs.scope_spans)
        again = req.SerializeToString()
        with open(path, "rb") as f:
            same = f.read() == again
        print(f"{path}: {len(req.resource_spans)} resource_spans, {spans} spans, re-serialises identically: {same}")
        if not same:
            sys.exit(1)


def main():
    if sys.argv[1:2] == ["--verify"]:
        verify(sys.argv[2:])
        return
    print(f"protobuf runtime: {api_implementation.Type()}")
    for name, build in FIXTURES.items():
        data = build().SerializeToString(deterministic=True)
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
