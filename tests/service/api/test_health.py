"""Probes, model metadata and API docs of a healthy service."""

from pathlib import Path

import requests

from tests.support.service import Service, running_service, sample


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


def test_model_metadata_is_what_a_client_needs(service: Service, model_dir: object) -> None:
    import json
    from pathlib import Path

    assert isinstance(model_dir, Path)
    response = requests.get(f"{service.url}/model", timeout=5)
    assert response.status_code == 200
    metadata = json.loads((model_dir / "metadata.json").read_text())
    public = response.json()
    for key in ("model_name", "model_version", "feature_names", "class_names", "class_priors"):
        assert public[key] == metadata[key]
    assert public["metrics"]["accuracy"] == metadata["metrics"]["accuracy"]
    assert public["inference_path"] == "onnxruntime"
    # What helps only someone probing the service stays on the server.
    for private in ("training_data", "versions", "model_sha256", "reference_inputs", "params"):
        assert private not in public


def test_docs_are_served_from_the_image_not_a_cdn(service: Service) -> None:
    page = requests.get(f"{service.url}/docs", timeout=5)
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    assert "https://" not in page.text.replace("https://fastapi.tiangolo.com", "")
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        served = requests.get(f"{service.url}/docs/static/{asset}", timeout=5)
        assert served.status_code == 200
        assert kind in served.headers["content-type"]
        assert f"/docs/static/{asset}" in page.text
    # Counted under their route, not as "no route" (handler="none").
    headers = {"X-Request-ID": "docs-asset-1"}
    assert requests.get(f"{service.url}/docs/static/favicon-32x32.png", headers=headers).ok
    (access,) = service.lines_for("docs-asset-1")
    assert access["path"] == "/docs/static"
    counted = sample(
        service.metrics(), "http_requests_total", handler="/docs/static", method="GET", status="200"
    )
    assert counted >= 3


def test_docs_can_be_turned_off(model_dir: Path, tmp_path: Path) -> None:
    with running_service(model_dir, tmp_path, DOCS_ENABLED="false") as service:
        for path in ("/docs", "/openapi.json", "/docs/static/swagger-ui.css"):
            assert requests.get(f"{service.url}{path}", timeout=5).status_code == 404


def test_openapi_docs_describe_the_endpoints(service: Service) -> None:
    assert requests.get(f"{service.url}/docs", timeout=5).status_code == 200
    spec = requests.get(f"{service.url}/openapi.json", timeout=5).json()
    assert {"/predict", "/predict/batch", "/healthz", "/readyz", "/model", "/metrics"} <= set(
        spec["paths"]
    )
    predict = spec["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "415", "422", "503"} <= set(predict["responses"])
    # Every schema by its own name: two models of one name got their module paths
    # (app__api__oip__ErrorResponse) in the document clients generate code from.
    assert [name for name in spec["components"]["schemas"] if "__" in name] == []
