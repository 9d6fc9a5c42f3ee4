"""Dependencies shared by the routers, as `Annotated` aliases.

All are `async def` on purpose: they do no I/O, and FastAPI would otherwise run each
plain `def` dependency in its threadpool, a thread hop per dependency per request
(measured by `make bench`: it cost /predict most of its throughput).
"""

from email.message import Message
from typing import Annotated

from fastapi import Depends, Request

from app.core.config import Settings, get_settings
from app.core.errors import ApiError
from app.ml.model_state import ModelState
from app.ml.predictor import Predictor


async def get_model_state(request: Request) -> ModelState:
    state: ModelState = request.app.state.model
    return state


async def get_predictor(model: Annotated[ModelState, Depends(get_model_state)]) -> Predictor:
    if model.predictor is None:
        raise ApiError(
            503,
            "model_not_ready",
            f"model not loaded: {model.message}",
            [{"reason": model.reason}],
        )
    return model.predictor


async def require_json(request: Request) -> None:
    """415 for a body that is not JSON (the classic `curl -d` without -H mistake)."""
    content_type = request.headers.get("content-type", "")
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    if message.get_content_maintype() != "application" or not (
        subtype == "json" or subtype.endswith("+json")
    ):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as JSON with the header Content-Type: application/json",
            [{"received_content_type": content_type[:100]}],
        )


async def settings() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings)]
ModelStateDep = Annotated[ModelState, Depends(get_model_state)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
