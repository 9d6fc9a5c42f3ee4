"""The ASGI application: the registry, the dataplane, the model's routes around them, the edge."""

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app import __doc__ as description
from app import __version__
from app.api.application import GlassboxApi
from app.api.main import routers
from app.api.model_api import ModelApi, build_model_api
from app.api.routes import docs
from app.core.config import Settings, get_settings
from app.core.deferred import DEFERRED, Periodic, flush_all
from app.core.errors import register_exception_handlers
from app.core.lifecycle import api_file, reload_outcome_file, report_reload, write_atomically
from app.core.logging import configure_logging
from app.dataplane import build_dataplane
from app.ml.contract import Contract
from app.ml.serving.registry import ModelRegistry
from app.observability.access import trace_requests
from app.observability.exemplars import FLUSH_INTERVAL_SECONDS
from app.observability.metrics import WORKER_EXEMPLARS, mark_worker_dead
from app.observability.tracing import Spans
from app.server import drain


def create_app(settings: Settings | None = None) -> GlassboxApi:
    settings = settings or get_settings()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)

    # The registry reads the contract of the model its source names; the prediction API is
    # built from it (app/api/model_api.py), around the dataplane that answers every request.
    registry = ModelRegistry.from_settings(settings)
    spans = Spans(settings) if settings.spans_enabled else None  # OTEL_*: docs/tracing.md
    dataplane = build_dataplane(settings, registry, spans)
    model_api = build_model_api(registry.contract, registry.startup_metadata)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        registry.start()
        dataplane.start()
        if spans is not None:
            trace_requests(spans.server)
        exemplars: Periodic | None = None
        if WORKER_EXEMPLARS is not None:  # several workers: this one's file, every second
            exemplars = DEFERRED.schedule(
                "exemplars", FLUSH_INTERVAL_SECONDS, WORKER_EXEMPLARS.flush
            )
        drain.install(settings.DRAIN_SECONDS, ends_when_idle=settings.DRAIN_ENDS_WHEN_IDLE)
        if registry.contract is not None:
            publish_api(registry.contract)
        outcome_file = reload_outcome_file(settings.PID_FILE)
        registry.install_reload_signal(report_reload(outcome_file) if outcome_file else None)
        # Everything allocated by startup (libraries, the model) goes to the permanent
        # generation, so the collector stops rescanning it: at 64 connections /predict's p99
        # fell from 43-51 ms to 16-27 ms (wrk, three runs each, docs/performance.md).
        gc.freeze()
        yield
        flush_all()  # the last turn's answers and lines, in the declared order
        registry.stop()  # the shadow scores what it had queued, then stops
        await dataplane.stop()
        if exemplars is not None:
            DEFERRED.cancel(exemplars)
        flush_all()  # what the shadow's last scoring counted
        if spans is not None:
            trace_requests(None)
            spans.shutdown()  # the queued spans exported (bounded), the thread stopped
        mark_worker_dead(os.getpid())

    app = GlassboxApi(
        settings=settings,
        dataplane=dataplane,  # the one thing prediction routes, /readyz and /model ask
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
        routes = [route for router in routers(api, dataplane, settings) for route in router.routes]
        if settings.DOCS_ENABLED:
            routes.extend([*docs.router.routes, docs.assets])
        routes.extend(own)
        app.set_routes(routes)

    install_routes(model_api)

    # No model when the app was made (a remote source, or an empty MODEL_DIR): the first
    # one that loads defines the API, as it would have at startup.
    def publish_api(contract: Contract) -> None:
        """The contract this API is built from, for `make promote` and `train.py` to say
        whether `make reload` can serve a new model (beside the pid file; `make run` only)."""
        path = api_file(settings.PID_FILE)
        if path is not None:
            write_atomically(path, contract.to_metadata())

    def first_model(contract: Contract, metadata: dict[str, Any]) -> None:
        install_routes(build_model_api(contract, metadata))
        publish_api(contract)

    registry.on_first_model(first_model)
    register_exception_handlers(app)
    return app


app = create_app()
