"""Every check of a model load, the same at startup, at reload and for a shadow candidate
(app/ml/serving/registry.py)."""

from pathlib import Path
from typing import Any, Literal

from app.core.logging import get_logger
from app.ml.artifact import ModelLoadError, load_artifact
from app.ml.calibration import Calibration
from app.ml.contract import Contract
from app.ml.serving.runtime import ModelRuntime

logger = get_logger("glassbox.model")


def load_runtime(
    model_dir: Path,
    api_contract: Contract | None,
    inference_path: Literal["auto", "sklearn"] = "auto",
    public_key: str = "",
) -> ModelRuntime:
    """Every check of a load, and a warm-up call; touches no gauge, so a reload can run it
    beside the model in service. `api_contract` is the contract the HTTP API was built
    from (None: none yet, the first model to load sets it); a model of another shape is
    refused. Raises ModelLoadError."""
    artifact = load_artifact(model_dir, public_key)
    if api_contract is not None and artifact.contract.shape != api_contract.shape:
        raise ModelLoadError(
            "model_incompatible",
            "the model's inputs or task differ from those this process's API was built for: "
            "a new shape is a rollout (restart the service to serve it)",
            **_shapes(artifact.contract, api_contract),
        )
    runtime = ModelRuntime(artifact, inference_path)
    runtime.calibration = _calibration(artifact.metadata, len(artifact.contract.class_names))
    if not artifact.verified:
        logger.warning(
            "model_unverified",
            model_version=runtime.version,
            message="MODEL_PUBLIC_KEY is not set: the artifact's signature was not checked",
        )
    if runtime.fallback_reason is not None:
        logger.warning(
            "inference_fallback",
            inference_path=runtime.inference_path,
            reason=runtime.fallback_reason,
            model_version=runtime.version,
        )
    runtime.warm_up()
    logger.info(
        "model_loaded",
        model_name=runtime.name,
        model_version=runtime.version,
        model_dir=str(model_dir),
        sklearn_version=runtime.sklearn_version,
        inference_path=runtime.inference_path,
        task=runtime.task,
        signature_verified=artifact.verified,
    )
    return runtime


def _calibration(metadata: dict[str, Any], classes: int) -> Calibration | None:
    """The artifact's confidence calibration (estimated quality), or None without one; a
    broken one refuses the load, as a broken model does."""
    estimation = metadata.get("estimation")
    if estimation is None:
        return None
    try:
        calibration = Calibration.from_metadata(estimation)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError("calibration_invalid", f"metadata.json's estimation: {exc}") from exc
    if calibration.method == "isotonic" and len(calibration.thresholds) != classes:
        raise ModelLoadError(
            "calibration_invalid",
            f"metadata.json's estimation maps {len(calibration.thresholds)} classes, the model "
            f"{classes}",
        )
    return calibration


def _shapes(model: Contract, api: Contract | None) -> dict[str, Any]:
    return {
        "model_task": model.task,
        "model_inputs": [f"{item.name}:{item.kind}" for item in model.inputs],
        "api_task": api.task if api else None,
        "api_inputs": [f"{item.name}:{item.kind}" for item in api.inputs] if api else [],
    }
