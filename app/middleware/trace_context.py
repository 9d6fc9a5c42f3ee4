"""W3C Trace Context at the edge: the caller's `traceparent`, kept for after the response.

A request's `traceparent` (https://www.w3.org/TR/trace-context/) puts it in the caller's
trace. The edge only finds the header: its raw bytes go into `scope["state"]` and into the
request's log context; the first pass after the response resolves them
(app/observability/access.py `resolve_trace`: the trace id, a new span id for this server's
span, the caller's span and flag), before the access line, the exemplars and the spans read
them, and a line logged during the request parses them as it is written
(app/core/logging.py). Parsed at the edge, the header, the span id and the state they fill
cost 3-4 us a request under load (timed in the running app; ~4 % of /predict's CPU in
`make bench`), on the request's path for ids nothing reads before the response.

A malformed header is ignored, never an error: the request is then the root of a new trace
when spans are on (app/observability/tracing.py), and has no trace id when they are off
(nothing would record that trace). With spans on, a request without a header starts its
trace here, so its log lines carry it. The request id stays what it was.
"""

from contextvars import Token
from typing import Any

from starlette.types import Scope

from app.middleware.request_id import structlog_variable
from app.observability.access import new_trace

_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"
MAX_TRACESTATE_CHARS = 512  # the spec's bound on what a vendor must propagate

_TRACE_ID = structlog_variable("trace_id")  # every log line of the request carries it


def bind_trace_context(scope: Scope, new_traces: bool) -> Token[Any] | None:
    """The caller's traceparent in `scope["state"]` (`trace_header`) and in the request's
    log context, else (with `new_traces`, spans on) a new trace. Reset the returned token
    when the request ends."""
    header = b""
    tracestate = b""
    seen = 0
    for key, value in scope["headers"]:
        if key == _TRACEPARENT:
            seen += 1
            header = value
        elif key == _TRACESTATE and len(value) <= MAX_TRACESTATE_CHARS:
            tracestate = value
    state = scope.setdefault("state", {})
    if seen == 1:
        state["trace_header"] = (header, tracestate, new_traces)
        return _TRACE_ID.set(header)
    # None, or two: which one is the caller's cannot be known.
    if new_traces:
        return _TRACE_ID.set(new_trace(state))
    return None


def unbind_trace_context(token: Token[Any] | None) -> None:
    if token is not None:
        _TRACE_ID.reset(token)
