"""Kubernetes probes: liveness says the process runs, readiness says it can predict."""

from fastapi import APIRouter, Request

from app.api.deps import ModelStateDep
from app.api.schemas import ErrorResponse, HealthResponse, ReadyResponse
from app.core.errors import ApiError
from app.core.lifecycle import DrainState

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """Liveness: never depends on the model, so a bad artifact does not cause restarts."""
    return HealthResponse(status="ok")


@router.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ErrorResponse}})
async def readyz(model: ModelStateDep, request: Request) -> ReadyResponse:
    """Readiness: 200 once the model is loaded, else 503 naming the reason."""
    if DrainState.draining:
        raise ApiError(
            503, "shutting_down", "draining after SIGTERM; new requests belong elsewhere"
        )
    if model.runtime is None:
        raise ApiError(
            503,
            "model_not_ready",
            model.message,
            [{"reason": model.reason, **model.details}],
        )
    request.scope["state"]["model_version"] = model.runtime.version
    return ReadyResponse(
        status="ready", model_name=model.runtime.name, model_version=model.runtime.version
    )
