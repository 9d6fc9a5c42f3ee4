"""A fitted estimator the user brings, plus rows of its data, into a checked artifact.

wrap.py (a joblib file and a CSV sample) and the MLflow registry source (a registered
model version and its input example, app/ml/serving/mlflow_source.py) both end here, so a
model from either door gets what a trained one gets: the contract, ranges and drift baseline
from the rows, the ONNX export kept only if it reproduces the model, the checksums, the
signature with the signing key, and the service's own load checks before anything can
serve it.
"""

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.logging import get_logger
from app.ml.artifact import ModelLoadError, check_compatible, load_artifact, major_minor
from app.ml.building.estimating import fit_estimation
from app.ml.building.packaging import package, write_signed
from app.ml.contract import Contract, Input
from app.ml.inference import SklearnPath

logger = get_logger("glassbox.wrap")


class WrapError(ValueError):
    """The estimator and its rows cannot make an artifact; the message says why."""


def check_sklearn_version(trained_with: str, installed: str) -> None:
    """The service refuses a pickle from another scikit-learn major.minor; refuse it here
    first, before anything serves it (and before the pickle is read, where we can)."""
    if major_minor(trained_with) != major_minor(installed):
        raise ModelLoadError(
            "sklearn_version_mismatch",
            f"the model was pickled by scikit-learn {trained_with}, this environment has "
            f"{installed}: refit it with this scikit-learn, or pin the one it was made with",
            trained_sklearn_version=trained_with,
            installed_sklearn_version=installed,
        )


def _targets(contract: Contract, labels: Sequence[str]) -> npt.NDArray[Any]:
    """The target column as the model answers it: class indices, or numbers."""
    if contract.task == "regression":
        try:
            return np.asarray([float(label) for label in labels], dtype=np.float64)
        except ValueError as exc:
            raise WrapError(f"a regressor's target must be numbers: {exc}") from exc
    index = {label: i for i, label in enumerate(contract.class_names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise WrapError(f"the target has values the model has no class for: {unknown}")
    return np.asarray([index[label] for label in labels], dtype=np.int64)


def wrap_estimator(
    model: Any,
    inputs: tuple[Input, ...],
    rows: npt.NDArray[Any],
    *,
    name: str,
    version: str,
    output_dir: Path,
    trained_with: str,
    provenance: dict[str, Any],
    labels: Sequence[str] | None = None,
    signing_key: str | None = None,
) -> Path:
    """Write `output_dir/<version>/` and return it, once it passed the load checks (a
    failed one is removed, never left for a later promote). `rows` are in input order;
    `labels`, when given, are the rows' targets: a classifier's class priors, and what its
    estimated quality is fitted on (a calibration, or a regressor's loss model: rows the
    model did not train on make it honest, training rows make it optimistic);
    `provenance` goes into metadata.json as is (where the model and rows came from);
    `signing_key` None reads MODEL_SIGNING_KEY (write_signed).
    Raises WrapError, ModelLoadError or InvalidKeyError."""
    is_classifier = hasattr(model, "classes_")
    contract = (
        Contract("classification", inputs, tuple(str(c) for c in model.classes_))
        if is_classifier
        else Contract("regression", inputs)
    )
    check_compatible(model, contract)
    # The rows must run through the model as the service will call it.
    SklearnPath(model, contract).run(rows[:8])
    targets = None if labels is None else _targets(contract, labels)
    class_targets = targets if is_classifier else None
    packaged = package(
        model, contract, rows, model_name=name, version=version, target=class_targets
    )
    if packaged.onnx_model is None:
        logger.warning(
            "onnx_export_failed", model_version=version, message=packaged.metadata["onnx_export"]
        )
    packaged.metadata["versions"]["sklearn"] = trained_with  # the pickle's own, not ours
    metadata = {
        **packaged.metadata,
        "metrics": {},
        # Not trained here: the gate is the load checks (no held-out metric to gate on).
        "quality_gate": {"metric": "load_checks", "passed": True},
        **provenance,
    }
    companions: dict[str, bytes] = {}
    if targets is not None:  # the rows' targets: what estimates the model's quality live
        estimation = fit_estimation(model, contract, rows, targets, 0, "wrap sample")
        if estimation.metadata is not None:
            metadata["estimation"] = estimation.metadata
            companions = estimation.companions
    path = write_signed(
        model, metadata, output_dir, version, packaged.onnx_model, signing_key, companions
    )
    try:
        load_artifact(path)  # the service's own checks, before anything serves it
    except ModelLoadError:
        shutil.rmtree(path)
        raise
    return path
