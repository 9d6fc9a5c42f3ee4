"""The real trace path: service -> OTLP/HTTP -> Tempo (shipped config), found by trace id.

What a user does with a `trace_id` from an access line or an exemplar: paste it into
Grafana's Tempo datasource, which asks Tempo's query API for the trace. Run with
`make test-logs` where the Tempo binary is (TEMPO_BIN; the e2e workflow downloads the
pinned release). The service runs the default sampler (parent-based ratio): the caller's
sampled flag is what makes the request traced.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

from tests.external.logs.servers import Tempo, tempo
from tests.support.otlp import INTERNAL, SERVER, ExportedSpan, decoded_spans, traceparent
from tests.support.service import VALID_FLOWER, Service, running_service

pytestmark = pytest.mark.logs


def trace_by_id(server: Tempo, trace_id: str, count: int) -> list[ExportedSpan]:
    """Tempo's trace-by-id API as Grafana calls it, the answer in protobuf: Tempo's `Trace`
    is OTLP's `TracesData` on the wire (field 1, repeated ResourceSpans)."""
    deadline = time.monotonic() + 60
    spans: list[ExportedSpan] = []
    while True:
        response = requests.get(
            f"{server.url}/api/traces/{trace_id}",
            headers={"Accept": "application/protobuf"},
            timeout=10,
        )
        if response.status_code == 200:
            spans = decoded_spans(TracesData.FromString(response.content).resource_spans)
            if len(spans) >= count:
                return spans
        assert time.monotonic() < deadline, (
            f"Tempo answered {response.status_code} with {len(spans)} spans of {trace_id}:\n"
            f"{server.log.read_text()[-4000:]}"
        )
        time.sleep(0.5)


@pytest.fixture(scope="module")
def traced(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, Tempo]]:
    workdir = tmp_path_factory.mktemp("real-traces")
    with (
        tempo(workdir) as server,
        running_service(
            model_dir,
            workdir / "service",
            OTEL_EXPORTER_OTLP_ENDPOINT=server.otlp,
            OTEL_SERVICE_NAME="glassbox-e2e",
            OTEL_BSP_SCHEDULE_DELAY="100",
        ) as service,
    ):
        yield service, server


def test_tempo_finds_the_callers_trace_with_the_access_lines_span(
    traced: tuple[Service, Tempo],
) -> None:
    service, server = traced
    trace_id, caller, header = traceparent()
    request_id = f"tempo-{trace_id[:8]}"
    response = service.post(
        "/predict", VALID_FLOWER, headers={"traceparent": header, "X-Request-ID": request_id}
    )
    assert response.status_code == 200
    (line,) = [x for x in service.lines_for(request_id) if x["event"] == "http_request"]

    spans = trace_by_id(server, trace_id, 2)
    (span,) = [s for s in spans if s.kind == SERVER]
    (model,) = [s for s in spans if s.kind == INTERNAL]
    assert (line["trace_id"], line["span_id"]) == (trace_id, span.span_id)
    assert span.parent_span_id == caller
    assert model.parent_span_id == span.span_id
    assert span.name == "POST /predict"
    assert span.attributes["glassbox.request_id"] == request_id
    assert span.resource["service.name"] == "glassbox-e2e"
    assert model.attributes["glassbox.model.rows"] == 1


def test_an_unsampled_callers_trace_is_not_in_tempo(traced: tuple[Service, Tempo]) -> None:
    """Not sampled by the caller: logged with its trace id, never exported. A sampled
    request sent after it is found first, so the batch that would have carried it has gone."""
    service, server = traced
    quiet, _, unsampled = traceparent(sampled=False)
    loud, _, sampled = traceparent()
    for header in (unsampled, sampled):
        assert service.post("/predict", VALID_FLOWER, headers={"traceparent": header}).ok
    trace_by_id(server, loud, 2)
    response = requests.get(f"{server.url}/api/traces/{quiet}", timeout=10)
    assert response.status_code == 404
