"""Estimated quality, live: the served model's answers add their calibrated probability of
being right to model_estimated_correct_total and their expected confusion to
model_estimated_confusion_total (the app in process; the counts checked against the
calibration applied to the probabilities the API answered)."""

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from app.main import create_app
from app.ml.calibration import Calibration
from app.ml.serving.loading import load_runtime
from tests.support.service import ROOT

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.8, 4.8, 1.8], [5.9, 3.0, 5.1, 1.8], [6.0, 2.2, 4.0, 1.0]]


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(MODEL_DIR=model_dir, DRAIN_SECONDS=0))) as test_client:
        yield test_client


def scraped(client: TestClient, name: str) -> dict[frozenset[tuple[str, str]], float]:
    found = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for item in family.samples:
            if item.name == name:
                found[frozenset(item.labels.items())] = item.value
    return found


def test_each_answer_adds_its_calibrated_probability_of_being_right(
    client: TestClient, model_dir: Path
) -> None:
    metadata = json.loads((model_dir / "metadata.json").read_text())
    calibration = Calibration.from_metadata(metadata["estimation"])
    classes = metadata["class_names"]
    with (ROOT / "data" / "iris.csv").open() as handle:
        rows = [
            {key: float(value) for key, value in row.items() if key != "species"}
            for row in csv.DictReader(handle)
        ][::3]
    correct, confusion = "model_estimated_correct_total", "model_estimated_confusion_total"
    before, before_confusion = scraped(client, correct), scraped(client, confusion)
    before_rows = scraped(client, "model_estimated_rows_total")
    answered = [client.post("/predict", json=rows[0]).json()]
    answered += client.post("/predict/batch", json={"instances": rows[1:]}).json()["predictions"]
    probabilities = np.array([[a["probabilities"][name] for name in classes] for a in answered])
    after, after_confusion = scraped(client, correct), scraped(client, confusion)
    after_rows = scraped(client, "model_estimated_rows_total")
    assert [v - before_rows.get(k, 0.0) for k, v in after_rows.items()] == [len(rows)]

    (key,) = after
    assert dict(key)["role"] == "primary"
    assert dict(key)["model_version"] == metadata["model_version"]
    added = after[key] - before.get(key, 0.0)
    assert added == pytest.approx(float(calibration.correct(probabilities).sum()), rel=1e-9)
    assert 0 < added <= len(rows)
    # The expected confusion: every row once, the diagonal the estimate.
    deltas = {k: v - before_confusion.get(k, 0.0) for k, v in after_confusion.items()}
    assert sum(deltas.values()) == pytest.approx(len(rows))
    assert all(
        dict(k)["correct"]
        == ("true" if dict(k)["predicted_class"] == dict(k)["actual_class"] else "false")
        for k in deltas
    )
    diagonal = sum(
        v for k, v in deltas.items() if dict(k)["predicted_class"] == dict(k)["actual_class"]
    )
    assert diagonal == pytest.approx(added)
    assert len(deltas) == len(classes) ** 2  # made at load, zeros included


def test_a_shadow_candidate_is_estimated_on_the_rows_it_scored(
    model_dir: Path, candidate_dir: Path
) -> None:
    """The candidate's estimate (role="shadow"): its own calibration applied to its own
    answers for the served rows, before any label; the served model's stays "primary"."""
    candidate = json.loads((candidate_dir / "metadata.json").read_text())
    calibration = Calibration.from_metadata(candidate["estimation"])
    runtime = load_runtime(candidate_dir, None)
    rows = [dict(zip(runtime.feature_names, row, strict=True)) for row in IRIS_ROWS]
    settings = Settings(MODEL_DIR=model_dir, SHADOW_MODEL_DIR=candidate_dir, DRAIN_SECONDS=0)
    with TestClient(create_app(settings)) as shadowed:
        before = scraped(shadowed, "model_estimated_correct_total")
        assert shadowed.post("/predict/batch", json={"instances": rows}).status_code == 200
        after = scraped(shadowed, "model_estimated_correct_total")
    (key,) = [k for k in after if dict(k)["role"] == "shadow"]
    assert dict(key)["model_version"] == candidate["model_version"]
    probabilities = runtime.inference.run(runtime.matrix(IRIS_ROWS))
    expected = float(calibration.correct(np.asarray(probabilities, dtype=np.float64)).sum())
    assert after[key] - before.get(key, 0.0) == pytest.approx(expected, rel=1e-9)


def test_the_estimates_held_out_error_is_published_beside_the_held_out_metrics(
    client: TestClient, model_dir: Path
) -> None:
    """What GlassboxEstimateDisagreesWithLabels holds the live-estimate gap against."""
    metadata = json.loads((model_dir / "metadata.json").read_text())
    published = {
        dict(k)["metric"]: v
        for k, v in scraped(client, "model_training_metric").items()
        if dict(k)["role"] == "primary"
    }
    error = metadata["estimation"]["held_out"]["estimate_error"]
    assert published["estimated_accuracy_error"] == pytest.approx(error)
    assert published["accuracy"] == pytest.approx(metadata["metrics"]["accuracy"])


@pytest.fixture(scope="module")
def regressor_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A regressor trained by train.py on scikit-learn's diabetes, with its loss model."""
    from sklearn.datasets import load_diabetes

    from tests.support.training import train_here

    folder = tmp_path_factory.mktemp("diabetes")
    load_diabetes(as_frame=True).frame.to_csv(folder / "diabetes.csv", index=False)
    data = str(folder / "diabetes.csv")
    assert train_here(folder / "artifacts", "--data", data, "--target", "target") == 0
    return folder / "artifacts" / "latest"


def test_a_regressor_adds_its_loss_models_expected_absolute_error(regressor_dir: Path) -> None:
    """model_estimated_absolute_error_total grows by the loss model's prediction for the
    rows answered (with the answers), never below zero; its held-out report is published."""
    from sklearn.datasets import load_diabetes

    from app.ml.loss_estimate import nanny_rows

    runtime = load_runtime(regressor_dir, None)
    assert runtime.loss_estimator is not None
    assert runtime.calibration is None
    frame = load_diabetes(as_frame=True).frame.drop(columns="target")
    rows = frame.iloc[::7].to_dict("records")
    settings = Settings(MODEL_DIR=regressor_dir, DRAIN_SECONDS=0)
    with TestClient(create_app(settings)) as served:
        before = scraped(served, "model_estimated_absolute_error_total")
        before_rows = scraped(served, "model_estimated_rows_total")
        answered = served.post("/predict/batch", json={"instances": rows}).json()["predictions"]
        after = scraped(served, "model_estimated_absolute_error_total")
        after_rows = scraped(served, "model_estimated_rows_total")
        published = {
            dict(k)["metric"]: v for k, v in scraped(served, "model_training_metric").items()
        }
    values = np.array([answer["prediction"] for answer in answered], dtype=np.float64)
    matrix = runtime.matrix([list(row.values()) for row in rows])
    expected = np.clip(runtime.loss_estimator.run(nanny_rows(matrix, values)), 0.0, None).sum()
    (key,) = after
    assert dict(key)["role"] == "primary"
    assert after[key] - before.get(key, 0.0) == pytest.approx(float(expected), rel=1e-9)
    assert after_rows[key] - before_rows.get(key, 0.0) == len(rows)
    metadata = json.loads((regressor_dir / "metadata.json").read_text())
    report = metadata["estimation"]["held_out"]
    assert report["estimate_error"] < 0.15  # the cross-fitted estimate of the held-out MAE
    assert published["estimated_mae_error"] == pytest.approx(report["estimate_error"])


def test_a_regressors_loss_model_is_checked_as_the_model_is(
    regressor_dir: Path, tmp_path: Path
) -> None:
    """A loss model altered after training fails its checksum: the load is refused."""
    import shutil

    from app.ml.artifact import ModelLoadError

    copy = tmp_path / "copy"
    shutil.copytree(regressor_dir.resolve(), copy)
    with (copy / "nanny.joblib").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelLoadError) as refused:
        load_runtime(copy, None)
    assert refused.value.reason == "checksum_mismatch"
    assert "nanny.joblib" in refused.value.message
