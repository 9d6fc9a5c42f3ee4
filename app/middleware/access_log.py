"""Exactly one `http_request` line per request, written when the response is done.

`path` is the route template, resolved the same way the metrics middleware
resolves its `handler` label, so a log line and its metric series always agree.
Routes add fields (model_version, predicted labels) through `scope["state"]`.
"""

import time
from typing import Any

from prometheus_fastapi_instrumentator.routing import get_route_name
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.logging import get_logger

UNMATCHED_HANDLER = "none"  # the instrumentator's value for paths that match no route
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


class AccessLogMiddleware:
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
            _log(scope, status, (time.perf_counter() - started) * 1000)


def _log(scope: Scope, status: int, duration_ms: float) -> None:
    request = Request(scope)
    state: dict[str, Any] = scope.get("state", {})
    client = scope.get("client")
    fields: dict[str, Any] = {
        "method": scope["method"],
        "path": get_route_name(request, should_include_root_path=False) or UNMATCHED_HANDLER,
        "url_path": scope["path"][:_MAX_HEADER_CHARS],
        "status": status,
        "duration_ms": round(duration_ms, 3),
        "client": f"{client[0]}:{client[1]}" if client else None,
        "user_agent": request.headers.get("user-agent", "")[:_MAX_HEADER_CHARS],
    }
    fields.update({key: state[key] for key in ACCESS_LOG_FIELDS if key in state})
    level = "error" if status >= 500 else "warning" if status >= 400 else "info"
    getattr(logger, level)("http_request", **fields)
