"""Account for every request exactly once: one `http_request` log line and one metrics sample.

One middleware writes both, from the same status, route template and clock, so a log line
and its metric series always agree -- including for 413s answered before routing and 500s
rendered by ServerErrorsMiddleware, which sit inside it.

This replaces prometheus-fastapi-instrumentator, which served the same two metrics: it
builds a Request, a Response and an Info object and resolves the route again on every
request, which `make bench` measured at a tenth of /predict's time. Starlette already
records the matched route in `scope["route"]`; only requests that never reach the router
(refused by the body limit, say) are matched here, the way the instrumentator did it.
Routes add fields to the access line through `scope["state"]` (ACCESS_LOG_FIELDS).
"""

import time
from typing import Any

import structlog
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import get_logger
from app.observability.metrics import HttpMetrics

UNMATCHED_HANDLER = "none"  # every path that matches no route shares one label value
# Keys a route may put in scope["state"] to have them logged on the access line.
ACCESS_LOG_FIELDS = (
    "model_version",
    "prediction_label",
    "prediction_labels",
    "batch_size",
    "error_code",
)
_MAX_HEADER_CHARS = 256

logger = get_logger("glassbox.access")


HTTP_METRICS = HttpMetrics()  # one per process: the middleware and the protocol's refusals


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500

        async def capture_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture_status)
        finally:
            account(scope, route_template(scope), status, time.perf_counter() - started)


def account(scope: Scope, handler: str, status: int, duration_s: float) -> None:
    """The one access line and the one metrics sample of a request."""
    request_id = scope["state"].get("request_id") if "state" in scope else None
    HTTP_METRICS.observe(scope["method"], handler, status, duration_s, request_id)
    _log(scope, handler, status, duration_s)


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
    tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        account(scope, UNMATCHED_HANDLER, status, 0.0)
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def route_template(scope: Scope) -> str:
    """The matched route's path template ("/predict"), never the raw path (bounded labels)."""
    route = scope.get("route") or _match(scope)
    return str(getattr(route, "path", UNMATCHED_HANDLER))


def _match(scope: Scope) -> Any:
    """For requests answered before routing: a full match, else a method-only mismatch."""
    partial = None
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return partial


def _header(scope: Scope, name: bytes) -> str:
    value: bytes
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")[:_MAX_HEADER_CHARS]
    return ""


def _log(scope: Scope, handler: str, status: int, duration_s: float) -> None:
    state: dict[str, Any] = scope.get("state", {})
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
    if status >= 500:
        logger.error("http_request", **fields)
    elif status >= 400:
        logger.warning("http_request", **fields)
    else:
        logger.info("http_request", **fields)
