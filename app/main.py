"""The ASGI application: routers, error handlers and middleware in a fixed order."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __doc__ as description
from app.api.main import api_router
from app.api.schemas import IrisFeatures
from app.core.config import Settings, get_settings
from app.core.errors import register_exception_handlers
from app.core.logging import configure_logging
from app.middleware.access_log import AccessLogMiddleware
from app.middleware.body_limit import BodySizeLimitMiddleware
from app.middleware.request_id import RequestIdMiddleware
from app.middleware.server_errors import ServerErrorsMiddleware
from app.ml.model_state import ModelState, load_model_state
from app.observability.metrics import instrument_http, mark_worker_dead


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.model = load_model_state(settings.MODEL_DIR, list(IrisFeatures.model_fields))
        yield
        mark_worker_dead(os.getpid())

    app = FastAPI(title="Glassbox", description=description, version="0.1.0", lifespan=lifespan)
    app.state.model = ModelState()
    app.include_router(api_router)
    register_exception_handlers(app)

    # add_middleware puts each new one outermost, so this reads inner to outer:
    # the body limit answers 413 inside the metrics middleware (so 413s are
    # counted), and the request id wraps everything (so every response has it).
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_BODY_BYTES)
    instrument_http(app)
    app.add_middleware(ServerErrorsMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(RequestIdMiddleware)
    return app


app = create_app()
