"""Dashboard JSON: fixed uids, the shared tag, datasources only through variables."""

import json
from pathlib import Path
from typing import Any

import pytest

from monitoring.mixin import config
from tests.external.monitoring.queries import DASHBOARDS, load_dashboard

EXPECTED = {
    "glassbox-overview.json": "glassbox-overview",
    "glassbox-model.json": "glassbox-model",
    "glassbox-model-regression.json": "glassbox-model-regression",
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


def test_the_dashboards_exist_with_fixed_uids() -> None:
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


def panels_of(name: str) -> dict[str, dict[str, Any]]:
    dashboard = load_dashboard(DASHBOARDS[0].parent / name)
    return {panel["title"]: panel for panel in dashboard["panels"]}


def steps(panel: dict[str, Any]) -> list[tuple[str, float | None]]:
    thresholds = panel["fieldConfig"]["defaults"].get("thresholds", {"steps": []})
    assert thresholds.get("mode", "absolute") == "absolute"
    return [(step["color"], step["value"]) for step in thresholds["steps"]]


def unit(panel: dict[str, Any]) -> str:
    found: str = panel["fieldConfig"]["defaults"]["unit"]
    return found


def test_the_overview_opens_on_an_at_a_glance_row() -> None:
    """Up, ready, which model, and errors and p99 against the SLO: the first row."""
    overview = load_dashboard(DASHBOARDS[0].parent / "glassbox-overview.json")
    first_row = [p for p in overview["panels"] if p["gridPos"]["y"] == 0]
    assert [p["type"] for p in first_row] == ["stat"] * 5
    assert sum(p["gridPos"]["w"] for p in first_row) == 24
    queries = [p["targets"][0]["expr"] for p in first_row]
    assert queries[0].startswith("up{")
    assert "model_loaded" in queries[1]
    assert "model_info" in queries[2]
    assert 'status=~"5.."' in queries[3]
    assert "histogram_quantile(0.99" in queries[4]
    up, ready = first_row[0], first_row[1]
    for panel in (up, ready):
        assert steps(panel) == [("red", None), ("green", 1.0)]
        texts = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
        assert texts["0"]["color"] == "red"
        assert texts["1"]["color"] == "green"
    assert [unit(p) for p in first_row] == ["none", "none", "none", "percentunit", "s"]


def test_slo_budget_burn_and_psi_panels_say_green_amber_red_at_the_documented_levels() -> None:
    overview = panels_of("glassbox-overview.json")
    budget = 1 - config.AVAILABILITY.objective
    page = config.FAST_BURN[0].factor
    expected = {
        "5xx ratio now (/predict)": [("green", None), ("orange", budget), ("red", budget * page)],
        "p99 latency now (/predict)": [
            ("green", None),
            ("orange", float(config.LATENCY_THRESHOLD_SECONDS)),
            ("red", config.HIGH_P99_SECONDS),
        ],
        "Availability error budget remaining": [
            ("red", None),
            ("orange", 0.0),
            ("green", config.BUDGET_LOW_REMAINING),
        ],
        "Latency error budget remaining": [
            ("red", None),
            ("orange", 0.0),
            ("green", config.BUDGET_LOW_REMAINING),
        ],
        "Error budget burn rate (1h)": [("green", None), ("orange", 1.0), ("red", page)],
    }
    for title, levels in expected.items():
        found = steps(overview[title])
        assert [colour for colour, _ in found] == [colour for colour, _ in levels], title
        assert [v for _, v in found][1:] == pytest.approx([v for _, v in levels][1:]), title
    for slo in (config.AVAILABILITY, config.LATENCY):
        (title,) = [t for t in overview if t.startswith(f"{slo.name.title()} SLO")]
        colour, low, high = steps(overview[title])
        assert (colour, low[0], high[0]) == (("red", None), "orange", "green")
        assert low[1] == slo.objective  # red below the objective itself
        assert high[1] is not None
        assert slo.objective < high[1] < 1
    (psi,) = [p for t, p in panels_of("glassbox-model.json").items() if "PSI" in t]
    assert steps(psi) == [
        ("green", None),
        ("orange", config.DRIFT_PSI_MODERATE),
        ("red", config.DRIFT_PSI_THRESHOLD),
    ]
    assert psi["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_units_fit_what_each_panel_counts() -> None:
    """reqps only where requests are counted; values per second are not requests."""
    for path in DASHBOARDS:
        for panel in load_dashboard(path)["panels"]:
            exprs = " ".join(t["expr"] for t in panel["targets"])
            if unit(panel) == "reqps":
                assert "http_requests_total" in exprs, (path.name, panel["title"])
    model = panels_of("glassbox-model.json")
    assert unit(model["Values outside the training range"]) == "cps"
    for title, panel in model.items():
        if "PSI" in title:
            assert unit(panel) == "none"


def test_model_swaps_are_annotated_on_the_latency_and_model_dashboards() -> None:
    for name in ("glassbox-overview.json", "glassbox-model.json"):
        (swaps,) = load_dashboard(DASHBOARDS[0].parent / name)["annotations"]["list"]
        assert swaps["enable"] is True
        assert "model_info" in swaps["expr"]
        assert "unless" in swaps["expr"]
        assert "{{model_version}}" in swaps["titleFormat"]
