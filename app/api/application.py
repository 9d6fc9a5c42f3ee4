"""The FastAPI application Glassbox serves: the edge around every request, and the lean
routes dispatched directly (app/api/dispatch.py).

Starlette builds a middleware stack per app: ServerErrorMiddleware outermost, then (FastAPI)
telemetry and body-limit layers, user middleware, ExceptionMiddleware, an AsyncExitStack
layer, the router. Here the edge (app/middleware/edge.py) is the one layer around all of
it, so the stack keeps only what the routes not dispatched directly need: exception
handlers and the exit stack. ServerErrorMiddleware would answer a plain-text 500 before the
edge's JSON one; FastAPI's telemetry is off and its body limit unset, so both were idle.

The direct routes declare their bodies through `openapi_extra` (app/api/routing.py); the
document gets those body models' schemas as components here, as FastAPI would have made
them from an endpoint's signature.
"""

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.dispatch import DirectRoutes
from app.api.routing import DirectRoute
from app.core.config import Settings
from app.dataplane import DataPlane
from app.middleware.edge import EdgeMiddleware

REF_TEMPLATE = "#/components/schemas/{model}"


class GlassboxApi(FastAPI):
    def __init__(self, *, settings: Settings, dataplane: DataPlane, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # What the routes ask on every request (app/api/deps.py): plain attributes, since
        # `app.state.x` goes through State.__getattr__ (~2 % of /predict, py-spy).
        self.settings = settings
        self.dataplane = dataplane  # every prediction; its registry owns the served model
        self.direct_routes = DirectRoutes()
        self.direct_dispatch = settings.fast_path("direct-dispatch")  # FAST_PATHS_OFF
        self._error_handlers: dict[Any, Callable[..., Any]] = {}  # set with the stack
        # The edge: request id, access line and metrics sample, the JSON 500, the body limit.
        self._edge = EdgeMiddleware(
            self._dispatch, settings.MAX_BODY_BYTES, new_traces=settings.spans_enabled
        )

    def set_routes(self, routes: Sequence[BaseRoute]) -> None:
        """Serve these routes from now on, in this order (one step on the event loop: a
        request sees the old set or the new one)."""
        self.router.routes[:] = routes
        self.direct_routes.update(self.router.routes)
        self.openapi_schema = None  # /openapi.json is rebuilt from the routes on next read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        await self._edge(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, with the schemas of the bodies the direct routes declare."""
        if self.openapi_schema is None:
            document = super().openapi()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for route in self.router.routes:
                model = route.body_model if isinstance(route, DirectRoute) else None
                if model is not None:
                    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
                    schemas.update(schema.pop("$defs", {}))
                    schemas[model.__name__] = schema
            self.openapi_schema = document
        return self.openapi_schema

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = self.direct_routes.match(scope) if self.direct_dispatch else None
        if matched is None:
            await super().__call__(scope, receive, send)
            return
        if self.middleware_stack is None:  # built at startup (lifespan), or here
            self.middleware_stack = self.build_middleware_stack()
        await self.direct_routes.handle(matched, scope, receive, send, self._error_handlers)

    def build_middleware_stack(self) -> ASGIApp:
        if self.user_middleware:
            raise TypeError("add to the edge (app/middleware/edge.py), not add_middleware")
        handlers = {
            key: handler
            for key, handler in self.exception_handlers.items()
            if key not in (500, Exception)
        }
        if not all(inspect.iscoroutinefunction(handler) for handler in handlers.values()):
            raise TypeError("exception handlers must be async: the direct dispatch awaits them")
        self._error_handlers = handlers
        return ExceptionMiddleware(
            AsyncExitStackMiddleware(self.router), handlers=handlers, debug=self.debug
        )
