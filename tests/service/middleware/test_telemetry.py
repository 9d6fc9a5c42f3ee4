"""Exactly one `http_request` line per request, with the fields Loki queries rely on."""

from typing import Any

import requests

from tests.support.service import VALID_FLOWER, Service

REQUIRED = {"method", "path", "status", "duration_ms", "client", "user_agent", "request_id"}


def test_every_request_has_exactly_one_access_line(service: Service) -> None:
    calls: list[tuple[str, str, Any, int]] = [
        ("POST", "/predict", VALID_FLOWER, 200),
        ("POST", "/predict", {"sepal_length": -1}, 422),
        ("POST", "/predict/batch", {"instances": [VALID_FLOWER] * 3}, 200),
        ("GET", "/healthz", None, 200),
        ("GET", "/readyz", None, 200),
        ("GET", "/model", None, 200),
        ("GET", "/metrics", None, 200),
        ("GET", "/scanner/../../etc/passwd", None, 404),
        ("DELETE", "/predict", None, 405),
    ]
    for number, (method, path, body, status) in enumerate(calls):
        request_id = f"access-{number}"
        response = requests.request(
            method,
            f"{service.url}{path}",
            json=body,
            headers={"X-Request-ID": request_id, "User-Agent": "glassbox-tests/1"},
            timeout=5,
        )
        assert response.status_code == status

    for number, (method, _, _, status) in enumerate(calls):
        access = [
            line
            for line in service.lines_for(f"access-{number}")
            if line["event"] == "http_request"
        ]
        assert len(access) == 1, access
        assert access[0].keys() >= REQUIRED
        assert access[0]["method"] == method
        assert access[0]["status"] == status
        assert access[0]["user_agent"] == "glassbox-tests/1"
        assert access[0]["duration_ms"] >= 0
        assert access[0]["level"] == ("info" if status < 400 else "warning")


def test_access_line_uses_route_template_and_prediction_fields(service: Service) -> None:
    service.post("/predict", VALID_FLOWER, headers={"X-Request-ID": "tmpl-1"})
    service.post(
        "/predict/batch",
        {"instances": [VALID_FLOWER, VALID_FLOWER]},
        headers={"X-Request-ID": "tmpl-2"},
    )
    requests.get(f"{service.url}/no/such/page", headers={"X-Request-ID": "tmpl-3"}, timeout=5)

    (single,) = service.lines_for("tmpl-1")
    assert single["path"] == "/predict"
    assert single["prediction_label"] == "setosa"
    assert single["model_version"]
    (batch,) = service.lines_for("tmpl-2")
    assert batch["path"] == "/predict/batch"
    assert batch["prediction_labels"] == ["setosa", "setosa"]
    assert batch["batch_size"] == 2
    (unmatched,) = service.lines_for("tmpl-3")
    assert unmatched["path"] == "none"  # the same value the metrics' handler label uses
    assert unmatched["url_path"] == "/no/such/page"
    assert unmatched["error_code"] == "not_found"


def test_uvicorn_access_log_is_off(service: Service) -> None:
    requests.get(f"{service.url}/healthz", headers={"X-Request-ID": "uvicorn-off"}, timeout=5)
    assert [line["logger"] for line in service.lines_for("uvicorn-off")] == ["glassbox.access"]
    assert not [line for line in service.log_lines() if line["logger"] == "uvicorn.access"]
