"""Traces from the real service: W3C trace context at the edge, spans by OpenTelemetry's own
SDK and OTLP exporter, received by an OTLP/HTTP receiver started here and decoded with
opentelemetry-proto (the wire format a collector reads). The access line, the exemplars
and the exported spans name the same trace and span; a collector that is down or slow
costs requests nothing."""

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from tests.support.otlp import (
    INTERNAL,
    SERVER,
    ExportedSpan,
    Receiver,
    otlp_receiver,
    traceparent,
)
from tests.support.service import VALID_FLOWER, Service, running_service, sample

OPENMETRICS = "application/openmetrics-text; version=1.0.0"


def access_line(service: Service, request_id: str) -> dict[str, Any]:
    (line,) = [line for line in service.lines_for(request_id) if line["event"] == "http_request"]
    return line


def spans_env(receiver: Receiver, **extra: str) -> dict[str, Any]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_TRACES_SAMPLER": "parentbased_always_on",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_SERVICE_NAME": "glassbox-test",
        **extra,
    }


def exemplar_traces(service: Service) -> set[str]:
    response = requests.get(f"{service.url}/metrics", headers={"Accept": OPENMETRICS}, timeout=5)
    found = set()
    for family in text_string_to_metric_families(response.text):  # type: ignore[no-untyped-call]
        for item in family.samples:
            if item.exemplar is not None and "trace_id" in item.exemplar.labels:
                found.add(item.exemplar.labels["trace_id"])
    return found


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def traced(
    request: pytest.FixtureRequest, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, Receiver]]:
    logs = tmp_path_factory.mktemp(f"traces-{request.param}")
    with (
        otlp_receiver() as receiver,
        running_service(
            model_dir, logs, WEB_CONCURRENCY=str(request.param), **spans_env(receiver)
        ) as service,
    ):
        yield service, receiver


def spans_of(receiver: Receiver, trace_id: str, count: int) -> list[ExportedSpan]:
    deadline = time.monotonic() + 15
    while True:
        found = [span for span in receiver.spans if span.trace_id == trace_id]
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{len(found)} spans of {trace_id}, not {count}"
        time.sleep(0.05)


def test_a_sampled_caller_gets_a_server_span_and_a_model_span_in_its_trace(
    traced: tuple[Service, Receiver],
) -> None:
    service, receiver = traced
    before = sample(service.metrics(), "http_requests_total", handler="/predict", method="POST",
                    status="200")  # fmt: skip
    callers = []
    for number in range(20):
        trace_id, caller_span, header = traceparent()
        request_id = f"traced-{os.getpid()}-{number}-{trace_id[:8]}"
        response = service.post(
            "/predict", VALID_FLOWER,
            headers={"traceparent": header, "tracestate": "vendor=x", "X-Request-ID": request_id},
        )  # fmt: skip
        assert response.status_code == 200
        assert response.headers["x-request-id"] == request_id  # the request id is unchanged
        callers.append((trace_id, caller_span, request_id))
    for trace_id, caller_span, request_id in callers:
        spans = spans_of(receiver, trace_id, 2)
        (server,) = [span for span in spans if span.kind == SERVER]
        (model,) = [span for span in spans if span.kind == INTERNAL]
        assert server.parent_span_id == caller_span  # a child of the caller's span
        assert model.parent_span_id == server.span_id
        assert server.name == "POST /predict"
        assert server.attributes["http.request.method"] == "POST"
        assert server.attributes["http.route"] == "/predict"
        assert server.attributes["http.response.status_code"] == 200
        assert server.attributes["glassbox.request_id"] == request_id
        assert server.resource["service.name"] == "glassbox-test"
        assert model.attributes["glassbox.model.rows"] == 1
        assert model.attributes["glassbox.model.inference_path"] in ("onnxruntime", "sklearn")
        assert server.start_ns <= model.start_ns <= model.end_ns <= server.end_ns
        line = access_line(service, request_id)
        assert (line["trace_id"], line["span_id"]) == (trace_id, server.span_id)
    # The exemplars name traces that were exported.
    exported = {span.trace_id for span in receiver.spans}
    assert exemplar_traces(service) & {trace for trace, _, _ in callers}
    assert exemplar_traces(service) <= exported | {t for t, _, _ in callers}
    # One access line and one sample per request still.
    after = sample(service.metrics(), "http_requests_total", handler="/predict", method="POST",
                   status="200")  # fmt: skip
    assert after - before == len(callers)


def test_an_unsampled_caller_is_logged_but_not_exported(traced: tuple[Service, Receiver]) -> None:
    service, receiver = traced
    unsampled, _, header = traceparent(sampled=False)
    request_id = f"unsampled-{unsampled[:12]}"
    headers = {"traceparent": header, "X-Request-ID": request_id}
    assert service.post("/predict", VALID_FLOWER, headers=headers).ok
    line = access_line(service, request_id)
    assert line["trace_id"] == unsampled
    assert len(line["span_id"]) == 16
    # A sampled request after it is exported; the unsampled one never was.
    sampled, _, header = traceparent()
    assert service.post("/predict", VALID_FLOWER, headers={"traceparent": header}).ok
    spans_of(receiver, sampled, 2)
    assert not [span for span in receiver.spans if span.trace_id == unsampled]


def test_every_route_but_probes_is_traced_and_a_refusal_says_why(
    traced: tuple[Service, Receiver],
) -> None:
    service, receiver = traced
    refused_trace, _, header = traceparent()
    refused = service.post("/predict", {"sepal_length": "x"}, headers={"traceparent": header})
    assert refused.status_code == 422
    (span,) = spans_of(receiver, refused_trace, 1)
    assert span.attributes["glassbox.error_code"] == "validation_error"
    assert span.attributes["http.response.status_code"] == 422

    v2_trace, _, header = traceparent()
    body = {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64",
                        "data": [5.1, 3.5, 1.4, 0.2]}]}  # fmt: skip
    v2 = service.post("/v2/models/iris-classifier/infer", body, headers={"traceparent": header})
    assert v2.status_code == 200
    v2_spans = spans_of(receiver, v2_trace, 2)
    assert {span.kind for span in v2_spans} == {SERVER, INTERNAL}

    feedback_trace, _, header = traceparent()
    label = {"request_id": v2.json()["id"], "label": "setosa"}
    assert service.post("/feedback", label, headers={"traceparent": header}).ok
    (span,) = spans_of(receiver, feedback_trace, 1)
    assert span.attributes["http.route"] == "/feedback"

    probes = []
    for path in ("/healthz", "/readyz", "/metrics"):
        trace_id, _, header = traceparent()
        assert requests.get(service.url + path, headers={"traceparent": header}, timeout=5).ok
        probes.append(trace_id)
    last, _, header = traceparent()
    assert service.post("/predict", VALID_FLOWER, headers={"traceparent": header}).ok
    spans_of(receiver, last, 2)  # exported after the probes: they would be by now
    assert not [span for span in receiver.spans if span.trace_id in probes]


def test_a_request_without_a_trace_starts_one_and_a_malformed_header_is_ignored(
    traced: tuple[Service, Receiver],
) -> None:
    service, receiver = traced
    for header in ("", "00-zz-bad", "00-" + "0" * 32 + "-" + "1" * 16 + "-01"):
        request_id = f"root-{os.urandom(4).hex()}"
        headers = {"X-Request-ID": request_id, **({"traceparent": header} if header else {})}
        assert service.post("/predict", VALID_FLOWER, headers=headers).status_code == 200
        line = access_line(service, request_id)
        spans = spans_of(receiver, line["trace_id"], 2)
        (server,) = [span for span in spans if span.kind == SERVER]
        assert server.parent_span_id == ""  # the root of a new trace
        assert server.span_id == line["span_id"]


def test_without_spans_a_callers_trace_is_still_logged(model_dir: Path, tmp_path: Path) -> None:
    """No OTEL_* variables: no spans, no SDK; the caller's trace id still reaches the access
    line and the exemplars, a request without one has none."""
    with running_service(model_dir, tmp_path) as service:
        trace_id, _, header = traceparent()
        traced_response = service.post(
            "/predict", VALID_FLOWER, headers={"traceparent": header, "X-Request-ID": "with"}
        )
        assert traced_response.status_code == 200
        assert access_line(service, "with")["trace_id"] == trace_id
        assert service.post("/predict", VALID_FLOWER, headers={"X-Request-ID": "without"}).ok
        assert "trace_id" not in access_line(service, "without")
        assert trace_id in exemplar_traces(service)
        assert not [line for line in service.raw_lines() if "opentelemetry" in line.lower()]


@pytest.mark.parametrize("outage", ["refusing", "slow"])
def test_a_collector_down_or_slow_costs_requests_nothing(
    model_dir: Path, tmp_path: Path, outage: str
) -> None:
    """Every request answers at once while exports fail or hang (each bounded by
    OTEL_EXPORTER_OTLP_TIMEOUT, on the SDK's thread); what the bounded queue cannot hold is
    dropped and counted by the SDK's own processor metrics."""
    with otlp_receiver() as receiver:
        receiver.refuse = outage == "refusing"
        receiver.delay_seconds = 3.0 if outage == "slow" else 0.0
        env = spans_env(receiver, OTEL_BSP_MAX_QUEUE_SIZE="16", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="8")
        with running_service(model_dir, tmp_path, **env) as service:
            slowest = 0.0
            for _ in range(200):
                started = time.monotonic()
                assert service.post("/predict", VALID_FLOWER).status_code == 200
                slowest = max(slowest, time.monotonic() - started)
            assert slowest < 1.0  # never the export's 2 s timeout, nor the collector's 3 s
            deadline = time.monotonic() + 10
            while True:
                dropped = sample(
                    service.metrics(), "otel_sdk_processor_span_processed_total",
                    error_type="queue_full",
                )  # fmt: skip
                if dropped > 0:
                    break
                assert time.monotonic() < deadline, "no dropped span counted"
                time.sleep(0.2)


def test_a_collector_stopped_mid_traffic_costs_requests_nothing(
    model_dir: Path, tmp_path: Path
) -> None:
    """Spans reach the collector; it stops (its port closed) while requests keep coming:
    every request still answers at once, and the failed exports are counted by the SDK's
    exporter metrics and logged."""
    collector = otlp_receiver()
    receiver = collector.__enter__()
    stopped = False
    try:
        with running_service(model_dir, tmp_path, **spans_env(receiver)) as service:
            for _ in range(10):
                assert service.post("/predict", VALID_FLOWER).status_code == 200
            receiver.wait_for(20)  # a server and a model span each: the collector was up
            collector.__exit__(None, None, None)
            stopped = True
            slowest = 0.0
            for _ in range(200):
                started = time.monotonic()
                assert service.post("/predict", VALID_FLOWER).status_code == 200
                slowest = max(slowest, time.monotonic() - started)
            assert slowest < 1.0

            def failed() -> float:
                return sum(
                    value
                    for (name, labels), value in service.metrics().items()
                    if name == "otel_sdk_exporter_span_exported_total"
                    and dict(labels).get("error_type")
                )

            deadline = time.monotonic() + 15
            while failed() == 0:
                assert time.monotonic() < deadline, "no failed export counted"
                time.sleep(0.2)
            (line,) = [x for x in service.log_lines() if x["event"] == "spans_dropped"]
            assert line["endpoint"] == f"{receiver.url}/v1/traces"
            assert line["error_types"]
    finally:
        if not stopped:
            collector.__exit__(None, None, None)
