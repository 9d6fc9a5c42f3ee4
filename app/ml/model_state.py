"""Load the model at startup and remember either the predictor or why it failed.

A failed load keeps the process alive (liveness passes) but never ready: the pod
stays out of the Service with one clear log line, instead of crash-looping.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from app.core.logging import get_logger
from app.ml.artifact import ModelLoadError, load_artifact
from app.ml.predictor import Predictor
from app.observability.metrics import MODEL_LOADED

logger = get_logger("glassbox.model")


@dataclass
class ModelState:
    """What startup learned about the model: a predictor, or the reason there is none."""

    predictor: Predictor | None = None
    reason: str = "starting"
    message: str = "model not loaded yet"
    details: dict[str, Any] = field(default_factory=dict)


def load_model_state(
    model_dir: Path,
    expected_features: Sequence[str],
    inference_path: Literal["auto", "sklearn"] = "auto",
    public_key: str = "",
) -> ModelState:
    """Load `model_dir`, check it matches the API's features, and set model_loaded."""
    try:
        predictor = load_predictor(model_dir, expected_features, inference_path, public_key)
    except ModelLoadError as exc:
        MODEL_LOADED.set(0)
        fields = {"model_dir": str(model_dir), **exc.details}
        logger.error("model_load_failed", reason=exc.reason, message=exc.message, **fields)
        return ModelState(reason=exc.reason, message=exc.message, details=exc.details)
    return serve(predictor)


def load_predictor(
    model_dir: Path,
    expected_features: Sequence[str],
    inference_path: Literal["auto", "sklearn"] = "auto",
    public_key: str = "",
) -> Predictor:
    """Every check of a load, and a warm-up call; touches no gauge, so a reload can run it
    beside the model in service (app/ml/reload.py). Raises ModelLoadError."""
    artifact = load_artifact(model_dir, public_key)
    predictor = Predictor(artifact, inference_path)
    if predictor.feature_names != list(expected_features):
        raise ModelLoadError(
            "model_incompatible",
            "model feature_names differ from the API's request fields",
            model_features=predictor.feature_names,
            api_features=list(expected_features),
        )
    if not artifact.verified:
        logger.warning(
            "model_unverified",
            model_version=predictor.version,
            message="MODEL_PUBLIC_KEY is not set: the artifact's signature was not checked",
        )
    if predictor.fallback_reason is not None:
        logger.warning(
            "inference_fallback",
            inference_path=predictor.inference_path,
            reason=predictor.fallback_reason,
            model_version=predictor.version,
        )
    if not predictor.drift.enabled:
        logger.warning(
            "drift_baseline_missing",
            model_version=predictor.version,
            message="metadata.json has no feature_deciles (trained before they existed): "
            "feature drift is not measured for this model; retrain to get it",
        )
    predictor.warm_up()
    logger.info(
        "model_loaded",
        model_name=predictor.name,
        model_version=predictor.version,
        model_dir=str(model_dir),
        sklearn_version=predictor.sklearn_version,
        inference_path=predictor.inference_path,
        signature_verified=artifact.verified,
    )
    return predictor


def serve(predictor: Predictor) -> ModelState:
    """Publish a loaded predictor's gauges; the state to put on app.state."""
    predictor.mark_serving()
    MODEL_LOADED.set(1)
    return ModelState(predictor=predictor, reason="loaded", message="model loaded")
