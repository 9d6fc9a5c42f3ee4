"""The ONNX Runtime path serves only when it agrees with scikit-learn; otherwise the service
falls back to scikit-learn, says why in one log line and in model_info{inference_path}."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from app.ml.artifact import ModelLoadError, load_artifact
from app.ml.building.dataset import load_dataset
from app.ml.building.export import ExportError, export_onnx
from app.ml.inference import TOLERANCE, OnnxPath, choose_path
from tests.support.service import ROOT, VALID_FLOWER
from tests.support.training import train_here

IRIS = load_dataset(ROOT / "data" / "iris.csv").contract


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    data = load_dataset(ROOT / "data" / "iris.csv")
    return data.features, data.target


def test_trained_artifact_serves_through_onnxruntime_matching_sklearn(
    model_dir: Path, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    artifact = load_artifact(model_dir)
    path, reason = choose_path(
        artifact.model, artifact.contract, artifact.onnx_model, artifact.reference_rows
    )
    assert (path.name, reason) == ("onnxruntime", None)
    everything = iris[0]  # training and held-out rows alike
    difference = np.abs(path.run(everything) - artifact.model.predict_proba(everything))
    assert difference.max() <= TOLERANCE
    assert np.array_equal(path.run(everything).argmax(axis=1), artifact.model.predict(everything))


def test_an_export_of_another_model_is_refused(
    model_dir: Path, iris: tuple[np.ndarray, np.ndarray]
) -> None:
    """A wrong graph (here: another C) never serves, even with a valid checksum."""
    artifact = load_artifact(model_dir)
    other = Pipeline([("s", StandardScaler()), ("c", LogisticRegression(C=0.01))]).fit(*iris)
    path, reason = choose_path(
        artifact.model, IRIS, export_onnx(other, IRIS), artifact.reference_rows
    )
    assert path.name == "sklearn"
    assert reason is not None
    assert "max |difference|" in reason


def test_missing_export_or_reference_rows_or_setting_fall_back(model_dir: Path) -> None:
    artifact = load_artifact(model_dir)
    cases = [
        ((None, artifact.reference_rows, "auto"), "no ONNX export"),
        ((artifact.onnx_model, None, "auto"), "no reference rows"),
        ((artifact.onnx_model, artifact.reference_rows, "sklearn"), "INFERENCE_PATH=sklearn"),
        ((b"not an onnx graph", artifact.reference_rows, "auto"), "could not run"),
    ]
    for (onnx_model, rows, preferred), expected in cases:
        path, reason = choose_path(artifact.model, IRIS, onnx_model, rows, preferred)  # type: ignore[arg-type]
        assert path.name == "sklearn"
        assert reason is not None
        assert expected in reason


def test_an_estimator_skl2onnx_cannot_convert_raises_export_error(
    iris: tuple[np.ndarray, np.ndarray],
) -> None:
    custom = Pipeline(
        [("f", FunctionTransformer(np.log1p)), ("c", LogisticRegression(max_iter=500))]
    ).fit(*iris)
    with pytest.raises(ExportError):
        export_onnx(custom, IRIS)


def test_export_keeps_only_the_probabilities(model_dir: Path) -> None:
    path = OnnxPath(load_artifact(model_dir).onnx_model or b"", IRIS)
    assert path.run(np.array([list(VALID_FLOWER.values())])).shape == (1, 3)


def test_tampered_onnx_file_is_refused_at_load(model_dir: Path, tmp_path: Path) -> None:
    artifact = tmp_path / "model"
    shutil.copytree(model_dir.resolve(), artifact)
    with (artifact / "model.onnx").open("ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ModelLoadError) as caught:
        load_artifact(artifact)
    assert caught.value.reason == "checksum_mismatch"


def test_training_records_the_export_and_its_checksum(tmp_path: Path) -> None:
    assert train_here(tmp_path) == 0
    latest = tmp_path / "latest"
    metadata = json.loads((latest / "metadata.json").read_text())
    assert metadata["onnx_export"] == "exported"
    onnx_bytes = (latest / "model.onnx").read_bytes()
    assert metadata["onnx_sha256"] == hashlib.sha256(onnx_bytes).hexdigest()
    assert len(metadata["reference_inputs"]) == metadata["training_data"]["train_rows"]
