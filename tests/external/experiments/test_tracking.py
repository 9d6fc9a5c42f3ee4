"""MLflow tracking against a real local SQLite store (no server), as the optional extra."""

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from app.ml.artifact import sha256_file
from experiments.poisoning import sweep
from experiments.tracking import REGISTERED_MODEL, MlflowTracker
from tests.support.service import ROOT

DATA = ROOT / "data" / "iris.csv"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[str]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield uri
    finally:
        mlflow.set_tracking_uri("")


def test_every_run_is_tracked_and_the_best_clean_model_registered(
    store: str, tmp_path: Path
) -> None:
    tracker = MlflowTracker("glassbox-poisoning-test", (tmp_path / "artifacts").as_uri())
    runs = sweep(DATA, levels=(0.0, 0.3), c_values=(0.1, 1.0), seeds=(0,), tracker=tracker)
    version = tracker.register_best(runs)

    client = MlflowClient(store, store)
    (experiment,) = [e for e in client.search_experiments() if e.name == "glassbox-poisoning-test"]
    tracked = client.search_runs([experiment.experiment_id])
    assert len(tracked) == len(runs) == 4
    checksum = sha256_file(DATA)
    for run in tracked:
        params = run.data.params
        assert set(params) >= {"poison_level", "C", "seed", "data_sha256"}
        assert params["data_sha256"] == checksum
        assert set(run.data.metrics) >= {"accuracy", "f1_macro"}
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "confusion_matrix.json" in names

    best = max(
        (r for r in runs if r.poison_level == 0.0), key=lambda r: (r.accuracy, r.f1_macro, -r.c)
    )
    registered = client.get_model_version(REGISTERED_MODEL, version)
    assert registered.run_id is not None
    source = client.get_run(registered.run_id)
    assert float(source.data.params["poison_level"]) == 0.0
    assert float(source.data.params["C"]) == best.c
    assert source.data.metrics["accuracy"] == pytest.approx(best.accuracy)
    assert any((tmp_path / "artifacts").rglob("confusion_matrix.json"))  # not into ./mlruns
