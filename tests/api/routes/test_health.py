"""Probes, model metadata and API docs of a healthy service."""

import requests

from tests.service import Service


def test_healthz_is_ok(service: Service) -> None:
    response = requests.get(f"{service.url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_the_loaded_model(service: Service) -> None:
    response = requests.get(f"{service.url}/readyz", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["model_name"] == "iris-classifier"
    assert body["model_version"]


def test_model_returns_the_training_metadata(service: Service, model_dir: object) -> None:
    import json
    from pathlib import Path

    assert isinstance(model_dir, Path)
    response = requests.get(f"{service.url}/model", timeout=5)
    assert response.status_code == 200
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata.pop("reference_inputs")  # training rows stay on the server
    assert response.json() == metadata


def test_openapi_docs_describe_the_endpoints(service: Service) -> None:
    assert requests.get(f"{service.url}/docs", timeout=5).status_code == 200
    spec = requests.get(f"{service.url}/openapi.json", timeout=5).json()
    assert {"/predict", "/predict/batch", "/healthz", "/readyz", "/model", "/metrics"} <= set(
        spec["paths"]
    )
    predict = spec["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(predict["responses"])
