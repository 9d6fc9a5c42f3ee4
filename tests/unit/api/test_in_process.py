"""The app in-process (Starlette's TestClient, lifespan included): the API contract in
about a second, for `make test-fast`. The same behaviours run against the real process,
socket and workers in tests/api/routes/; these catch a broken contract before those start."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.support.service import VALID_FLOWER


@pytest.fixture(scope="module")
def client(model_dir: Path) -> Iterator[TestClient]:
    settings = Settings(MODEL_DIR=model_dir, MAX_BATCH_SIZE=3, DRAIN_SECONDS=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_ready_and_predicts_with_its_request_id(client: TestClient) -> None:
    assert client.get("/readyz").status_code == 200
    response = client.post("/predict", json=VALID_FLOWER, headers={"X-Request-ID": "fast-1"})
    assert response.status_code == 200
    body = response.json()
    assert (body["prediction_label"], body["request_id"]) == ("setosa", "fast-1")
    assert response.headers["x-request-id"] == "fast-1"


def test_bad_input_is_a_json_4xx_with_the_request_id(client: TestClient) -> None:
    response = client.post("/predict", json={"sepal_length": -1})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert (
        client.post(
            "/predict", content=b"{", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )


def test_settings_passed_to_create_app_are_the_ones_used(client: TestClient) -> None:
    """MAX_BATCH_SIZE=3 here, not the environment's 1000 (create_app(settings) honoured)."""
    assert client.post("/predict/batch", json={"instances": [VALID_FLOWER] * 3}).status_code == 200
    response = client.post("/predict/batch", json={"instances": [VALID_FLOWER] * 4})
    assert response.status_code == 422


def test_an_invalid_request_id_is_replaced(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "no spaces allowed"})
    assert response.headers["x-request-id"] != "no spaces allowed"
    assert len(response.headers["x-request-id"]) == 32


def test_out_of_range_is_served_by_default_and_refused_when_set(model_dir: Path) -> None:
    """OUT_OF_RANGE: accept (default) serves a value beyond the training range, refuse is a
    422 naming the field -- against the serving model's range (sepal_length max 7.9)."""
    beyond = {**VALID_FLOWER, "sepal_length": 7.95}
    refusing = Settings(MODEL_DIR=model_dir, DRAIN_SECONDS=0, OUT_OF_RANGE="refuse")
    with TestClient(create_app(refusing)) as strict:
        response = strict.post("/predict", json=beyond)
        assert response.status_code == 422
        (detail,) = response.json()["error"]["details"]
        assert (detail["field"], detail["type"]) == ("sepal_length", "out_of_training_range")
        batch = strict.post("/predict/batch", json={"instances": [VALID_FLOWER, beyond]})
        assert batch.json()["error"]["details"][0]["field"] == "instances[1].sepal_length"
        assert strict.post("/predict", json=VALID_FLOWER).status_code == 200


def test_the_default_accepts_out_of_range(client: TestClient) -> None:
    assert client.post("/predict", json={**VALID_FLOWER, "sepal_length": 7.95}).status_code == 200


def test_the_iris_request_body_keeps_its_name_and_bounds(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schema = spec["components"]["schemas"]["IrisFeatures"]
    assert list(schema["properties"]) == list(VALID_FLOWER)
    for field in schema["properties"].values():
        assert (field["exclusiveMinimum"], field["maximum"]) == (0, 100)
