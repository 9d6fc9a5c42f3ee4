"""Which route a request was, for its access line and metrics sample (app/observability/access.py).

This replaces prometheus-fastapi-instrumentator, which served the same two metrics: it
builds a Request, a Response and an Info object and resolves the route again on every
request, which `make bench` measured at a tenth of /predict's time. Starlette (and the
direct dispatch, app/api/dispatch.py) already records the matched route in
`scope["route"]`; only requests that never reach the router (refused by the body limit,
say) are matched here, the way the instrumentator did it.
"""

from typing import Any

from starlette.routing import Match
from starlette.types import Scope

from app.observability.access import UNMATCHED_HANDLER


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
