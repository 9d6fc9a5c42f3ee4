"""Models nobody tuned for, trained by the real train.py and served by the real service.

For each: answers over HTTP equal the estimator's own on the held-out rows, the OpenAPI
document names that model's fields, bad input is a JSON 4xx naming the field, and the
books balance (one access line and one metrics sample per request, exemplars, drift counts
per input)."""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import joblib
import numpy as np
import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from sklearn.model_selection import train_test_split

from app.ml.building.dataset import load_dataset
from app.ml.building.packaging import model_input
from app.ml.contract import Contract
from scripts.example_data import Written, bundled, churn
from tests.support.service import Service, running_service, sample, train

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
DATASETS = ("wine", "breast_cancer", "diabetes", "churn")
EXEMPLAR_INTERVAL_S = 0.15


@dataclass
class Served:
    written: Written
    service: Service
    contract: Contract
    held_out: np.ndarray
    expected: np.ndarray  # the estimator's own predict_proba / predict on held_out
    metadata: dict[str, Any]


@pytest.fixture(scope="module", params=DATASETS)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp(request.param)
    written = churn(directory) if request.param == "churn" else bundled(request.param, directory)
    result = train(directory / "artifacts", "--data", str(written.path), "--target", written.target)
    assert result.returncode == 0, result.stdout + result.stderr
    model_dir = directory / "artifacts" / "latest"
    metadata = json.loads((model_dir / "metadata.json").read_text())
    data = load_dataset(written.path, written.target)
    classify = data.contract.task == "classification"
    _, held_out, _, _ = train_test_split(
        data.features, data.target, test_size=0.2, random_state=42,
        stratify=data.target if classify else None,
    )  # fmt: skip
    model = joblib.load(model_dir / "model.joblib")
    features = model_input(data.contract, held_out, not data.contract.numeric)
    expected = model.predict_proba(features) if classify else model.predict(features)
    with running_service(model_dir, directory / "logs") as service:
        yield Served(written, service, data.contract, held_out, expected, metadata)


def body(contract: Contract, row: np.ndarray) -> dict[str, Any]:
    return contract.example_of(row.tolist())


def test_the_contract_is_inferred_from_the_csv(served: Served) -> None:
    kinds = {item.name: item.kind for item in served.contract.inputs}
    assert list(kinds) == served.written.inputs
    assert served.contract.task == served.written.task
    if served.written.path.stem == "churn":
        assert kinds == {
            "plan": "category", "region": "category", "tenure_months": "integer",
            "support_calls": "integer", "autopay": "boolean", "monthly_fee": "number",
        }  # fmt: skip
    else:
        assert set(kinds.values()) == {"number"}


def test_answers_over_http_equal_the_estimators_own(served: Served) -> None:
    rows = [body(served.contract, row) for row in served.held_out]
    response = served.service.post("/predict/batch", {"instances": rows})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(rows)
    # Linear pipelines, numeric or with one-hot categories: ONNX Runtime serves them all.
    assert served.metadata["onnx_export"] == "exported"
    tolerance = 1e-9
    if served.contract.task == "regression":
        got = np.array([p["prediction"] for p in predictions])
        np.testing.assert_allclose(got, served.expected, rtol=tolerance, atol=tolerance)
    else:
        names = list(served.contract.class_names)
        got = np.array([[p["probabilities"][name] for name in names] for p in predictions])
        np.testing.assert_allclose(got, served.expected, rtol=0, atol=tolerance)
        assert [p["prediction"] for p in predictions] == served.expected.argmax(axis=1).tolist()
    single = served.service.post("/predict", rows[0]).json()
    assert single["prediction"] == predictions[0]["prediction"]
    model = requests.get(f"{served.service.url}/model", timeout=5).json()
    assert model["task"] == served.contract.task
    assert model["inference_path"] == "onnxruntime"


def test_openapi_names_this_models_fields(served: Served) -> None:
    spec = requests.get(f"{served.service.url}/openapi.json", timeout=5).json()
    ref = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    name = ref["schema"]["$ref"].rsplit("/", 1)[-1]
    schema = spec["components"]["schemas"][name]
    assert list(schema["properties"]) == served.written.inputs
    assert schema["required"] == served.written.inputs
    assert schema["examples"] == [served.metadata["example"]]
    response = spec["paths"]["/predict"]["post"]["responses"]["200"]["content"]
    answer = response["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    regression = served.contract.task == "regression"
    assert answer == ("RegressionResponse" if regression else "PredictResponse")


def test_bad_input_is_a_json_4xx_naming_the_field(served: Served) -> None:
    good = body(served.contract, served.held_out[0])
    first, last = served.written.inputs[0], served.written.inputs[-1]
    wrong_type = {**good, first: 5 if isinstance(good[first], str) else "five"}
    missing = {key: value for key, value in good.items() if key != last}
    for bad, field in ((wrong_type, first), (missing, last), ({**good, "unknown": 1}, "unknown")):
        response = served.service.post("/predict", bad)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "validation_error"
        assert field in [detail["field"] for detail in error["details"]]
    batch = served.service.post("/predict/batch", {"instances": [good, wrong_type]})
    assert batch.status_code == 422
    assert batch.json()["error"]["details"][0]["field"] == f"instances[1].{first}"


def test_every_request_has_one_access_line_one_sample_an_exemplar_and_drift_counts(
    served: Served,
) -> None:
    service = served.service
    before = service.metrics()
    good = body(served.contract, served.held_out[1])
    ids = [f"any-model-{served.written.path.stem}-{n}" for n in range(5)]
    for request_id in ids[:4]:
        time.sleep(EXEMPLAR_INTERVAL_S)  # one exemplar per bucket per 100 ms: the newest wins
        assert service.post("/predict", good, headers={"X-Request-ID": request_id}).ok
    bad = {**good, served.written.inputs[0]: None}
    assert service.post("/predict", bad, headers={"X-Request-ID": ids[4]}).status_code == 422
    for request_id in ids:
        access = [line for line in service.lines_for(request_id) if line["event"] == "http_request"]
        assert len(access) == 1, request_id
    after = service.metrics()
    labels = {"handler": "/predict", "method": "POST"}
    ok = sample(after, "http_requests_total", status="200", **labels) - sample(
        before, "http_requests_total", status="200", **labels
    )
    refused = sample(after, "http_requests_total", status="422", **labels) - sample(
        before, "http_requests_total", status="422", **labels
    )
    assert (ok, refused) == (4, 1)
    name, version = served.metadata["model_name"], served.metadata["model_version"]
    for feature in served.written.inputs:  # every input of the 4 predicted rows is counted
        counted = sum(
            value - before.get(key, 0.0)
            for key, value in after.items()
            if key[0] == "model_feature_values_total"
            and dict(key[1]).get("feature") == feature
            and dict(key[1]).get("model_version") == version
        )
        assert counted == 4, feature
    info = {k: v for (n, k), v in after.items() if n == "model_info" and v == 1}
    assert any(
        dict(k)["task"] == served.contract.task and dict(k)["model_name"] == name for k in info
    )
    text = requests.get(f"{service.url}/metrics", headers={"Accept": OPENMETRICS}, timeout=5).text
    exemplar_ids = {
        s.exemplar.labels["request_id"]
        for family in text_string_to_metric_families(text)  # type: ignore[no-untyped-call]
        for s in family.samples
        if s.exemplar is not None and family.name == "model_inference_duration_seconds"
    }
    assert ids[3] in exemplar_ids


def test_the_task_decides_what_the_model_metrics_record(served: Served) -> None:
    metrics = served.service.metrics()
    version = served.metadata["model_version"]
    values = sample(
        metrics,
        "model_prediction_value_count",
        model_name=served.metadata["model_name"],
        model_version=version,
    )
    confidences = sample(
        metrics,
        "model_prediction_confidence_count",
        model_name=served.metadata["model_name"],
        model_version=version,
    )
    if served.contract.task == "regression":
        assert values > 0
        assert confidences == 0
    else:
        assert confidences > 0
        assert values == 0
