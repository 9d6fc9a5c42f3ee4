"""POST /predict and /predict/batch against the real service: answers and every error class."""

import json
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.service import VALID_FLOWER, Service

SETOSA = VALID_FLOWER
VERSICOLOR = {"sepal_length": 5.9, "sepal_width": 2.8, "petal_length": 4.3, "petal_width": 1.3}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.8, "petal_width": 2.3}


def assert_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_predict_returns_class_probabilities_version_and_request_id(service: Service) -> None:
    response = service.post("/predict", SETOSA)

    assert response.status_code == 200
    body = response.json()
    assert body["prediction"] == 0
    assert body["prediction_label"] == "setosa"
    assert set(body["probabilities"]) == {"setosa", "versicolor", "virginica"}
    assert sum(body["probabilities"].values()) == pytest.approx(1.0)
    assert max(body["probabilities"], key=body["probabilities"].get) == "setosa"
    assert (
        body["model_version"]
        == requests.get(f"{service.url}/model", timeout=5).json()["model_version"]
    )
    assert body["request_id"] == response.headers["x-request-id"]


def test_batch_predicts_every_instance_in_order(service: Service) -> None:
    response = service.post("/predict/batch", {"instances": [VIRGINICA, SETOSA, VERSICOLOR]})

    assert response.status_code == 200
    body = response.json()
    assert [p["prediction_label"] for p in body["predictions"]] == [
        "virginica",
        "setosa",
        "versicolor",
    ]
    assert [p["prediction"] for p in body["predictions"]] == [2, 0, 1]
    assert body["request_id"] == response.headers["x-request-id"]
    single = service.post("/predict", VIRGINICA).json()
    assert body["predictions"][0]["probabilities"] == pytest.approx(single["probabilities"])


def test_batch_accepts_max_batch_size_and_rejects_one_more(service: Service) -> None:
    assert service.post("/predict/batch", {"instances": [SETOSA] * 1000}).status_code == 200

    body = assert_error(
        service.post("/predict/batch", {"instances": [SETOSA] * 1001}), 422, "validation_error"
    )
    assert body["error"]["details"][0]["field"] == "instances"


@pytest.mark.parametrize(
    ("payload", "bad_fields"),
    [
        ({**SETOSA, "sepal_length": "5.1"}, {"sepal_length"}),
        ({**SETOSA, "sepal_width": True}, {"sepal_width"}),
        ({**SETOSA, "petal_length": 0}, {"petal_length"}),
        ({**SETOSA, "petal_length": -1.5}, {"petal_length"}),
        ({**SETOSA, "petal_width": 100.01}, {"petal_width"}),
        ({**SETOSA, "petal_width": None}, {"petal_width"}),
        ({k: v for k, v in SETOSA.items() if k != "sepal_width"}, {"sepal_width"}),
        ({**SETOSA, "colour": "blue"}, {"colour"}),
        ({"sepal_length": [], "sepal_width": {}}, {
            "sepal_length", "sepal_width", "petal_length", "petal_width",
        }),
    ],
)  # fmt: skip
def test_invalid_fields_are_422_naming_each_field(
    service: Service, payload: dict[str, Any], bad_fields: set[str]
) -> None:
    body = assert_error(service.post("/predict", payload), 422, "validation_error")

    assert {detail["field"] for detail in body["error"]["details"]} == bad_fields
    for field in bad_fields:
        assert field in body["error"]["message"]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_422(service: Service, literal: str) -> None:
    raw = json.dumps(SETOSA).replace("5.1", literal)
    response = requests.post(
        f"{service.url}/predict",
        data=raw,
        headers={"content-type": "application/json"},
        timeout=5,
    )
    body = assert_error(response, 422, "validation_error")
    assert body["error"]["details"][0]["field"] == "sepal_length"


def test_batch_errors_name_the_instance_index(service: Service) -> None:
    bad = {**SETOSA, "petal_width": -1}
    body = assert_error(
        service.post("/predict/batch", {"instances": [SETOSA, bad]}), 422, "validation_error"
    )
    assert [d["field"] for d in body["error"]["details"]] == ["instances[1].petal_width"]


@pytest.mark.parametrize("instances", [[], None, "x", [[1, 2, 3, 4]]])
def test_malformed_batches_are_422(service: Service, instances: Any) -> None:
    assert_error(service.post("/predict/batch", {"instances": instances}), 422, "validation_error")


@pytest.mark.parametrize(
    "raw",
    [b'{"sepal_length": 5', b"not json", b"\xff\xfe{}", b"[" * 2_000 + b"]" * 2_000],
    ids=["truncated", "text", "not-utf8", "nested-2k-deep"],  # 2k fits /predict's 4 KiB
)
def test_malformed_json_is_400(service: Service, raw: bytes) -> None:
    response = requests.post(
        f"{service.url}/predict",
        data=raw,
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert_error(response, 400, "malformed_json")


STRICT_JSON_CASES = {
    "utf-16": json.dumps(SETOSA).encode("utf-16"),
    "utf-16-le-no-bom": json.dumps(SETOSA).encode("utf-16-le"),
    "utf-32": json.dumps(SETOSA).encode("utf-32"),
    "utf-8-bom": b"\xef\xbb\xbf" + json.dumps(SETOSA).encode(),
    "duplicate-key": json.dumps(SETOSA)[:-1].encode() + b', "petal_width": 2.5}',
    "duplicate-key-in-batch": b'{"instances": [], "instances": ['
    + json.dumps(SETOSA).encode()
    + b"]}",
}


@pytest.mark.parametrize("raw", STRICT_JSON_CASES.values(), ids=STRICT_JSON_CASES.keys())
def test_json_is_strict_utf8_without_repeated_keys(service: Service, raw: bytes) -> None:
    path = "/predict/batch" if b"instances" in raw else "/predict"
    response = requests.post(
        f"{service.url}{path}", data=raw, headers={"content-type": "application/json"}, timeout=5
    )
    assert_error(response, 400, "malformed_json")


def test_an_over_size_batch_is_refused_before_parsing(service: Service) -> None:
    """11,500 rows: 413 from Content-Length alone, whatever the rows hold; the connection
    stays usable (the body was drained, so no reset takes the answer with it)."""
    with requests.Session() as session:
        response = session.post(
            f"{service.url}/predict/batch", json={"instances": [SETOSA] * 11_500}, timeout=10
        )
        body = assert_error(response, 413, "payload_too_large")
        assert "limit" in body["error"]["message"]
        assert session.post(f"{service.url}/predict", json=SETOSA, timeout=10).ok


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_non_json_content_type_is_415(service: Service, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = requests.post(
        f"{service.url}/predict", data=json.dumps(SETOSA), headers=headers, timeout=5
    )
    assert_error(response, 415, "unsupported_media_type")


def test_declared_oversize_body_is_413_before_it_is_read(service: Service) -> None:
    body = b"x" * (1_048_576 + 1)
    response = requests.post(
        f"{service.url}/predict",
        data=body,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert_error(response, 413, "payload_too_large")


def test_chunked_oversize_body_is_413(service: Service) -> None:
    def chunks() -> Any:
        for _ in range(40):
            yield b" " * 65_536  # 2.5 MiB in total, no Content-Length

    response = requests.post(
        f"{service.url}/predict",
        data=chunks(),
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert_error(response, 413, "payload_too_large")


def test_unknown_route_is_404_json(service: Service) -> None:
    assert_error(requests.get(f"{service.url}/wp-admin.php", timeout=5), 404, "not_found")


def test_wrong_method_is_405_with_allow_header(service: Service) -> None:
    response = requests.get(f"{service.url}/predict", timeout=5)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries({k: json_values for k in SETOSA}),
        st.fixed_dictionaries({"instances": st.lists(json_values, max_size=3)}),
    ),
    path=st.sampled_from(["/predict", "/predict/batch"]),
)
def test_no_json_body_produces_a_server_error(service: Service, body: Any, path: str) -> None:
    response = requests.post(
        f"{service.url}{path}",
        data=json.dumps(body),
        headers={"content-type": "application/json"},
        timeout=5,
    )
    assert response.status_code in {200, 400, 422}, response.text
    assert "x-request-id" in response.headers
