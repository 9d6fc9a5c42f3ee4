"""A fitted estimator plus its training rows into a Glassbox artifact's metadata and export.

train.py (a model it fits) and wrap.py (a model the user brings) both end here, so both
artifacts carry the same things the service checks and uses at load: the contract, the
training ranges and drift baseline per input, an example row, reference rows, the class
priors, the library versions and, when skl2onnx converts the model and the export
reproduces scikit-learn on the reference rows, the ONNX export.
"""

import importlib.metadata
import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import sklearn

from app.core.logging import get_logger
from app.ml.artifact import write_artifact
from app.ml.building.export import ExportError, export_onnx
from app.ml.contract import Contract
from app.ml.inference import choose_path
from app.ml.profile import category_profile, feature_profile

logger = get_logger("glassbox.package")

# Training rows kept in metadata.json: the service replays them through the ONNX export
# and scikit-learn at load, and serves the export only if both agree.
REFERENCE_ROWS = 256


@dataclass(frozen=True)
class Package:
    metadata: dict[str, Any]
    onnx_model: bytes | None


def model_input(contract: Contract, rows: npt.NDArray[Any], columns: bool) -> Any:
    """Rows in contract order as a model is fitted on them: a DataFrame with the inputs'
    names (`columns`, needed to select categories by name), else a float64 matrix."""
    if not columns:
        return np.asarray(rows, dtype=np.float64)
    import pandas as pd

    frame = pd.DataFrame(rows, columns=contract.names)
    for item in contract.inputs:
        frame[item.name] = frame[item.name].astype(np.float64 if item.numeric else object)
    return frame


def package(
    model: Any,
    contract: Contract,
    training_rows: npt.NDArray[Any],
    *,
    model_name: str,
    version: str,
    target: npt.NDArray[Any] | None = None,
) -> Package:
    """Everything metadata.json says about the model and its data; the caller adds how it
    was trained (metrics, gate, params, data). `training_rows` are in contract order
    (float64, or object with categories); `target` gives a classifier its class priors."""
    by_input = list(zip(contract.inputs, training_rows.T, strict=True))
    onnx_model, onnx_export = checked_export(model, contract, training_rows[:REFERENCE_ROWS])
    metadata: dict[str, Any] = {
        "model_name": model_name,
        "model_version": version,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        **contract.to_metadata(),
        # The contract's training range (from all the rows the contract was read from).
        "feature_ranges": {
            item.name: {"min": item.minimum, "max": item.maximum}
            for item in contract.inputs
            if item.minimum is not None and item.maximum is not None
        },
        # The baseline of the drift metrics: deciles (numbers) or category shares, per input.
        "feature_deciles": {
            item.name: (
                category_profile([str(v) for v in column], item.categories)
                if item.kind == "category"
                else feature_profile(column.astype(np.float64))
            )
            for item, column in by_input
        },
        "onnx_export": onnx_export,
        # One valid request body, served by GET /model: what the chart's `helm test`, the
        # k6 load test and scripts/traffic.py send, whatever the model's inputs are.
        "example": contract.example_of(training_rows[0].tolist()),
        "reference_inputs": training_rows[:REFERENCE_ROWS].tolist(),
        "versions": {
            "python": platform.python_version(),
            "sklearn": sklearn.__version__,
            "joblib": joblib.__version__,
            "numpy": np.__version__,
            "skl2onnx": importlib.metadata.version("skl2onnx"),
        },
    }
    if contract.task == "classification" and target is not None:
        classes = len(contract.class_names)
        counts = np.bincount(np.asarray(target, dtype=np.int64), minlength=classes)
        metadata["class_priors"] = {
            name: float(count / len(target))
            for name, count in zip(contract.class_names, counts, strict=True)
        }
    return Package(metadata, onnx_model)


def checked_export(
    model: Any, contract: Contract, reference_rows: npt.NDArray[Any]
) -> tuple[bytes | None, str]:
    """The export, kept only if it reproduces scikit-learn on the reference rows (the check
    the service repeats at load), and what became of it, for metadata.json."""
    try:
        onnx_model = export_onnx(model, contract)
    except ExportError as exc:
        return None, f"failed: {exc}"
    _, refused = choose_path(model, contract, onnx_model, reference_rows)
    if refused is not None:
        return None, f"refused: {refused}"
    return onnx_model, "exported"


def write_signed(
    model: Any,
    metadata: dict[str, Any],
    output_dir: Path,
    version: str,
    onnx: bytes | None,
    signing_key: str | None = None,
    companions: dict[str, bytes] | None = None,
) -> Path:
    """Write the artifact, signed with `signing_key` (None: MODEL_SIGNING_KEY from the
    environment, as the CLIs read it) when there is one (an unsigned one is logged: a
    service with MODEL_PUBLIC_KEY refuses it). Raises InvalidKeyError."""
    if signing_key is None:
        signing_key = os.environ.get("MODEL_SIGNING_KEY", "")
    path = write_artifact(model, metadata, output_dir, version, onnx, signing_key, companions)
    if not signing_key:
        logger.warning(
            "model_unsigned",
            model_version=version,
            message="MODEL_SIGNING_KEY is not set; a service with MODEL_PUBLIC_KEY will refuse it",
        )
    return path
