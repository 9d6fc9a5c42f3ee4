"""W3C Trace Context at the edge: the caller's trace, or none, and this request's span id.

A request's `traceparent` (https://www.w3.org/TR/trace-context/) puts it in the caller's
trace: its trace id, and a new span id for this server's span, go into `scope["state"]`
(`trace_id`, `span_id`), so the access line, the exemplars and every log line of the
request carry them. A malformed header is ignored, never an error: the request is then
the root of a new trace when spans are on (app/observability/tracing.py), and has no trace
id when they are off (nothing would record that trace). The request id stays what it was.

Parsed here, not by opentelemetry-propagator's TraceContextTextMapPropagator: the
propagator needs a carrier, a getter, a Context and a SpanContext per request, where the
edge needs two strings; only spans, when on, build the SDK's objects, after the response.
"""

import re
from contextvars import Token
from typing import Any

from starlette.types import Scope

from app.middleware.request_id import structlog_variable
from app.observability.access import random_hex

_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"
# version 00's layout, which a later version extends after a "-" (the spec's rule for
# versions it does not know yet); version ff is invalid, ids of zeros are invalid. Matched
# on the header's bytes, decoding only the two ids: 0.6 us a header (timeit).
_LAYOUT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = b"0" * 32
_ZERO_SPAN = b"0" * 16
_ODD_HEX = b"13579bdf"  # a flags byte whose bit 0, sampled, is set
MAX_TRACESTATE_CHARS = 512  # the spec's bound on what a vendor must propagate


def parse_traceparent(raw: bytes) -> tuple[str, str, bool] | None:
    """The header's trace id, parent span id and sampled flag; None when malformed."""
    match = _LAYOUT.match(raw)
    if match is None:
        return None
    version, trace_id, parent_id, flags = match.groups()
    if version == b"ff" or trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    if len(raw) != 55 and (version == b"00" or raw[55] != 45):  # 45: "-"
        return None  # version 00 is exactly 55 characters; a later one goes on after "-"
    return trace_id.decode(), parent_id.decode(), flags[1] in _ODD_HEX


_TRACE_ID = structlog_variable("trace_id")  # every log line of the request carries it


def bind_trace_context(scope: Scope, new_traces: bool) -> Token[Any] | None:
    """The request's trace id and its server span's id in `scope["state"]`, the trace id
    bound to its log lines: the caller's trace, else (with `new_traces`, spans on) a new
    one. Reset the returned token when the request ends."""
    parent: tuple[str, str, bool] | None = None
    tracestate = ""
    seen = 0
    for key, value in scope["headers"]:
        if key == _TRACEPARENT:
            seen += 1
            parent = parse_traceparent(value)
        elif key == _TRACESTATE and len(value) <= MAX_TRACESTATE_CHARS:
            tracestate = value.decode("latin-1")
    if seen > 1:
        parent = None  # two traceparents: which one is the caller's cannot be known
    state = scope.setdefault("state", {})
    if parent is not None:
        trace_id, parent_id, sampled = parent
        state["trace_parent"] = (parent_id, sampled, tracestate)
    elif new_traces:
        trace_id = random_hex(16)
    else:
        return None
    state["trace_id"] = trace_id
    state["span_id"] = random_hex(8)
    return _TRACE_ID.set(trace_id)


def unbind_trace_context(token: Token[Any] | None) -> None:
    if token is not None:
        _TRACE_ID.reset(token)
