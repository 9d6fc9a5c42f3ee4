"""GET /model: the metadata of the model in service, as train.py wrote it."""

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import PredictorDep
from app.api.schemas import ErrorResponse

router = APIRouter(tags=["model"])
PRIVATE_KEYS = frozenset({"reference_inputs"})  # training data is not the client's business


@router.get("/model", responses={503: {"model": ErrorResponse}})
async def model_metadata(predictor: PredictorDep, request: Request) -> dict[str, Any]:
    """Version, metrics, feature ranges, class priors and checksums of the served model
    (metadata.json without the training rows kept there to verify the ONNX export)."""
    request.state.model_version = predictor.version
    return {key: value for key, value in predictor.metadata.items() if key not in PRIVATE_KEYS}
