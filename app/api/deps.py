"""Dependencies shared by the routers, as `Annotated` aliases, and the plain look-ups they wrap.

All dependencies are `async def` on purpose: they do no I/O, and FastAPI would otherwise run
each plain `def` dependency in its threadpool, a thread hop per dependency per request. The
direct routes call the plain look-ups themselves.
"""

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.core.config import Settings
from app.dataplane import DataPlane
from app.ml.serving.registry import ModelState
from app.ml.serving.runtime import ModelRuntime


def dataplane_of(request: Request) -> DataPlane:
    """The dataplane create_app built: every prediction, and the registry behind it."""
    dataplane: DataPlane = request.scope["app"].dataplane  # app/api/application.py
    return dataplane


def settings_of(request: Request) -> Settings:
    """The settings create_app was given (not a fresh read of the environment)."""
    settings: Settings = request.scope["app"].settings
    return settings


def only_on_port(request: Request, port: int) -> None:
    """404 unless the request came in on `port` (0: any port). METRICS_PORT and FEEDBACK_PORT
    put a route on a port of its own, where a NetworkPolicy can name who reaches it."""
    server = request.scope.get("server")
    if port and (server is None or server[1] != port):
        raise HTTPException(404)


async def get_model_state(request: Request) -> ModelState:
    return dataplane_of(request).registry.state


async def get_runtime(request: Request) -> ModelRuntime:
    """The serving runtime, or 503 naming why none serves."""
    return dataplane_of(request).model()


ModelStateDep = Annotated[ModelState, Depends(get_model_state)]
RuntimeDep = Annotated[ModelRuntime, Depends(get_runtime)]
