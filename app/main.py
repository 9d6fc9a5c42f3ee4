"""The ASGI application: the model's routes, error handlers and the edge around them."""

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __doc__ as description
from app import __version__
from app.api.application import GlassboxApi
from app.api.main import routers
from app.api.model_api import ModelApi, build_model_api
from app.api.routes import docs
from app.core.config import Settings, get_settings
from app.core.errors import register_exception_handlers
from app.core.logging import configure_logging
from app.ml.registry import ModelRegistry
from app.observability.access import flush_accounts
from app.observability.metrics import mark_worker_dead
from app.server import drain


def create_app(settings: Settings | None = None) -> GlassboxApi:
    settings = settings or get_settings()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)

    # The registry reads the contract of the model in MODEL_DIR; the prediction API is
    # built from it (app/api/model_api.py).
    registry = ModelRegistry.from_settings(settings)
    model_api = build_model_api(registry.contract, registry.startup_metadata)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        registry.start()
        drain.install(settings.DRAIN_SECONDS)
        registry.install_reload_signal()
        # Everything allocated by startup (libraries, the model) goes to the permanent
        # generation, so the collector stops rescanning it: at 64 connections /predict's p99
        # fell from 43-51 ms to 16-27 ms (wrk, three runs each, docs/performance.md).
        gc.freeze()
        yield
        registry.stop()  # the shadow's queue scored, drift counts of the last second
        flush_accounts()  # the last loop turn's access lines and samples
        mark_worker_dead(os.getpid())

    app = GlassboxApi(
        settings=settings,
        registry=registry,  # the one thing routes, /readyz and /metrics ask
        title="Glassbox",
        description=description,
        version=__version__,
        lifespan=lifespan,
        # Metrics, logs and request ids are Glassbox's own (Prometheus + Loki); FastAPI's
        # OpenTelemetry hooks would only add a provider check to every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Swagger UI from the image (app/api/routes/docs.py), never FastAPI's CDN page.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.DOCS_ENABLED else None,
    )
    own = list(app.router.routes)  # FastAPI's own (/openapi.json)

    def install_routes(api: ModelApi) -> None:
        # The routes themselves, not include_router: FastAPI 0.16x wraps every included
        # router in a matcher that runs on each request (profiled at 3 % of /predict).
        # Prefixes, tags and responses are already part of each APIRoute.
        # The prediction routes first: Starlette matches in order (see app/api/routes/v2.py).
        routes = [route for router in routers(api) for route in router.routes]
        if settings.DOCS_ENABLED:
            routes.extend([*docs.router.routes, docs.assets])
        routes.extend(own)
        app.set_routes(routes)

    install_routes(model_api)
    # No model when the app was made (a registry source, or an empty MODEL_DIR): the first
    # one that loads defines the API, as it would have at startup.
    registry.on_first_model(
        lambda contract, metadata: install_routes(build_model_api(contract, metadata))
    )
    register_exception_handlers(app)
    return app


app = create_app()
