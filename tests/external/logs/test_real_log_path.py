"""The real log path: service -> Promtail (both shipped pipelines) -> Loki (shipped config).

Run with `make test-logs` where the Loki and Promtail binaries are (the e2e workflow).
The service's own stdout is the oracle: every line it wrote must arrive exactly once per
pipeline, with its own timestamp, the documented labels and request_id as structured
metadata; each shipped LogQL query must be accepted, and some must return exactly the
lines or values the file says they should.
"""

import calendar
import json
import re
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.external.logs.servers import (
    DOCUMENTED_LABELS,
    PROMTAIL_COMPOSE,
    PROMTAIL_KUBERNETES,
    Loki,
    docker_log_path,
    kubelet_log_path,
    loki,
    promtail,
)
from tests.external.monitoring.queries import (
    LOKI_RULE_FILES,
    dashboard_targets,
    fenced_blocks,
    provisioning_logql,
    rule_expressions,
    substitute,
)
from tests.external.monitoring.servers import wait_for
from tests.support.service import VALID_FLOWER, running_service

pytestmark = pytest.mark.logs

# Loki 3 adds service_name (from `app`) for Grafana's Logs Drilldown; it is not ours.
LOKI_ADDED_LABELS = {"service_name"}
NAMESPACE = {"kubernetes": "ml", "compose": "glassbox"}  # set by each pipeline's relabeling
WINDOW_NS = 3600 * 10**9


@dataclass
class ShippedLogs:
    loki: Loki
    lines: list[str]  # the service's stdout, in order
    start_ns: int
    end_ns: int

    def entries(self, query: str) -> list[tuple[int, str, dict[str, Any], dict[str, str]]]:
        """(timestamp ns, line, structured metadata, stream labels) of a log query."""
        data = self.loki.query_range(query, self.start_ns, self.end_ns)
        return [
            (int(value[0]), value[1], (value[2] if len(value) > 2 else {}), stream["stream"])
            for stream in data["result"]
            for value in stream["values"]
        ]


def timestamp_ns(line: str) -> int:
    """The JSON `timestamp` of a line (RFC 3339, microseconds, UTC) in nanoseconds."""
    moment = datetime.fromisoformat(json.loads(line)["timestamp"])
    return calendar.timegm(moment.utctimetuple()) * 10**9 + moment.microsecond * 1000


def cri(line: str) -> str:
    """The line as containerd writes it, stamped 1 ms late so the JSON timestamp must win."""
    late = (timestamp_ns(line) + 10**6) / 10**9
    stamp = datetime.fromtimestamp(late, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"
    return f"{stamp} stdout F {line}"


# A caller's trace (W3C traceparent, sampled) that two requests join: its trace id must
# find both requests' lines, and only theirs, in Loki.
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def drive_traffic(url: str, port: int) -> None:
    """Successes, client errors, a refused request id, a refusal at the HTTP edge, and two
    requests in a caller's trace."""
    for n in range(5):
        requests.post(
            f"{url}/predict", json=VALID_FLOWER, headers={"X-Request-ID": f"logs-{n}"}, timeout=5
        )
    for n in range(2):
        requests.post(
            f"{url}/predict",
            json=VALID_FLOWER,
            headers={"X-Request-ID": f"traced-{n}", "traceparent": TRACEPARENT},
            timeout=5,
        )
    requests.post(f"{url}/predict/batch", json={"instances": [VALID_FLOWER] * 3}, timeout=5)
    requests.post(f"{url}/predict", json={"sepal_length": -1}, timeout=5)
    requests.post(
        f"{url}/predict", data="{", headers={"content-type": "application/json"}, timeout=5
    )
    requests.get(f"{url}/nowhere", timeout=5)
    requests.get(f"{url}/healthz", headers={"X-Request-ID": "bad id with spaces"}, timeout=5)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        sock.recv(65_536)


@pytest.fixture(scope="module")
def shipped(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ShippedLogs]:
    workdir = tmp_path_factory.mktemp("real-logs")
    with running_service(model_dir, workdir / "service") as service:
        drive_traffic(service.url, service.port)
        service.lines_for("logs-4")
    lines = service.raw_lines()  # stopped: the file is complete
    # Laid out from the metadata the static targets carry, as the kubelet and Docker would.
    pods, docker = workdir / "pods", workdir / "docker"
    pod_log, container_log = kubelet_log_path(pods), docker_log_path(docker)
    for path in (pod_log, container_log):
        path.parent.mkdir(parents=True)
    pod_log.write_text("".join(f"{cri(line)}\n" for line in lines))
    container_log.write_text("".join(f"{line}\n" for line in lines))
    start_ns = min(map(timestamp_ns, lines)) - 60 * 10**9
    end_ns = max(map(timestamp_ns, lines)) + 60 * 10**9

    with (
        loki(workdir) as server,
        promtail(PROMTAIL_KUBERNETES, workdir, server.url, pods),
        promtail(PROMTAIL_COMPOSE, workdir, server.url, docker),
    ):
        logs = ShippedLogs(server, lines, start_ns, end_ns)
        for namespace in NAMESPACE.values():
            query = f'{{app="glassbox", namespace="{namespace}"}}'
            wait_for(
                lambda q=query: len(logs.entries(q)) >= len(lines), 60, f"lines in {namespace}"
            )
        yield logs


@pytest.mark.parametrize("pipeline", NAMESPACE)
def test_every_line_arrives_once_with_its_own_timestamp(
    shipped: ShippedLogs, pipeline: str
) -> None:
    entries = shipped.entries(f'{{app="glassbox", namespace="{NAMESPACE[pipeline]}"}}')
    arrived = Counter((ts, line) for ts, line, _, _ in entries)
    written = Counter((timestamp_ns(line), line) for line in shipped.lines)
    assert arrived == written


@pytest.mark.parametrize("pipeline", NAMESPACE)
def test_labels_are_the_documented_low_cardinality_set(shipped: ShippedLogs, pipeline: str) -> None:
    entries = shipped.entries(f'{{app="glassbox", namespace="{NAMESPACE[pipeline]}"}}')
    for _, line, _, labels in entries:
        assert set(labels) - LOKI_ADDED_LABELS == DOCUMENTED_LABELS, labels
        assert labels["level"] == json.loads(line)["level"]
        assert labels["container"] == "glassbox"


@pytest.mark.parametrize("pipeline", NAMESPACE)
def test_request_id_is_structured_metadata(shipped: ShippedLogs, pipeline: str) -> None:
    entries = shipped.entries(f'{{app="glassbox", namespace="{NAMESPACE[pipeline]}"}}')
    with_id = [(line, metadata) for _, line, metadata, _ in entries if '"request_id"' in line]
    assert with_id
    for line, metadata in with_id:
        structured = metadata.get("structuredMetadata", {})
        assert structured["request_id"] == json.loads(line)["request_id"]


@pytest.mark.parametrize("pipeline", NAMESPACE)
def test_trace_id_is_structured_metadata(shipped: ShippedLogs, pipeline: str) -> None:
    entries = shipped.entries(f'{{app="glassbox", namespace="{NAMESPACE[pipeline]}"}}')
    traced = [(line, metadata) for _, line, metadata, _ in entries if '"trace_id"' in line]
    assert {json.loads(line)["request_id"] for line, _ in traced} == {"traced-0", "traced-1"}
    for line, metadata in traced:
        assert metadata["structuredMetadata"]["trace_id"] == json.loads(line)["trace_id"]


def test_the_request_id_query_returns_every_line_of_that_request(shipped: ShippedLogs) -> None:
    """The README's query, as Grafana's derived field and the Logs dashboard run it."""
    query = provisioning_logql()["request_id"].replace("${__value.raw}", "logs-3")
    expected = [line for line in shipped.lines if json.loads(line).get("request_id") == "logs-3"]
    assert len(expected) >= 1
    found = Counter(line for _, line, _, _ in shipped.entries(query))
    assert found == Counter({line: len(NAMESPACE) for line in expected})  # once per pipeline


def test_a_traces_query_returns_every_line_of_that_trace(shipped: ShippedLogs) -> None:
    """Tempo's trace-to-logs link, as Grafana runs it for a span: both requests of the
    caller's trace, every line of each, and nothing else."""
    query = provisioning_logql()["tracesToLogsV2"].replace("${__trace.traceId}", TRACE_ID)
    expected = [line for line in shipped.lines if json.loads(line).get("trace_id") == TRACE_ID]
    assert {json.loads(line)["request_id"] for line in expected} == {"traced-0", "traced-1"}
    found = Counter(line for _, line, _, _ in shipped.entries(query))
    assert found == Counter({line: len(NAMESPACE) for line in expected})


def shipped_logql() -> list[tuple[str, str]]:
    return [
        *((f"{name}:{title}", substitute(expr)) for name, title, expr in dashboard_targets("loki")),
        *((f"{doc}:logql", expr) for doc, expr in fenced_blocks("logql")),
        *((f"provisioning {name}", substitute(q)) for name, q in provisioning_logql().items()),
        *((f"loki rule {name}", expr) for name, expr in rule_expressions(LOKI_RULE_FILES)),
    ]


def test_loki_accepts_every_shipped_query(shipped: ShippedLogs) -> None:
    failures = []
    for where, query in shipped_logql():
        params: dict[str, str | int] = {
            "query": query,
            "start": shipped.start_ns,
            "end": shipped.end_ns,
        }
        response = requests.get(
            f"{shipped.loki.url}/loki/api/v1/query_range",
            params=params,
            timeout=30,
        )
        if response.status_code != 200:
            failures.append((where, query, response.text))
    assert failures == []


def _instant(shipped: ShippedLogs, query: str) -> dict[str, float]:
    result = shipped.loki.query(query, shipped.end_ns)["result"]
    return {json.dumps(r["metric"], sort_keys=True): float(r["value"][1]) for r in result}


def test_log_alert_counts_match_the_lines_written(shipped: ShippedLogs) -> None:
    """Each ruler expression without its threshold, over the whole run, counts exactly the
    lines it is meant to: one refused request id and one malformed request per pipeline."""
    refusals = {
        "request_id_rejected": 0,
        "malformed_request": 0,
    }
    for line in shipped.lines:
        fields = json.loads(line)
        if fields["event"] == "request_id_rejected":
            refusals["request_id_rejected"] += 1
        if fields.get("error_code") == "malformed_request":
            refusals["malformed_request"] += 1
    assert refusals == {"request_id_rejected": 1, "malformed_request": 1}

    expressions = dict(rule_expressions(LOKI_RULE_FILES))
    edge = re.sub(r"\s*>\s*\d+\s*$", "", expressions["GlassboxEdgeRefusalsBurst"])
    edge = edge.replace("[10m]", "[2h]")
    values = _instant(shipped, edge)
    assert sorted(values.values()) == [2.0, 2.0]  # per namespace: both kinds, once each

    unhandled = re.sub(r"\s*>=\s*\d+\s*$", "", expressions["GlassboxUnhandledExceptions"])
    assert _instant(shipped, unhandled.replace("[5m]", "[2h]")) == {}


def test_slowest_requests_query_returns_the_slowest_durations(shipped: ShippedLogs) -> None:
    (slowest,) = [q for _, q in fenced_blocks("logql") if q.startswith("topk(10, max by (path)")]
    values = _instant(shipped, slowest.replace("[1h]", "[2h]"))
    written: dict[str, float] = {}
    for line in shipped.lines:
        fields = json.loads(line)
        if fields["event"] == "http_request":
            written[fields["path"]] = max(written.get(fields["path"], 0.0), fields["duration_ms"])
    assert {json.loads(k)["path"]: v for k, v in values.items()} == pytest.approx(written)
