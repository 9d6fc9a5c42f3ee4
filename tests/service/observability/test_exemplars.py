"""Exemplars on the latency histograms, read from the real service's /metrics.

With one worker prometheus_client keeps them; with several, each worker's file in the
shared directory is merged by /metrics (app/observability/exemplars.py). Both are run here.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from app.observability.exemplars import MAX_ID_CHARS
from tests.support.service import VALID_FLOWER, Service, running_service

OPENMETRICS = "application/openmetrics-text; version=1.0.0"
HISTOGRAMS = ("http_request_duration_seconds", "model_inference_duration_seconds")


def exemplars(service: Service) -> dict[str, list[tuple[dict[str, str], str, float]]]:
    """{histogram: [(bucket labels, request id, observed value)]} from OpenMetrics /metrics."""
    response = requests.get(f"{service.url}/metrics", headers={"Accept": OPENMETRICS}, timeout=5)
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    found: dict[str, list[tuple[dict[str, str], str, float]]] = {name: [] for name in HISTOGRAMS}
    for family in text_string_to_metric_families(response.text):  # type: ignore[no-untyped-call]
        for sample in family.samples:
            if sample.exemplar is not None and family.name in found:
                found[family.name].append(
                    (sample.labels, sample.exemplar.labels["request_id"], sample.exemplar.value)
                )
    return found


def send(service: Service, request_id: str) -> int:
    response = service.post("/predict", VALID_FLOWER, headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    (access,) = [line for line in service.lines_for(request_id) if line["event"] == "http_request"]
    pid: int = access["pid"]
    return pid


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def workers_service(
    request: pytest.FixtureRequest, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, Service]]:
    workers: int = request.param
    logs = tmp_path_factory.mktemp(f"exemplars-{workers}")
    with running_service(model_dir, logs, WEB_CONCURRENCY=str(workers)) as service:
        yield workers, service


def test_each_latency_bucket_carries_a_request_id_it_really_measured(
    workers_service: tuple[int, Service],
) -> None:
    _, service = workers_service
    sent = {f"exemplar-{n}" for n in range(30)}
    for request_id in sorted(sent):
        send(service, request_id)
    time.sleep(1.5)  # a worker writes its exemplars at most once a second

    found = exemplars(service)
    for name in HISTOGRAMS:
        predict_buckets = [
            (labels, rid, value)
            for labels, rid, value in found[name]
            if labels.get("handler", "/predict") == "/predict"
        ]
        assert predict_buckets, name
        assert {rid for _, rid, _ in predict_buckets} <= sent
        for labels, _, value in predict_buckets:
            assert value <= float(labels["le"])  # in its own bucket (the bound is inclusive)


def test_exemplars_come_from_every_worker(workers_service: tuple[int, Service]) -> None:
    """Each round ends with a request served by the next worker, so that worker's id is the
    newest of its bucket when /metrics is read: every worker's exemplars must reach it."""
    workers, service = workers_service
    pids: set[int] = set()
    seen_ids: set[str] = set()
    for round_number in range(workers):
        n = 0
        while True:
            request_id = f"round-{round_number}-{n}"
            pid = send(service, request_id)
            n += 1
            if pid not in pids:
                pids.add(pid)
                break
            assert n < 200, "the kernel never handed a connection to another worker"
        time.sleep(1.5)
        seen_ids |= exemplar_ids(service)
        assert request_id in seen_ids, (round_number, request_id)
    assert len(pids) == workers


def exemplar_ids(service: Service) -> set[str]:
    return {rid for name in HISTOGRAMS for _, rid, _ in exemplars(service)[name]}


def test_plain_text_exposition_has_no_exemplars(workers_service: tuple[int, Service]) -> None:
    _, service = workers_service
    send(service, "plain-text")
    time.sleep(1.5)
    text = requests.get(f"{service.url}/metrics", timeout=5).text
    assert text.startswith("# HELP")
    assert "request_id=" not in text  # Prometheus' text parser would reject the scrape
    assert "# EOF" not in text


def test_an_id_too_long_for_an_exemplar_is_counted_without_one(
    workers_service: tuple[int, Service],
) -> None:
    _, service = workers_service
    longest = "x" * MAX_ID_CHARS
    too_long = "y" * (MAX_ID_CHARS + 1)
    send(service, longest)
    send(service, too_long)  # a valid request id (up to 128), too long for OpenMetrics
    time.sleep(1.5)
    ids = exemplar_ids(service)
    assert longest in ids
    assert too_long not in ids
    assert service.lines_for(too_long)  # logged and answered like any other request
