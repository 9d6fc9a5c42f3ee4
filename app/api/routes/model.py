"""GET /model: what a client needs to know about the model in service, and no more.

metadata.json also records the training data's path and checksum, library versions, file
checksums and training rows; those serve operators and the service itself, and would only
help someone probing it, so they stay on the server (read them from the artifact).
"""

from typing import Any

from fastapi import APIRouter, Request

from app.api.deps import RuntimeDep
from app.api.schemas import ErrorResponse

router = APIRouter(tags=["model"])
PUBLIC_FIELDS = (
    "model_name",
    "model_version",
    "created_at",
    "task",
    "inputs",
    "feature_names",
    "class_names",
    "feature_ranges",
    "class_priors",
)
PUBLIC_METRICS = ("accuracy", "f1_macro", "r2", "rmse", "mae", "test_rows")


@router.get("/model", responses={503: {"model": ErrorResponse}})
async def model_metadata(runtime: RuntimeDep, request: Request) -> dict[str, Any]:
    """Name, version, task, typed inputs, classes, training ranges and priors, held-out
    metrics, and
    `example`: one valid /predict body (what `helm test` and the load tests send)."""
    request.scope["state"]["model_version"] = runtime.version
    metadata = runtime.metadata
    public = {key: metadata[key] for key in PUBLIC_FIELDS if key in metadata}
    metrics = metadata.get("metrics", {})
    public["metrics"] = {key: metrics[key] for key in PUBLIC_METRICS if key in metrics}
    public["task"] = runtime.task  # also for an artifact from before contracts
    public["inference_path"] = runtime.inference_path
    # Why not ONNX Runtime, when it is not (also logged once at load as inference_fallback).
    public["inference_fallback_reason"] = runtime.fallback_reason
    public["example"] = runtime.example
    # Served from an MLflow registry: which registered version and run (where it is kept
    # and the tracking server's address stay on the server).
    registry = runtime.registry
    public["registry"] = (
        {key: registry.get(key) for key in ("uri", "name", "alias", "version", "run_id")}
        if registry
        else None
    )
    return public
