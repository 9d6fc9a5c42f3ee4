"""The access line and the metrics sample of a request: written once, by whoever answered it.

The edge (app/middleware/edge.py) accounts for every request the app sees; the HTTP
protocol (app/server/protocol.py) for the ones it refuses before the app does. Both call
here, so a log line and its metric series always agree. Routes add fields to the access
line through `scope["state"]` (ACCESS_LOG_FIELDS).

The requests answered in one turn of the event loop are accounted together, in the
deferred pass after it (app/core/deferred.py, stage "access"): each request only keeps a
tuple, then one pass observes every sample and renders every line, written in one write.
Accounted one by one, each right after its response, the line and sample were 22 % of the
app's time per /predict (py-spy on the app called in process), each step costing 2-3x its
timeit figure with the request's cache cold (orjson 1.5 µs against 0.6): the pass over a
turn's requests runs with its code and data still in cache, and the write is one system
call per turn. Every request is still
accounted exactly once; its line and sample follow its response by one loop turn.
/metrics, a model swap and shutdown flush first (`flush_all`).
"""

import logging
import os
from collections.abc import Callable
from random import getrandbits
from typing import Any

from starlette.types import Scope

from app.core.deferred import TurnBuffer
from app.core.logging import RequestLineLogger
from app.core.traceparent import parse_traceparent
from app.observability.metrics import HttpMetrics

UNMATCHED_HANDLER = "none"  # every path that matches no route shares one label value
# Keys a route may put in scope["state"] to have them logged on the access line.
ACCESS_LOG_FIELDS = (
    "model_version",
    "prediction_label",
    "prediction_labels",
    "prediction_value",
    "prediction_values",
    "batch_size",
    "feedback_status",
    "error_code",
    "trace_id",
    "span_id",
)
_MAX_HEADER_CHARS = 256

logger = RequestLineLogger("glassbox.access")


HTTP_METRICS = HttpMetrics()  # one per process: the middleware and the protocol's refusals


class _RandomBytes:
    """The operating system's random bytes, fetched 4 KiB at a time: one getrandom() system
    call per 256 request ids instead of one each (os.urandom was ~2 % of /predict, py-spy).
    The same secrets, only fewer calls: a request id names its prediction to /feedback, so
    it must stay unguessable. A forked child drops what its parent fetched, so two workers
    never hand out the same ids."""

    CHUNK = 4096

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0
        os.register_at_fork(after_in_child=self.drop)

    def drop(self) -> None:
        self._pool, self._at = b"", 0

    def take(self, count: int) -> bytes:
        if self._at + count > len(self._pool):
            self._pool, self._at = os.urandom(max(self.CHUNK, count)), 0
        start = self._at
        self._at = start + count
        return self._pool[start : start + count]


_RANDOM = _RandomBytes()


def new_request_id() -> str:
    """A random RFC 4122 version-4 UUID as 32 hex digits, what `uuid.uuid4().hex` returns,
    without building a UUID object (a third of the cost; profiled at 2 % of /predict)."""
    raw = bytearray(_RANDOM.take(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


def random_hex(count: int) -> str:
    """`count` random bytes as hex: a new trace id (16) or span id (8), from the same pool."""
    return _RANDOM.take(count).hex()


def span_id() -> str:
    """A new span id: 16 hex digits, never all zeros. From `random`, as the SDK's own id
    generator does (an id names a span, it is no secret; reseeded in a forked worker): 0.2
    us, against 0.4 for the secret pool the request ids take from."""
    return (getrandbits(64) or 1).to_bytes(8).hex()


def new_trace(state: dict[str, Any]) -> str:
    """A trace that starts here: its id and this server's span id into `state`."""
    trace_id = random_hex(16)
    state["trace_id"] = trace_id
    state["span_id"] = span_id()
    return trace_id


def resolve_trace(state: dict[str, Any]) -> None:
    """The caller's traceparent the edge kept (app/middleware/trace_context.py), read:
    `trace_id`, this server's `span_id`, `trace_parent` (the caller's span, its sampled
    flag, its tracestate); a malformed one is ignored, or with spans on starts a new trace.
    Called by the first pass after the response that reads them (this module's, the
    dataplane's sinks'); once per request."""
    header = state.pop("trace_header", None)
    if header is None:
        return
    raw, tracestate, new_traces = header
    parent = parse_traceparent(raw)
    if parent is None:
        if new_traces:
            new_trace(state)
        return
    trace_id, parent_id, sampled = parent
    state["trace_parent"] = (parent_id, sampled, tracestate.decode("latin-1"))
    state["trace_id"] = trace_id
    state["span_id"] = span_id()


_Accounted = tuple[Scope, str, int, float]  # scope, route template, status, seconds
_lines: list[bytes] = []  # the lines of the turn being accounted
# With spans on (app/observability/tracing.py): the server span of a request, made beside its
# access line: (state, method, route template, path, status, seconds).
ServerSpans = Callable[[dict[str, Any], str, str, str, int, float], None]
_server_spans: ServerSpans | None = None


def trace_requests(server_spans: ServerSpans | None) -> None:
    """Make each request's server span in the access pass (None: stop)."""
    global _server_spans
    _server_spans = server_spans


def _account(item: _Accounted) -> None:
    scope, handler, status, duration_s = item
    state: dict[str, Any] = scope.get("state", {})
    resolve_trace(state)
    if _server_spans is not None:  # first: it takes the sampler's decision
        _server_spans(state, scope["method"], handler, scope["path"], status, duration_s)
    HTTP_METRICS.observe(
        scope["method"], handler, status, duration_s, state.get("request_id"),
        exemplar_trace(state),
    )  # fmt: skip
    line = _line(scope, state, handler, status, duration_s)
    if line is not None:
        _lines.append(line)


def exemplar_trace(state: dict[str, Any]) -> str | None:
    """The trace id an exemplar may name: the caller's, or one whose spans were exported
    (an unsampled trace started here leads nowhere in Tempo)."""
    if state.get("trace_sampled", True):
        trace_id: str | None = state.get("trace_id")
        return trace_id
    return None


def _write_lines() -> None:
    """A turn's lines in one write."""
    lines = _lines[:]
    _lines.clear()
    if lines:
        logger.write(lines)


def _request_id(item: _Accounted) -> str | None:
    request_id: str | None = item[0].get("state", {}).get("request_id")
    return request_id


_ACCOUNTS: TurnBuffer[_Accounted] = TurnBuffer(
    "access", _account, done=_write_lines, request_id=_request_id
)


def account(scope: Scope, handler: str, status: int, duration_s: float) -> None:
    """The one access line and the one metrics sample of a request (in the deferred pass)."""
    _ACCOUNTS.add((scope, handler, status, duration_s))


def account_refused(
    method: str, path: str, client: tuple[str, int] | None, status: int, error_code: str,
    request_id: str,
) -> None:  # fmt: skip
    """Account for a request the HTTP layer refused before the app saw it (app/server/)."""
    scope: Scope = {
        "method": method,
        "path": path,
        "client": client,
        "headers": [],
        "state": {"error_code": error_code, "request_id": request_id},
    }
    account(scope, UNMATCHED_HANDLER, status, 0.0)


def _header(scope: Scope, name: bytes) -> str:
    value: bytes
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")[:_MAX_HEADER_CHARS]
    return ""


def _line(
    scope: Scope, state: dict[str, Any], handler: str, status: int, duration_s: float
) -> bytes | None:
    client = scope.get("client")
    fields: dict[str, Any] = {
        "method": scope["method"],
        "path": handler,
        "url_path": scope["path"][:_MAX_HEADER_CHARS],
        "status": status,
        "duration_ms": round(duration_s * 1000, 3),
        "client": f"{client[0]}:{client[1]}" if client else None,
        "user_agent": _header(scope, b"user-agent"),
    }
    for key in ACCESS_LOG_FIELDS:
        if key in state:
            fields[key] = state[key]
    if "request_id" in state:
        fields["request_id"] = state["request_id"]
    if status >= 500:
        return logger.line(logging.ERROR, "http_request", fields)
    if status >= 400:
        return logger.line(logging.WARNING, "http_request", fields)
    return logger.line(logging.INFO, "http_request", fields)
