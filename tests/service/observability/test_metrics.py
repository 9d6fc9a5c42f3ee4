"""The metric contract: exact deltas per request and per predicted row, in one and two workers."""

import time
from pathlib import Path

import pytest
import requests

from tests.service.api.test_predict import SETOSA, VERSICOLOR, VIRGINICA
from tests.support.service import VALID_FLOWER, Service, free_port, running_service, sample

MODEL = "iris-classifier"


def model_labels(service: Service) -> dict[str, str]:
    version = requests.get(f"{service.url}/model", timeout=5).json()["model_version"]
    return {"model_name": MODEL, "model_version": version}


def test_predictions_count_exactly_once_per_request_and_row(service: Service) -> None:
    labels = model_labels(service)
    before = service.metrics()

    for _ in range(3):
        assert service.post("/predict", SETOSA).status_code == 200
    batch = [SETOSA, VERSICOLOR, VIRGINICA, VIRGINICA]
    assert service.post("/predict/batch", {"instances": batch}).status_code == 200
    assert service.post("/predict", {"sepal_length": -1}).status_code == 422

    after = service.metrics()

    def delta(name: str, **extra: str) -> float:
        return sample(after, name, **extra) - sample(before, name, **extra)

    assert delta("http_requests_total", handler="/predict", method="POST", status="200") == 3
    assert delta("http_requests_total", handler="/predict", method="POST", status="422") == 1
    assert delta("http_requests_total", handler="/predict/batch", method="POST", status="200") == 1
    assert delta("http_request_duration_seconds_count", handler="/predict", method="POST") == 4
    for label, expected in (("setosa", 4), ("versicolor", 1), ("virginica", 2)):
        assert delta("model_predictions_total", **labels, predicted_class=label) == expected
    # Four model calls (three single, one batch of four); the 422 never reaches the model.
    assert delta("model_inference_duration_seconds_count", **labels) == 4
    assert delta("model_batch_size_count", **labels) == 4
    assert delta("model_batch_size_sum", **labels) == 7
    assert delta("model_batch_size_bucket", **labels, le="1.0") == 3
    assert delta("model_prediction_confidence_count", **labels) == 7
    assert delta("model_inference_duration_seconds_sum", **labels) > 0


def test_model_info_and_loaded_gauges(service: Service) -> None:
    scraped = service.metrics()
    labels = model_labels(service)
    import sklearn

    info = {
        **labels,
        "sklearn_version": sklearn.__version__,
        "inference_path": "onnxruntime",
        "task": "classification",
        "run_id": "",  # not from an MLflow registry
    }
    assert sample(scraped, "model_info", **info) == 1
    assert sample(scraped, "model_loaded") == 1
    for label in ("setosa", "versicolor", "virginica"):
        assert sample(scraped, "model_class_prior", **labels, **{"class": label}) == pytest.approx(
            1 / 3
        )


def test_unmatched_paths_share_one_handler_label(service: Service) -> None:
    before = service.metrics()
    for number in range(5):
        requests.get(f"{service.url}/scan-{number}.php", timeout=5)
    after = service.metrics()

    handlers = {
        dict(labels).get("handler") for (name, labels) in after if name == "http_requests_total"
    }
    assert not any(h and h.startswith("/scan-") for h in handlers)
    key = {"handler": "none", "method": "GET", "status": "404"}
    assert (
        sample(after, "http_requests_total", **key) - sample(before, "http_requests_total", **key)
        == 5
    )


@pytest.mark.parametrize(
    ("method", "path", "status", "handler"),
    [("GET", "/predict", "405", "/predict"), ("POST", "/predict", "415", "/predict")],
)
def test_rejected_requests_are_counted_under_their_route(
    service: Service, method: str, path: str, status: str, handler: str
) -> None:
    key = {"handler": handler, "method": method, "status": status}
    before = sample(service.metrics(), "http_requests_total", **key)
    requests.request(method, f"{service.url}{path}", timeout=5)
    assert sample(service.metrics(), "http_requests_total", **key) - before == 1


def test_oversize_body_is_counted_as_413(service: Service) -> None:
    key = {"handler": "/predict", "method": "POST", "status": "413"}
    before = sample(service.metrics(), "http_requests_total", **key)
    requests.post(
        f"{service.url}/predict",
        data=b" " * 2_000_000,
        headers={"content-type": "application/json"},
        timeout=10,
    )
    assert sample(service.metrics(), "http_requests_total", **key) - before == 1


def test_two_workers_aggregate_counters_in_every_scrape(model_dir: Path, tmp_path: Path) -> None:
    with running_service(model_dir, tmp_path, WEB_CONCURRENCY="2") as service:
        loaded = service.wait_for_log("model_loaded")
        deadline = time.monotonic() + 20
        while len(loaded) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            loaded = service.wait_for_log("model_loaded")
        assert len({line["pid"] for line in loaded}) == 2, "two workers should load the model"

        sent = 0
        served_by: set[int] = set()
        while len(served_by) < 2 and sent < 2000:
            # New connections, in batches, until the kernel has given some to each worker.
            for _ in range(20):
                assert requests.post(f"{service.url}/predict", json=SETOSA, timeout=5).ok
            sent += 20
            served_by = {
                line["pid"] for line in service.log_lines() if line["event"] == "http_request"
            }
        assert len(served_by) == 2, f"all {sent} requests went to one worker"

        labels = model_labels(service)
        for _ in range(10):  # whichever worker answers the scrape, the totals are the same
            scraped = service.metrics()
            assert (
                sample(
                    scraped, "http_requests_total", handler="/predict", method="POST", status="200"
                )
                == sent
            )
            assert (
                sample(scraped, "model_predictions_total", **labels, predicted_class="setosa")
                == sent
            )
            assert sample(scraped, "model_loaded") == 1


@pytest.mark.parametrize("workers", ["1", "2"])
def test_metrics_port_serves_metrics_and_the_main_port_does_not(
    model_dir: Path, tmp_path: Path, workers: str
) -> None:
    metrics_port = free_port()
    with running_service(
        model_dir, tmp_path, METRICS_PORT=str(metrics_port), WEB_CONCURRENCY=workers
    ) as service:
        assert service.post("/predict", VALID_FLOWER).status_code == 200
        hidden = requests.get(f"{service.url}/metrics", timeout=5)
        assert hidden.status_code == 404
        assert hidden.json()["error"]["code"] == "not_found"
        scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert scraped.status_code == 200
        assert 'http_requests_total{handler="/predict",method="POST",status="200"} 1.0' in (
            scraped.text
        )
