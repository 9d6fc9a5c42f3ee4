"""X-Request-ID: kept when valid, generated when absent, replaced (and not echoed) when unsafe."""

import uuid

import pytest
import requests

from tests.support.service import VALID_FLOWER, Service


def test_valid_incoming_id_is_kept_everywhere(service: Service) -> None:
    request_id = "checkout-42.retry:1_A"
    response = service.post("/predict", VALID_FLOWER, headers={"X-Request-ID": request_id})

    assert response.headers["x-request-id"] == request_id
    assert response.json()["request_id"] == request_id
    assert [line["event"] for line in service.lines_for(request_id)] == ["http_request"]


def test_missing_id_is_generated_as_uuid4_hex(service: Service) -> None:
    response = requests.get(f"{service.url}/healthz", timeout=5)

    generated = response.headers["x-request-id"]
    assert uuid.UUID(hex=generated).version == 4
    assert generated == uuid.UUID(hex=generated).hex


@pytest.mark.parametrize(
    "unsafe",
    [
        'x", "level": "critical',
        "a" * 129,
        "spaces are not allowed",
        "ünïcode",
        "semi;colon",
        "",
    ],
    ids=["json-injection", "too-long", "spaces", "non-ascii", "semicolon", "empty"],
)
def test_unsafe_id_is_replaced_and_never_echoed(service: Service, unsafe: str) -> None:
    response = requests.get(
        f"{service.url}/healthz", headers={"X-Request-ID": unsafe.encode()}, timeout=5
    )

    replacement = response.headers["x-request-id"]
    assert replacement != unsafe
    assert uuid.UUID(hex=replacement).version == 4
    lines = service.lines_for(replacement)
    assert [line["event"] for line in lines] == ["request_id_rejected", "http_request"]
    assert lines[0]["received_length"] == len(unsafe.encode())
    if unsafe:
        assert not any(unsafe in raw for raw in service.raw_lines())


def test_max_length_id_is_accepted(service: Service) -> None:
    request_id = "a" * 128
    response = requests.get(
        f"{service.url}/healthz", headers={"X-Request-ID": request_id}, timeout=5
    )
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nope", 404), ("GET", "/predict", 405), ("POST", "/predict", 415)],
)
def test_error_responses_carry_the_id(
    service: Service, method: str, path: str, status: int
) -> None:
    response = requests.request(
        method, f"{service.url}{path}", headers={"X-Request-ID": "err-1"}, timeout=5
    )
    assert response.status_code == status
    assert response.headers["x-request-id"] == "err-1"
    assert response.json()["request_id"] == "err-1"
