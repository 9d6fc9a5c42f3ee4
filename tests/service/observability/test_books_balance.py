"""Under concurrent mixed traffic, every request leaves exactly one access line and one
http_requests_total increment: with one worker and with two."""

import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.service import VALID_FLOWER, running_service

# (method, path, body or raw bytes, content type): good, invalid, not found, wrong method,
# not JSON, over-size, malformed.
MIX: list[tuple[str, str, object, str]] = [
    ("POST", "/predict", VALID_FLOWER, "application/json"),
    ("POST", "/predict/batch", {"instances": [VALID_FLOWER] * 3}, "application/json"),
    ("POST", "/predict", {"sepal_length": -1}, "application/json"),
    ("GET", "/no-such-route", None, ""),
    ("GET", "/predict", None, ""),
    ("POST", "/predict", b"sepal_length=5", "application/x-www-form-urlencoded"),
    ("POST", "/predict", b"{" * 5000, "application/json"),
    ("POST", "/predict", b'{"sepal_length": 5', "application/json"),
    ("GET", "/healthz", None, ""),
]
PER_THREAD = 30
THREADS = 8


@pytest.mark.parametrize("workers", ["1", "2"])
def test_every_request_has_one_access_line_and_one_metric(
    model_dir: Path, tmp_path: Path, workers: str
) -> None:
    sent: list[tuple[str, int]] = []
    lock = threading.Lock()

    def client(url: str, offset: int) -> None:
        with requests.Session() as session:
            for i in range(PER_THREAD):
                method, path, body, content_type = MIX[(offset + i) % len(MIX)]
                request_id = f"books-{uuid.uuid4().hex}"
                headers = {"X-Request-ID": request_id}
                if content_type:
                    headers["content-type"] = content_type
                data = body if isinstance(body, bytes) else None
                json_body: Any = None if isinstance(body, bytes) or body is None else body
                response = session.request(
                    method, url + path, json=json_body, data=data, headers=headers, timeout=10
                )
                assert response.headers["x-request-id"] == request_id
                with lock:
                    sent.append((request_id, response.status_code))

    with running_service(model_dir, tmp_path, WEB_CONCURRENCY=workers) as service:
        before = service.metrics()
        threads = [threading.Thread(target=client, args=(service.url, n)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = service.metrics()
        total = THREADS * PER_THREAD
        assert len(sent) == total
        lines = Counter(
            line["request_id"]
            for line in service.log_lines()
            if line["event"] == "http_request" and line.get("request_id", "").startswith("books-")
        )
        assert set(lines) == {request_id for request_id, _ in sent}
        assert set(lines.values()) == {1}

        def requests_counted(scraped: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> float:
            return sum(
                value
                for (name, labels), value in scraped.items()
                if name == "http_requests_total" and dict(labels).get("handler") != "/metrics"
            )

        # The readiness probe and the first scrape ran before `before`; nothing else since.
        assert requests_counted(after) - requests_counted(before) == total
        statuses = Counter(status for _, status in sent)
        assert set(statuses) == {200, 400, 404, 405, 413, 415, 422}
