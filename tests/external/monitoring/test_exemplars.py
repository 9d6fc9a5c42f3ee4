"""Exemplars through the real Prometheus (exemplar storage on, as shipped), two workers.

Prometheus asks the service for OpenMetrics itself; the request ids it stores must be ids
this test sent, each inside its own bucket, and come from both workers (the merge of the
workers' exemplar files in app/observability/exemplars.py). One worker: test_integration.
"""

import time
from pathlib import Path
from typing import Any

from tests.external.monitoring.servers import Server, monitored_service, wait_for
from tests.support.service import VALID_FLOWER, Service

HTTP_PREDICT_BUCKETS = 'http_request_duration_seconds_bucket{handler="/predict"}'


def stored_exemplars(prom: Server, metric: str) -> list[tuple[dict[str, str], str, float]]:
    """(series labels, request id, value) of every exemplar Prometheus stored for metric."""
    now = time.time()
    data = prom.get("/api/v1/query_exemplars", query=metric, start=now - 600, end=now + 60)
    return [
        (series["seriesLabels"], exemplar["labels"]["request_id"], float(exemplar["value"]))
        for series in data["data"]
        for exemplar in series["exemplars"]
    ]


def served_by(service: Service, request_id: str) -> int:
    response = service.post("/predict", VALID_FLOWER, headers={"X-Request-ID": request_id})
    assert response.status_code == 200
    (access,) = [line for line in service.lines_for(request_id) if line["event"] == "http_request"]
    pid: int = access["pid"]
    return pid


def test_prometheus_stores_exemplars_from_both_workers(model_dir: Path, tmp_path: Path) -> None:
    with monitored_service(model_dir, tmp_path, WEB_CONCURRENCY="2") as (svc, prom, _):
        pid_of: dict[str, int] = {}
        # Each round ends on a request served by a worker not seen yet, and lasts past a
        # flush (1 s) and a scrape (1 s), so that worker's id is its bucket's newest then.
        for round_number in range(2):
            for n in range(200):
                request_id = f"prom-exemplar-{round_number}-{n}"
                pid_of[request_id] = served_by(svc, request_id)
                if pid_of[request_id] not in {pid_of[r] for r in list(pid_of)[:-1]}:
                    break
            time.sleep(2.5)
        assert len(set(pid_of.values())) == 2, "the kernel never handed a connection over"

        def stored() -> Any:
            http = stored_exemplars(
                prom, 'http_request_duration_seconds_bucket{handler="/predict"}'
            )
            model = stored_exemplars(prom, "model_inference_duration_seconds_bucket")
            pids = {pid_of.get(rid) for _, rid, _ in http + model}
            return (http, model) if pids >= set(pid_of.values()) else None

        http, model = wait_for(stored, 15, "exemplars of both workers in Prometheus")
        for labels, request_id, value in http + model:
            assert request_id in pid_of  # an id this test sent, never an invented one
            assert value <= float(labels["le"])
        assert {labels["__name__"] for labels, _, _ in model} == {
            "model_inference_duration_seconds_bucket"
        }
