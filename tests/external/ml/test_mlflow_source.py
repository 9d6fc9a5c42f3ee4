"""Serving from a real MLflow Model Registry: `mlflow server` (SQLite backend, local
artifact root, 127.0.0.1) as its own process, models logged and aliased through MLflow's
own client, and the real service process started with MODEL_URI."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
import pytest
import requests
import sklearn
from mlflow import MlflowClient
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from app.ml.artifact import ModelLoadError, load_artifact
from app.ml.serving.mlflow_source import MlflowSource, without_credentials
from app.ml.signing import keygen
from tests.service.ml.test_reload import Load
from tests.support.service import free_port, running_service, sample

MODEL = "iris-mlflow"
MLFLOW_STARTUP_S = 90.0  # 16 s on a quiet machine here


@contextmanager
def mlflow_server(store: Path, port: int) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1:port over `store` (its SQLite file and artifact root),
    stopped by its pid."""
    store.mkdir(parents=True, exist_ok=True)
    log = (store / f"server-{port}.log").open("wb")
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination",
            str(store / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers go with it: the group is signalled by its pid
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + MLFLOW_STARTUP_S
        while True:
            assert process.poll() is None, (store / f"server-{port}.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "mlflow server did not start"
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or not answering yet
                pass
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def iris_frame() -> tuple[pd.DataFrame, Any]:
    x, y = load_iris(return_X_y=True, as_frame=True)
    x.columns = [c.removesuffix(" (cm)").replace(" ", "_") for c in x.columns]
    return x, y


@contextmanager
def tracking(url: str) -> Iterator[None]:
    """MLflow's fluent API pointed at `url` for runs and the registry, in an experiment of
    this server's (all three are process-wide: another test's would not exist here)."""
    registry = mlflow.get_registry_uri()
    mlflow.set_tracking_uri(url)
    mlflow.set_registry_uri(url)
    try:
        mlflow.set_experiment("glassbox-registry-test")
        yield
    finally:
        mlflow.set_tracking_uri("")
        mlflow.set_registry_uri(registry)


def log_version(url: str, model: Any, example: pd.DataFrame, name: str) -> tuple[str, str]:
    """Log `model` with its input example (MLflow infers the signature) and register it;
    (version, run id)."""
    with tracking(url), mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model, name="model", input_example=example, registered_model_name=name
        )
    return str(info.registered_model_version), run.info.run_id


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server; two Iris versions that answer differently, v1 aliased champion."""
    store = tmp_path_factory.mktemp("mlflow")
    with mlflow_server(store, free_port()) as url:
        x, y = iris_frame()
        first = LogisticRegression(max_iter=500).fit(x, y)
        second = LogisticRegression(C=0.01, max_iter=500).fit(x, y)
        v1, run1 = log_version(url, first, x, MODEL)
        v2, run2 = log_version(url, second, x, MODEL)
        MlflowClient(url, url).set_registered_model_alias(MODEL, "champion", v1)
        yield {
            "url": url, "store": store, "x": x, "models": {v1: first, v2: second},
            "runs": {v1: run1, v2: run2}, "versions": (v1, v2),
        }  # fmt: skip


def flower(x: pd.DataFrame, i: int = 0) -> dict[str, float]:
    return {key: float(value) for key, value in x.iloc[i].items()}


def test_an_alias_is_served_and_its_promotion_swaps_on_sighup_without_a_failed_request(
    registry: dict[str, Any], tmp_path: Path
) -> None:
    v1, v2 = registry["versions"]
    x = registry["x"]
    signing, public = keygen()
    with running_service(
        tmp_path / "no-local-model",
        tmp_path / "logs",
        MODEL_URI=f"models:/{MODEL}@champion",
        MLFLOW_TRACKING_URI=registry["url"],
        MODEL_CACHE_DIR=str(tmp_path / "cache"),
        MODEL_SIGNING_KEY=signing,
        MODEL_PUBLIC_KEY=public,
    ) as service:
        served = requests.get(f"{service.url}/model", timeout=5).json()
        assert served["registry"] == {
            "uri": f"models:/{MODEL}@champion", "name": MODEL, "alias": "champion",
            "version": v1, "run_id": registry["runs"][v1],
        }  # fmt: skip
        assert (served["model_name"], served["model_version"]) == (MODEL, v1)
        assert served["inference_path"] == "onnxruntime"
        (loaded,) = service.wait_for_log("model_loaded")
        assert loaded["signature_verified"] is True
        # The API was built from the fetched model: its fields, bounds from the example.
        spec = requests.get(f"{service.url}/openapi.json", timeout=5).json()
        (body,) = [s for n, s in spec["components"]["schemas"].items() if n.endswith("Features")]
        assert list(body["properties"]) == list(x.columns)
        # Answers equal the registered estimator's own.
        for i in (0, 60, 120):
            answer = service.post("/predict", flower(x, i)).json()
            expected = registry["models"][v1].predict_proba(x.iloc[[i]])[0]
            assert [answer["probabilities"][str(c)] for c in range(3)] == pytest.approx(
                expected, abs=1e-9
            )
        info = sample(
            service.metrics(), "model_info", model_name=MODEL, model_version=v1,
            sklearn_version=sklearn.__version__, inference_path="onnxruntime",
            task="classification", run_id=registry["runs"][v1],
        )  # fmt: skip
        assert info == 1

        load = Load(service.url)  # posts VALID_FLOWER: these inputs' names too
        with load.running():
            load.wait_for(50)
            MlflowClient(registry["url"], registry["url"]).set_registered_model_alias(
                MODEL, "champion", v2
            )
            service.process.send_signal(signal.SIGHUP)
            (reloaded,) = service.wait_for_log("model_reloaded", timeout=60)
            load.wait_for(50)
        assert {status for status, _ in load.results} == {200}
        versions = [version for _, version in load.results]
        assert versions[0] == v1
        assert versions[-50:] == [v2] * 50
        assert (reloaded["previous"], reloaded["model_version"]) == (v1, v2)
        assert (
            requests.get(f"{service.url}/model", timeout=5).json()["registry"]["run_id"]
            == (registry["runs"][v2])
        )
        answer = service.post("/predict", flower(x, 60)).json()
        expected = registry["models"][v2].predict_proba(x.iloc[[60]])[0]
        assert [answer["probabilities"][str(c)] for c in range(3)] == pytest.approx(expected)


def test_a_registry_down_at_start_keeps_it_unready_and_down_later_keeps_the_model(
    registry: dict[str, Any], tmp_path: Path
) -> None:
    """Unready with one log line while nothing answers at MLFLOW_TRACKING_URI; ready once a
    server does; a poll follows the alias; the server gone again changes nothing served."""
    v1, v2 = registry["versions"]
    client = MlflowClient(registry["url"], registry["url"])
    client.set_registered_model_alias(MODEL, "staging", v1)
    port = free_port()
    with running_service(
        tmp_path / "no-local-model",
        tmp_path / "logs",
        wait_ready=False,
        MODEL_URI=f"models:/{MODEL}@staging",
        MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}",
        MODEL_CACHE_DIR=str(tmp_path / "cache"),
        MODEL_POLL_SECONDS="1",
    ) as service:
        service.wait_for_log("model_load_failed", timeout=30)  # after importing MLflow
        time.sleep(3)  # and a few retries, one second apart
        ready = requests.get(f"{service.url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["error"]["details"][0]["reason"] == "registry_unavailable"
        failures = [line for line in service.log_lines() if line["event"] == "model_load_failed"]
        assert len(failures) == 1, failures
        assert failures[0]["reason"] == "registry_unavailable"
        assert failures[0]["model_uri"] == f"models:/{MODEL}@staging"
        # Whole, not MLflow's 300-character fold cut mid-word (issue 34).
        assert failures[0]["message"] == (
            f"no answer from http://127.0.0.1:{port}: ConnectionRefusedError: Connection refused"
        )
        assert service.post("/predict", {}).status_code == 503

        # A second server over the same store comes up at that address.
        with mlflow_server(registry["store"], port):
            wait_until(lambda: requests.get(f"{service.url}/readyz", timeout=5).ok, 60)
            assert service.post("/predict", flower(registry["x"])).json()["model_version"] == v1
            client.set_registered_model_alias(MODEL, "staging", v2)  # promoted: the poll sees it
            service.wait_for_log("model_reloaded", timeout=60)
            assert service.post("/predict", flower(registry["x"])).json()["model_version"] == v2

        # Gone again: one line, and the model goes on serving, also across a SIGHUP.
        (gone,) = service.wait_for_log("model_registry_unreachable", timeout=30)
        assert gone["serving"] == v2
        service.process.send_signal(signal.SIGHUP)
        (failed,) = service.wait_for_log("model_reload_failed", timeout=60)
        assert (failed["reason"], failed["serving"]) == ("registry_unavailable", v2)
        time.sleep(2)
        unreachable = [e for e in service.log_lines() if e["event"] == "model_registry_unreachable"]
        assert len(unreachable) == 1
        assert requests.get(f"{service.url}/readyz", timeout=5).status_code == 200
        assert service.post("/predict", flower(registry["x"])).json()["model_version"] == v2


def wait_until(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_a_pipeline_with_categories_gets_its_contract_from_the_signature_and_example(
    registry: dict[str, Any], tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 60, 300),
            "monthly_fee": rng.uniform(10, 90, 300).round(2),
            "paperless": rng.integers(0, 2, 300).astype(bool),
            "plan": rng.choice(["basic", "plus", "pro"], 300),
        }
    )
    churned = (frame["monthly_fee"] / 90 + (frame["plan"] == "basic") > 0.9).astype(int)
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("numbers", StandardScaler(), ["tenure", "monthly_fee", "paperless"]),
                ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
            ]
        ),
        LogisticRegression(max_iter=500),
    ).fit(frame, churned)
    version, run_id = log_version(registry["url"], pipeline, frame, "churn-mlflow")
    source = MlflowSource(f"models:/churn-mlflow/{version}", registry["url"], tmp_path)
    found = source.resolve()
    assert (found.version, found.run_id) == (version, run_id)
    path = source.fetch(found)
    artifact = load_artifact(path)
    kinds = {item.name: item.kind for item in artifact.contract.inputs}
    assert kinds == {
        "tenure": "integer", "monthly_fee": "number", "paperless": "boolean", "plan": "category",
    }  # fmt: skip
    plan = next(item for item in artifact.contract.inputs if item.name == "plan")
    assert plan.categories == ("basic", "plus", "pro")
    assert artifact.metadata["onnx_export"] == "exported"
    assert artifact.metadata["registry"]["run_id"] == run_id
    assert source.fetch(found) == path  # cached: converted once
    latest = MlflowSource("models:/churn-mlflow/latest", registry["url"], tmp_path)
    assert latest.resolve().version == version


def test_a_model_logged_without_an_input_example_is_refused_with_the_reason(
    registry: dict[str, Any], tmp_path: Path
) -> None:
    x, y = iris_frame()
    with tracking(registry["url"]), mlflow.start_run():
        info = mlflow.sklearn.log_model(
            LogisticRegression(max_iter=500).fit(x, y),
            name="model",
            registered_model_name="no-example",
        )
    source = MlflowSource(
        f"models:/no-example/{info.registered_model_version}", registry["url"], tmp_path
    )
    with pytest.raises(ModelLoadError) as refused:
        source.fetch(source.resolve())
    assert refused.value.reason == "mlflow_model_unsupported"
    assert "input example" in refused.value.message
    assert not list((tmp_path / "no-example").glob("[!.]*"))  # nothing left to serve
    missing = MlflowSource("models:/no-example@nobody", registry["url"], tmp_path)
    with pytest.raises(ModelLoadError) as not_found:
        missing.resolve()
    assert not_found.value.reason == "registry_model_not_found"


def test_credentials_never_leave_the_tracking_uri() -> None:
    assert without_credentials("https://me:secret@mlflow.example:5000/x") == (
        "https://mlflow.example:5000/x"
    )
    assert without_credentials("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
