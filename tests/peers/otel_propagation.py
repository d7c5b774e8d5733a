"""The OpenTelemetry Python API's own propagators (opentelemetry-api's W3C
Trace Context and Baggage, opentelemetry-propagator-b3's B3 single and
multi): a peer for tracewire's propagation that shares none of its code.

Reads one JSON request from stdin and prints one JSON answer:

- {"op": "inject", "propagator": P, "trace_id": HEX32, "span_id": HEX16,
   "sampled": bool, "baggage": [[key, value], ...]}
  -> the headers P writes for that context (and baggage);
- {"op": "extract", "propagator": P, "headers": {name: value}}
  -> {"valid", "trace_id", "span_id", "sampled", "baggage": {key: value}}.

P is tracecontext, baggage, b3 or b3multi.
"""
import json
import sys

from opentelemetry import baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.context import Context
from opentelemetry.propagators.b3 import B3MultiFormat, B3SingleFormat
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

PROPAGATORS = {
    "tracecontext": TraceContextTextMapPropagator(),
    "baggage": W3CBaggagePropagator(),
    "b3": B3SingleFormat(),
    "b3multi": B3MultiFormat(),
}

req = json.load(sys.stdin)
prop = PROPAGATORS[req["propagator"]]
if req["op"] == "inject":
    ctx = Context()
    span = NonRecordingSpan(
        SpanContext(
            int(req["trace_id"], 16),
            int(req["span_id"], 16),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED if req["sampled"] else 0),
        )
    )
    ctx = trace.set_span_in_context(span, ctx)
    for k, v in req.get("baggage", []):
        ctx = baggage.set_baggage(k, v, context=ctx)
    carrier = {}
    prop.inject(carrier, context=ctx)
    print(json.dumps(carrier))
else:
    ctx = prop.extract(carrier=req["headers"])
    sc = trace.get_current_span(ctx).get_span_context()
    print(
        json.dumps(
            {
                "valid": sc.is_valid,
                "trace_id": "%032x" % sc.trace_id,
                "span_id": "%016x" % sc.span_id,
                "sampled": sc.trace_flags.sampled,
                "baggage": {k: str(v) for k, v in baggage.get_all(ctx).items()},
            }
        )
    )
