"""The shared prediction store against a real redis-server (Debian's), started here on a
127.0.0.1 port: labels join on any process and worker, survive a restart, the first label
wins across processes; a store that is down costs predictions nothing and /feedback says
so within 2 s; when it comes back, labels join again without a restart."""

import time
import uuid
from pathlib import Path
from typing import Any

import requests

from tests.support.redis import redis_server
from tests.support.service import VALID_FLOWER, Service, free_port, running_service

STORE_TIMEOUT_SECONDS = 2.0


def predict(service: Service, count: int) -> list[str]:
    ids = [f"store-{uuid.uuid4().hex}" for _ in range(count)]
    for request_id in ids:
        response = service.post("/predict", VALID_FLOWER, headers={"X-Request-ID": request_id})
        assert response.status_code == 200
    return ids


def counter(service: Service, name: str) -> float:
    return sum(value for (sample, _), value in service.metrics().items() if sample == name)


def wait_written(service: Service, rows: float) -> None:
    deadline = time.monotonic() + 10
    while counter(service, "model_prediction_store_rows_written_total") < rows:
        assert time.monotonic() < deadline, "the store never got the answers"
        time.sleep(0.05)


def label(service: Service, request_id: str, value: str = "setosa") -> requests.Response:
    return service.post("/feedback", {"request_id": request_id, "label": value})


def confusion(service: Service) -> float:
    return counter(service, "model_feedback_confusion_total")


def test_labels_join_on_any_process_and_worker_and_outlive_a_restart(
    model_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    with redis_server(tmp_path / "redis", port):
        store: dict[str, Any] = {"PREDICTION_STORE_URL": f"redis://127.0.0.1:{port}/0"}
        with (
            running_service(model_dir, tmp_path / "a", WEB_CONCURRENCY="2", **store) as a,
            running_service(model_dir, tmp_path / "b", WEB_CONCURRENCY="2", **store) as b,
        ):
            ids = predict(a, 40)
            wait_written(a, 40)
            statuses = [label(b, request_id).json()["status"] for request_id in ids]
            assert statuses == ["recorded"] * 40  # every label, on the other process
            again = [label(a, request_id).json()["status"] for request_id in ids[:5]]
            assert again == ["duplicate"] * 5  # the first label won, on either process
            assert confusion(a) + confusion(b) == 40  # each recorded label counted once
            before_restart = predict(a, 10)
            wait_written(a, 50)
        with running_service(model_dir, tmp_path / "c", **store) as c:  # a new process
            statuses = [label(c, request_id).json()["status"] for request_id in before_restart]
            assert statuses == ["recorded"] * 10


def test_a_store_down_costs_predictions_nothing_and_feedback_says_so(
    model_dir: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    # Down at startup: the service is ready all the same (readiness is about the model).
    with running_service(model_dir, tmp_path / "service", PREDICTION_STORE_URL=url) as service:
        assert predict(service, 3)
        down = service.wait_for_log("prediction_store_unavailable")[0]
        assert down["store"] == f"redis://127.0.0.1:{port}/0"
        started = time.monotonic()
        refused = label(service, "anything")
        assert time.monotonic() - started <= STORE_TIMEOUT_SECONDS + 0.5
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "prediction_store_unavailable"
        assert counter(service, "model_prediction_store_lookups_failed_total") >= 1

        with redis_server(tmp_path / "redis", port) as server:  # it comes back
            ids = predict(service, 5)
            wait_written(service, 5)
            assert label(service, ids[0]).json()["status"] == "recorded"
            back = service.wait_for_log("prediction_store_reachable")[0]
            assert back["store"] == url

            server.terminate()  # and goes down mid-traffic
            server.wait(timeout=10)
            dropped = counter(service, "model_prediction_store_rows_dropped_total")
            assert all(status == 200 for status in _statuses(service, 30))
            deadline = time.monotonic() + 5
            while counter(service, "model_prediction_store_rows_dropped_total") <= dropped:
                assert time.monotonic() < deadline, "no dropped rows counted"
                time.sleep(0.05)
            started = time.monotonic()
            assert label(service, ids[1]).status_code == 503
            assert time.monotonic() - started <= STORE_TIMEOUT_SECONDS + 0.5

        with redis_server(tmp_path / "redis", port):  # back again: no restart needed
            written = counter(service, "model_prediction_store_rows_written_total")
            ids = predict(service, 2)
            wait_written(service, written + 2)
            assert label(service, ids[0]).json()["status"] == "recorded"


def _statuses(service: Service, count: int) -> list[int]:
    return [service.post("/predict", VALID_FLOWER).status_code for _ in range(count)]
