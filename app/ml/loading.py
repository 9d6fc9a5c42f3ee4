"""Every check of a model load, the same at startup and at reload (app/ml/registry.py)."""

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from app.core.logging import get_logger
from app.ml.artifact import ModelLoadError, load_artifact
from app.ml.predictor import Predictor

logger = get_logger("glassbox.model")


def load_predictor(
    model_dir: Path,
    expected_features: Sequence[str],
    inference_path: Literal["auto", "sklearn"] = "auto",
    public_key: str = "",
) -> Predictor:
    """Every check of a load, and a warm-up call; touches no gauge, so a reload can run it
    beside the model in service. Raises ModelLoadError."""
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
