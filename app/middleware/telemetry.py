"""Account for every request exactly once: one `http_request` log line and one metrics sample.

One middleware writes both, from the same status, route template and clock, so a log line
and its metric series always agree -- including for 413s answered before routing and 500s
rendered by ServerErrorsMiddleware, which sit inside it.

This replaces prometheus-fastapi-instrumentator, which served the same two metrics: it
builds a Request, a Response and an Info object and resolves the route again on every
request, which `make bench` measured at a tenth of /predict's time. Starlette already
records the matched route in `scope["route"]`; only requests that never reach the router
(refused by the body limit, say) are matched here, the way the instrumentator did it.
The line and the sample themselves are written by app/observability/access.py.
"""

import time
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.access import UNMATCHED_HANDLER, account


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
