"""The direct dispatch (app/api/dispatch.py) answers as FastAPI's own path would.

Two apps from the same settings: one as served, one whose direct routes are emptied so every
request takes Starlette's middleware stack and router. Every request below -- good bodies,
each kind of refusal, method and path variants that must not match directly -- gets the
same status, headers and body from both (the request id aside, which differs per request).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app
from tests.support.service import VALID_FLOWER

INFER = "/v2/models/iris-classifier/infer"
ROW = list(VALID_FLOWER.values())
TENSOR = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [ROW]}]}
JSON = {"content-type": "application/json"}

REQUESTS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/predict", {"json": VALID_FLOWER}),
    ("POST", "/predict", {"json": {**VALID_FLOWER, "sepal_length": -1}}),
    ("POST", "/predict", {"json": {**VALID_FLOWER, "extra": 1}}),
    ("POST", "/predict", {"content": b"{", "headers": JSON}),
    ("POST", "/predict", {"content": b'{"a": 1, "a": 2}', "headers": JSON}),
    ("POST", "/predict", {"content": b"\xff\xfe{}", "headers": JSON}),
    ("POST", "/predict", {"content": b"", "headers": JSON}),
    ("POST", "/predict", {"content": b"sepal_length=5", "headers": {"content-type": "text/plain"}}),
    (
        "POST",
        "/predict",
        {"content": b"[1,2]", "headers": {"content-type": "application/vnd+json; charset=utf-8"}},
    ),
    ("POST", "/predict/batch", {"json": {"instances": [VALID_FLOWER] * 3}}),
    ("POST", "/predict/batch", {"json": {"instances": [VALID_FLOWER] * 4}}),
    (
        "POST",
        "/predict/batch",
        {"content": b'{"instances": [' + b"1," * 400 + b"1]}", "headers": JSON},
    ),
    ("POST", INFER, {"json": TENSOR}),
    ("POST", INFER, {"json": {"inputs": []}}),
    ("POST", "/v2/models/another-model/infer", {"json": TENSOR}),
    ("GET", "/v2/models/iris-classifier", {}),
    ("POST", "/feedback", {"json": {"request_id": "never-seen", "label": "setosa"}}),
    ("POST", "/feedback", {"json": {"request_id": "never-seen", "label": "no-such-class"}}),
    ("GET", "/predict", {}),
    ("DELETE", "/predict", {}),
    ("POST", "/predict/", {"json": VALID_FLOWER}),
    ("POST", "/predict/batch/extra", {"json": VALID_FLOWER}),
    ("GET", "/healthz", {}),
]


@pytest.fixture(scope="module")
def clients(model_dir: Path) -> Iterator[tuple[TestClient, TestClient]]:
    settings = Settings(MODEL_DIR=model_dir, MAX_BATCH_SIZE=3, DRAIN_SECONDS=0)
    direct = create_app(settings)
    # Nothing dispatched directly: FastAPI's path for all, the fast path's slow twin.
    framework = create_app(settings.model_copy(update={"FAST_PATHS_OFF": "direct-dispatch"}))
    with TestClient(direct) as a, TestClient(framework) as b:
        yield a, b


def _comparable(response: Any) -> tuple[int, dict[str, str], Any]:
    headers = {
        k: v for k, v in response.headers.items() if k not in ("x-request-id", "content-length")
    }
    try:
        body = response.json()
    except ValueError:
        return response.status_code, headers, response.text
    if isinstance(body, dict):
        body.pop("request_id", None)
        if body.get("id") == response.headers["x-request-id"]:  # V2's id is the request id
            body.pop("id")
    return response.status_code, headers, body


@pytest.mark.parametrize(
    ("method", "path", "send"),
    REQUESTS,
    ids=[f"{m} {p} {i}" for i, (m, p, _) in enumerate(REQUESTS)],
)
def test_direct_and_framework_paths_answer_alike(
    clients: tuple[TestClient, TestClient], method: str, path: str, send: dict[str, Any]
) -> None:
    direct, framework = clients
    answered = direct.request(method, path, follow_redirects=False, **send)
    expected = framework.request(method, path, follow_redirects=False, **send)
    assert _comparable(answered) == _comparable(expected)
    assert answered.headers["x-request-id"]  # the edge is around both paths


def test_the_prediction_routes_take_the_direct_path(clients: tuple[TestClient, TestClient]) -> None:
    """Without this the comparison above could pass with both apps on FastAPI's path."""
    direct, framework = clients
    app = direct.app
    assert isinstance(app, type(framework.app))
    scope = {"type": "http", "method": "POST", "path": "/predict", "root_path": "", "headers": []}
    matched = app.direct_routes.match(scope)  # type: ignore[attr-defined]
    assert matched is not None
    assert matched[0][0].path == "/predict"
    infer = {**scope, "path": INFER}
    matched = app.direct_routes.match(infer)  # type: ignore[attr-defined]
    assert matched is not None
    assert matched[1] == {"name": "iris-classifier"}
    for method, path in (("GET", "/predict"), ("POST", "/predict/"), ("GET", "/healthz")):
        assert app.direct_routes.match({**scope, "method": method, "path": path}) is None  # type: ignore[attr-defined]
    assert framework.app.direct_dispatch is False  # type: ignore[attr-defined]
