"""The shipped monitoring against real processes: the service, Prometheus, Alertmanager.

Prometheus loads the shipped prometheus.yaml and rules through a test overlay
(1 s scrape and evaluation, `for: 0s`, local ports); the shipped files are not
edited. After real traffic, every dashboard query must return data and every
recording rule must produce series; then real faults must reach Alertmanager.
"""

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from monitoring.mixin.rules.quality import BEST_MAE, ESTIMATED_MAE, MAE, RMSE
from tests.external.monitoring.kubernetes_sd import (
    kubernetes_jobs_with_static_targets,
    pod_meta_labels,
    write_config,
)
from tests.external.monitoring.queries import (
    DASHBOARDS,
    RULE_FILES,
    load_dashboard,
    shows_a_blind_estimate,
    substitute,
)
from tests.external.monitoring.servers import (
    Server,
    monitored_service,
    prometheus,
    query,
    wait_for,
)
from tests.service.api.test_predict import SETOSA, VERSICOLOR, VIRGINICA
from tests.support.service import ROOT, Service, free_port, running_service

MONITORING = ROOT / "monitoring"

# Panels that read kube-state-metrics or cAdvisor, which do not run here.
# The test below also fails if this list and the dashboards disagree.
KUBERNETES_ONLY_PANELS = {
    ("glassbox-capacity.json", "Replicas"),
    ("glassbox-capacity.json", "HPA current / desired / min / max"),
    ("glassbox-capacity.json", "CPU per pod against requests and limits"),
    ("glassbox-capacity.json", "Memory per pod against requests and limits"),
    ("glassbox-capacity.json", "Container restarts (1h)"),
}
# Only has data once an alert fires; checked in the fault test instead.
ALERTS_PANEL = ("glassbox-overview.json", "Active alerts")
# The stack here serves the Iris classifier; the regression dashboard's queries are run
# against a served regressor in tests/external/monitoring/test_any_model.py.
REGRESSION_DASHBOARD = "glassbox-model-regression.json"


@dataclass
class Stack:
    service: Service
    port: int
    prometheus: Server
    alertmanager: Server
    workdir: Path
    started: float  # unix time of the first scrape


TRUTH = {"setosa": SETOSA, "versicolor": VERSICOLOR, "virginica": VIRGINICA}
# Recorded only for a regressor: checked against the served regressor in test_any_model.py.
REGRESSION_ONLY_RECORDS = {MAE, RMSE, BEST_MAE, ESTIMATED_MAE}


def label(url: str, request_id: str, truths: list[str]) -> None:
    """Send each row's true class as ground truth for the prediction `request_id` made."""
    items: list[dict[str, Any]] = [
        {"request_id": request_id, "row": row, "label": t} for row, t in enumerate(truths)
    ]
    response = requests.post(f"{url}/feedback/batch", json={"feedback": items}, timeout=5)
    assert response.status_code == 200, response.text


def drive_traffic(url: str) -> None:
    """Successes and every kind of client error, in waves so rate() sees change; every
    prediction gets its true label through /feedback."""
    for _ in range(3):
        for name in ("setosa", "versicolor", "virginica", "setosa"):
            response = requests.post(f"{url}/predict", json=TRUTH[name], timeout=5)
            assert response.status_code == 200
            label(url, response.json()["request_id"], [name])
        truths = ["setosa", "virginica", "versicolor"] * 5
        batch = {"instances": [TRUTH[name] for name in truths]}
        response = requests.post(f"{url}/predict/batch", json=batch, timeout=5)
        assert response.status_code == 200
        label(url, response.json()["request_id"], truths)
        assert (
            requests.post(f"{url}/predict", json={"sepal_length": -1}, timeout=5).status_code == 422
        )
        bad_json = requests.post(
            f"{url}/predict", data="{", headers={"content-type": "application/json"}, timeout=5
        )
        assert bad_json.status_code == 400
        assert requests.get(f"{url}/does-not-exist", timeout=5).status_code == 404
        assert requests.get(f"{url}/predict", timeout=5).status_code == 405
        time.sleep(1.5)


@pytest.fixture(scope="module")
def stack(
    model_dir: Path, candidate_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    shadow = {"SHADOW_MODEL_DIR": str(candidate_dir)}
    with monitored_service(model_dir, workdir, **shadow) as (service, prom, am):
        started = time.time()
        drive_traffic(service.url)
        wait_for(
            lambda: query(prom, "job_model_class:model_predictions:share_rate1h"),
            20,
            "recording rules to see the traffic",
        )
        yield Stack(service, service.port, prom, am, workdir, started)


def prometheus_panels(
    dashboards: tuple[str, ...] | None = None,
) -> list[tuple[str, str, list[str]]]:
    """(dashboard, panel title, its PromQL) of every Prometheus panel, or of `dashboards`."""
    panels = []
    for path in DASHBOARDS:
        if dashboards is not None and path.name not in dashboards:
            continue
        for panel in load_dashboard(path)["panels"]:
            exprs = [t["expr"] for t in panel["targets"] if t["datasource"]["type"] == "prometheus"]
            if exprs:
                panels.append((path.name, panel["title"], exprs))
    return panels


def test_kubernetes_only_panels_are_exactly_the_listed_ones() -> None:
    reads_kubernetes = {
        (name, title)
        for name, title, exprs in prometheus_panels()
        if all(re.search(r"\b(kube_|container_)", expr) for expr in exprs)
    }
    assert reads_kubernetes == KUBERNETES_ONLY_PANELS


def test_every_dashboard_query_returns_data(stack: Stack) -> None:
    empty = []
    checked = 0
    for name, title, exprs in prometheus_panels():
        if (name, title) in KUBERNETES_ONLY_PANELS or (name, title) == ALERTS_PANEL:
            continue
        if name == REGRESSION_DASHBOARD:
            continue
        for expr in exprs:
            checked += 1
            if shows_a_blind_estimate(expr):
                continue  # inputs inside the training support here
            if not query(stack.prometheus, substitute(expr)):
                empty.append(f"{name} / {title}: {expr}")
    assert checked >= 25
    assert empty == []


def test_the_model_swap_annotation_marks_when_a_pod_began_serving(stack: Stack) -> None:
    version = requests.get(f"{stack.service.url}/model", timeout=5).json()["model_version"]
    for path in DASHBOARDS:
        for annotation in load_dashboard(path)["annotations"]["list"]:
            expr = substitute(annotation["expr"])
            at_start = stack.prometheus.get("/api/v1/query", query=expr, time=stack.started + 5)
            marks = {r["metric"]["model_version"] for r in at_start["data"]["result"]}
            assert marks == {version}, (path.name, expr)
            later = stack.prometheus.get("/api/v1/query", query=expr, time=stack.started + 90)
            assert later["data"]["result"] == [], "a version served for a while is no swap"


def test_dashboard_variables_list_the_served_model(stack: Stack) -> None:
    version = requests.get(f"{stack.service.url}/model", timeout=5).json()["model_version"]
    values = stack.prometheus.get(
        "/api/v1/label/model_version/values", **{"match[]": 'model_info{job="glassbox"}'}
    )["data"]
    assert values == [version]


def test_every_recording_rule_produces_series(stack: Stack) -> None:
    records = [
        rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    assert len(records) >= 20
    missing = [
        record
        for record in records
        if record not in REGRESSION_ONLY_RECORDS and not query(stack.prometheus, record)
    ]
    assert missing == []


def test_recording_rules_compute_the_right_values(stack: Stack) -> None:
    # Client errors are not server errors: the availability SLO is untouched.
    (ratio,) = query(stack.prometheus, "job:slo_availability_errors:ratio_rate5m")
    assert float(ratio["value"][1]) == 0
    priors = {
        s["metric"]["class"]: float(s["value"][1])
        for s in query(stack.prometheus, "job_model_class:model_class_prior:max")
    }
    assert priors == pytest.approx({"setosa": 1 / 3, "versicolor": 1 / 3, "virginica": 1 / 3})
    shares = query(stack.prometheus, "job_model_class:model_predictions:share_rate1h")
    assert sum(float(s["value"][1]) for s in shares) == pytest.approx(1.0)


def firing(am: Server, alertname: str) -> list[dict[str, Any]]:
    alerts: list[dict[str, Any]] = am.get("/api/v2/alerts", filter=f'alertname="{alertname}"')
    return [a for a in alerts if a["status"]["state"] == "active"]


def test_real_faults_reach_alertmanager(stack: Stack, tmp_path: Path) -> None:
    assert firing(stack.alertmanager, "GlassboxTargetDown") == []

    # Fault 1: the service goes away.
    stack.service.stop()
    (down,) = wait_for(
        lambda: firing(stack.alertmanager, "GlassboxTargetDown"), 30, "GlassboxTargetDown"
    )
    assert down["labels"]["severity"] == "critical"
    assert down["labels"]["instance"] == f"127.0.0.1:{stack.port}"
    assert down["annotations"]["runbook_url"].endswith("#glassboxtargetdown")
    assert [r["name"] for r in down["receivers"]] == ["pager"]

    # Fault 2: it comes back on the same port, without a model.
    with running_service(tmp_path / "no-model", tmp_path, wait_ready=False, port=stack.port):
        (not_loaded,) = wait_for(
            lambda: firing(stack.alertmanager, "GlassboxModelNotLoaded"),
            30,
            "GlassboxModelNotLoaded",
        )
        assert not_loaded["labels"]["severity"] == "critical"
        assert "model_load_failed" in not_loaded["annotations"]["description"]

        # The overview's active-alerts panel now has rows.
        (panel,) = [
            p
            for p in load_dashboard(ROOT / "dashboards" / ALERTS_PANEL[0])["panels"]
            if p["title"] == ALERTS_PANEL[1]
        ]
        rows = query(stack.prometheus, panel["targets"][0]["expr"])
        assert "GlassboxModelNotLoaded" in {row["metric"]["alertname"] for row in rows}


def test_alertmanager_inhibits_symptoms_of_a_down_target(stack: Stack) -> None:
    def alert(name: str, instance: str) -> dict[str, Any]:
        return {
            "labels": {"alertname": name, "job": "inhibition-test", "instance": instance,
                       "severity": "critical"},
            "annotations": {"summary": "inhibition test"},
        }  # fmt: skip

    requests.post(
        f"{stack.alertmanager.url}/api/v2/alerts",
        data=json.dumps(
            [
                alert("GlassboxTargetDown", "pod-a"),
                alert("GlassboxModelNotLoaded", "pod-a"),
                alert("GlassboxModelNotLoaded", "pod-b"),
            ]
        ),
        headers={"content-type": "application/json"},
        timeout=5,
    ).raise_for_status()

    def states() -> dict[str, list[str]]:
        alerts = stack.alertmanager.get(
            "/api/v2/alerts", filter=['job="inhibition-test"', 'alertname="GlassboxModelNotLoaded"']
        )
        return {a["labels"]["instance"]: a["status"]["inhibitedBy"] for a in alerts}

    result = wait_for(lambda: len(states()) == 2 and states(), 10, "alerts to be stored")
    assert result["pod-a"], "the down target's own model alert is inhibited"
    assert result["pod-b"] == [], "another instance's alert is not"


def test_kubernetes_scrape_job_relabels_a_pod_into_job_glassbox(tmp_path: Path) -> None:
    port = free_port()
    address = "127.0.0.1:9"  # what discovery reports; the port annotation must replace it
    unannotated = {
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "false",
        "__meta_kubernetes_pod_name": "unannotated",
    }
    finished = {
        "__meta_kubernetes_pod_phase": "Succeeded",
        "__meta_kubernetes_pod_name": "finished-job",
    }
    jobs = kubernetes_jobs_with_static_targets(
        [
            (address, pod_meta_labels(port)),
            (address, pod_meta_labels(port, **unannotated)),
            (address, pod_meta_labels(port, **finished)),
        ]
    )
    config = write_config(tmp_path / "prometheus.yaml", jobs, scrape_interval="1s")
    with (
        # Only /metrics is scraped here, so a service without a model will do.
        running_service(tmp_path / "no-model", tmp_path, wait_ready=False, port=port),
        prometheus(config, tmp_path) as prom,
    ):
        (series,) = wait_for(lambda: query(prom, "up == 1"), 30, "the relabelled target")
        labels = series["metric"]
        assert labels["job"] == "glassbox"
        assert labels["instance"] == f"127.0.0.1:{port}"
        assert {k: labels[k] for k in ("namespace", "pod", "container")} == {
            "namespace": "ml",
            "pod": "glassbox-7d9f-abc",
            "container": "glassbox",
        }
        targets = prom.get("/api/v1/targets")["data"]
        assert len(targets["activeTargets"]) == 1
        dropped_pods = {
            t["discoveredLabels"]["__meta_kubernetes_pod_name"] for t in targets["droppedTargets"]
        }
        assert dropped_pods == {"unannotated", "finished-job"}
