"""Dashboard JSON: fixed uids, the shared tag, datasources only through variables."""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.monitoring.queries import DASHBOARDS, load_dashboard

EXPECTED = {
    "glassbox-overview.json": "glassbox-overview",
    "glassbox-model.json": "glassbox-model",
    "glassbox-logs.json": "glassbox-logs",
    "glassbox-capacity.json": "glassbox-capacity",
}


def datasource_refs(node: Any) -> list[dict[str, str]]:
    """Every {"type", "uid"} datasource reference anywhere in the dashboard."""
    found: list[dict[str, str]] = []
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict):
            found.append(node["datasource"])
        for value in node.values():
            found.extend(datasource_refs(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(datasource_refs(value))
    return found


def test_the_four_dashboards_exist_with_fixed_uids() -> None:
    assert {path.name: load_dashboard(path)["uid"] for path in DASHBOARDS} == EXPECTED


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path: Path) -> None:
    dashboard = load_dashboard(path)
    assert dashboard["tags"] == ["glassbox"]
    assert dashboard["title"].startswith("Glassbox / ")
    assert "__inputs" not in dashboard
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    datasource_vars = {name for name, v in variables.items() if v["type"] == "datasource"}
    assert datasource_vars

    for ref in datasource_refs(dashboard):
        assert ref["uid"].startswith("${"), f"hard-coded datasource uid: {ref}"
        assert ref["uid"][2:-1] in datasource_vars, ref

    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["description"], panel["title"]


def test_prometheus_dashboards_filter_by_namespace_and_pod() -> None:
    for name in ("glassbox-overview.json", "glassbox-model.json", "glassbox-capacity.json"):
        variables = {
            v["name"] for v in load_dashboard(DASHBOARDS[0].parent / name)["templating"]["list"]
        }
        assert {"datasource", "namespace", "pod"} <= variables, name
    model = load_dashboard(DASHBOARDS[0].parent / "glassbox-model.json")
    assert "model_version" in {v["name"] for v in model["templating"]["list"]}


def test_logs_dashboard_finds_every_line_of_one_request() -> None:
    logs = load_dashboard(DASHBOARDS[0].parent / "glassbox-logs.json")
    (textbox,) = [v for v in logs["templating"]["list"] if v["name"] == "request_id"]
    assert textbox["type"] == "textbox"
    request_panels = [
        p
        for p in logs["panels"]
        if any('request_id="$request_id"' in t["expr"] for t in p["targets"])
    ]
    assert [p["type"] for p in request_panels] == ["logs"]


def test_overview_error_panels_link_to_the_logs_dashboard() -> None:
    overview = load_dashboard(DASHBOARDS[0].parent / "glassbox-overview.json")
    error_panels = [p for p in overview["panels"] if "5xx" in p["title"] or "4xx" in p["title"]]
    assert len(error_panels) >= 2
    for panel in error_panels:
        assert any("/d/glassbox-logs/" in link["url"] for link in panel["links"]), panel["title"]


def test_overview_shows_red_slo_and_alerts() -> None:
    overview = load_dashboard(DASHBOARDS[0].parent / "glassbox-overview.json")
    text = json.dumps(overview)
    for needle in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "job:slo_availability_errors:ratio_rate30d",
        "job:slo_latency_errors:ratio_rate30d",
        "ALERTS",
    ):
        assert needle in text, needle
    assert "heatmap" in {p["type"] for p in overview["panels"]}
