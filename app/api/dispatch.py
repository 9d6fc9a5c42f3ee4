"""Direct dispatch: the lean routes' handlers called straight from the app.

The prediction and feedback routes (DirectRoute, app/api/routing.py) already skip FastAPI's
generic handler. What is left between uvicorn and them is the
framework's layering: Starlette's ServerErrorMiddleware, FastAPI's telemetry and body-limit
layers (idle here: telemetry off, no FastAPI body limit), ExceptionMiddleware, the
AsyncExitStack layer, the router's loop over every route, and `request_response` with its
two exit stacks -- a coroutine frame each, most with their own `send` wrapper. py-spy put
them at about a fifth of /predict's worker time (docs/performance.md).

So for a request that one of those routes matches in full, this does what that chain does
for them -- record the route in the scope as the router would, build the Request, await
the handler, render an exception with the handler the app registered for it, send the
response -- and everything else takes FastAPI's own path: the fast path and its slow twin,
held equal by tests/unit/api/test_dispatch.py (FAST_PATHS_OFF=direct-dispatch: always the
slow one).
"""

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from fastapi import Request, Response
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from app.api.routing import DirectRoute

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]
_Entry = tuple[DirectRoute, Handler]


class DirectRoutes:
    """The lean routes at the head of the app's route list, by path."""

    def __init__(self) -> None:
        self._exact: dict[str, list[_Entry]] = {}
        self._templated: dict[str, list[_Entry]] = {}  # by method, in list order

    def update(self, routes: Sequence[BaseRoute]) -> None:
        """Take the lean routes up to the first other one: Starlette matches in list order,
        so past that route a request could be meant for it (it takes FastAPI's path)."""
        exact: dict[str, list[_Entry]] = {}
        templated: dict[str, list[_Entry]] = {}
        for route in routes:
            if not isinstance(route, DirectRoute):
                break
            entry = (route, route.get_route_handler())
            if route.param_convertors:
                # Only routes of the request's method can match it in full, the only
                # match taken here: the V2 POST skips the GET routes' regexes.
                for method in route.methods or ():
                    templated.setdefault(method, []).append(entry)
            else:
                exact.setdefault(route.path, []).append(entry)
        self._exact, self._templated = exact, templated  # in one step

    def match(self, scope: Scope) -> tuple[_Entry, dict[str, Any]] | None:
        """A lean route and its path parameters, when one matches method and path in full."""
        if scope.get("root_path"):  # behind a path prefix: the router strips it
            return None
        method, path = scope["method"], scope["path"]
        for entry in self._exact.get(path, ()):
            if method in (entry[0].methods or ()):
                return entry, {}
        for entry in self._templated.get(method, ()):
            # Starlette's Route.matches for http, without the child scope it builds.
            found = entry[0].path_regex.match(path)
            if found:
                convertors = entry[0].param_convertors
                params = {
                    key: convertors[key].convert(value) for key, value in found.groupdict().items()
                }
                return entry, params
        return None

    async def handle(
        self,
        matched: tuple[_Entry, dict[str, Any]],
        scope: Scope,
        receive: Receive,
        send: Send,
        exception_handlers: dict[Any, Callable[..., Any]],
    ) -> None:
        (route, handler), path_params = matched
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = path_params
        request = Request(scope, receive, send)
        try:
            response = await handler(request)
        except Exception as exc:
            on_error = _handler_for(exception_handlers, exc)
            if on_error is None:
                raise  # the edge answers the JSON 500 (app/middleware/edge.py)
            response = await on_error(request, exc)
        await response(scope, receive, send)


def _handler_for(
    handlers: dict[Any, Callable[..., Any]], exc: Exception
) -> ExceptionHandler | None:
    """The handler Starlette's ExceptionMiddleware would pick: by status code for an
    HTTPException, else the nearest class in the exception's MRO. Written out rather than
    taken from Starlette's private `_lookup_exception_handler`."""
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        handler: ExceptionHandler = handlers[exc.status_code]
        return handler
    for cls in type(exc).__mro__:
        if cls in handlers:
            found: ExceptionHandler = handlers[cls]
            return found
    return None
