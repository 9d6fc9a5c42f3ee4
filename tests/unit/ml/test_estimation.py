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
