"""Dependencies shared by the routers, as `Annotated` aliases, and the plain checks they wrap.

All dependencies are `async def` on purpose: they do no I/O, and FastAPI would otherwise run
each plain `def` dependency in its threadpool, a thread hop per dependency per request. The
prediction routes call the plain checks directly (app/api/json_route.py).
"""

from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings
from app.core.errors import ApiError
from app.ml.predictor import Predictor
from app.ml.registry import ModelRegistry, ModelState


def is_json(content_type: str) -> bool:
    """application/json or application/<anything>+json, parameters (charset) ignored."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def raw_header(request: Request, name: bytes) -> bytes | None:
    """The first value of a header (`name` in lower case, as servers hand them over), read
    from the scope: request.headers builds a Headers object for a lookup or two (~1.5 % of
    a V2 infer, py-spy)."""
    return next((value for key, value in request.scope["headers"] if key == name), None)


def require_json_content_type(request: Request) -> None:
    """415 for a body that is not JSON (the classic `curl -d` without -H mistake)."""
    raw = raw_header(request, b"content-type") or b""
    if raw == b"application/json":  # what nearly every client sends: no parsing
        return
    content_type = raw.decode("latin-1")
    if not is_json(content_type):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as JSON with the header Content-Type: application/json",
            [{"received_content_type": content_type[:100]}],
        )


def registry_of(request: Request) -> ModelRegistry:
    """The registry create_app built: the one owner of the served model."""
    registry: ModelRegistry = request.scope["app"].registry  # app/api/application.py
    return registry


def loaded_predictor(request: Request) -> Predictor:
    """The predictor, or 503 naming why the model is not loaded."""
    model = registry_of(request).state
    if model.predictor is None:
        raise ApiError(
            503,
            "model_not_ready",
            f"model not loaded: {model.message}",
            [{"reason": model.reason}],
        )
    return model.predictor


def settings_of(request: Request) -> Settings:
    """The settings create_app was given (not a fresh read of the environment)."""
    settings: Settings = request.scope["app"].settings
    return settings


async def get_model_state(request: Request) -> ModelState:
    return registry_of(request).state


async def get_predictor(request: Request) -> Predictor:
    return loaded_predictor(request)


ModelStateDep = Annotated[ModelState, Depends(get_model_state)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
