"""Collect every PromQL and LogQL query the project ships, and check their syntax."""

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import yaml

from tests.support.service import ROOT

DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
RULE_FILES = sorted((ROOT / "monitoring" / "prometheus" / "rules").glob("*.yaml"))
LOKI_RULE_FILES = sorted((ROOT / "monitoring" / "loki" / "rules").glob("*.yaml"))
DOCS = [
    ROOT / "README.md",
    ROOT / "monitoring" / "runbook.md",
    *sorted((ROOT / "docs").glob("*.md")),
]
PROVISIONING = ROOT / "monitoring" / "grafana" / "provisioning"

# What Grafana substitutes before a query reaches Prometheus or Loki.
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__auto": "1m",
    "$__range": "5m",
    "${__value.raw}": "0123456789abcdef",
    "$namespace": ".*",
    "$pod": ".*",
    "$model_version": ".*",
    "$handler": ".*",
    "$feature": "petal_length",
    "$request_id": "0123456789abcdef",
    "${__trace.traceId}": "0af7651916cd43dd8448eb211c80319c",
}


def substitute(query: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        query = query.replace(variable, value)
    return query


def load_dashboard(path: Path) -> dict[str, Any]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return dashboard


def dashboard_targets(kind: str) -> Iterator[tuple[str, str, str]]:
    """(dashboard file, panel title, query) for every target of the given datasource type,
    the dashboards' annotation queries included."""
    for path in DASHBOARDS:
        dashboard = load_dashboard(path)
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == kind:
                    yield path.name, panel["title"], target["expr"]
        for annotation in dashboard["annotations"]["list"]:
            if annotation["datasource"]["type"] == kind:
                yield path.name, f"annotation {annotation['name']}", annotation["expr"]


def dashboard_variable_queries(kind: str) -> Iterator[str]:
    for path in DASHBOARDS:
        for variable in load_dashboard(path)["templating"]["list"]:
            if variable["type"] == "query" and variable["datasource"]["type"] == kind:
                yield variable["definition"]


def rule_expressions(files: list[Path] = RULE_FILES) -> Iterator[tuple[str, str]]:
    for path in files:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield rule.get("alert") or rule["record"], rule["expr"]


def fenced_blocks(language: str) -> Iterator[tuple[str, str]]:
    pattern = re.compile(rf"```{language}\n(.*?)```", re.DOTALL)
    for path in DOCS:
        for block in pattern.findall(path.read_text()):
            yield path.name, block.strip()


def provisioning_logql() -> dict[str, str]:
    """The LogQL Grafana runs from a link: Loki's derived fields that open Loki, by field
    name, and Tempo's trace-to-logs query as `tracesToLogsV2` (un-substituted)."""
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "glassbox.yaml").read_text())
    queries = {}
    for source in datasources["datasources"]:
        data = source.get("jsonData", {})
        for field in data.get("derivedFields", []):
            if field["datasourceUid"] == "loki":
                queries[field["name"]] = field["url"]
        if "tracesToLogsV2" in data:
            queries["tracesToLogsV2"] = data["tracesToLogsV2"]["query"]
    return queries


def promql_error(query: str) -> str | None:
    try:
        promql_parser.parse(query)
    except ValueError as exc:
        return str(exc)
    return None


def logql_errors(queries: list[str]) -> list[dict[str, str]]:
    result = subprocess.run(
        ["node", str(Path(__file__).with_name("logql_check.cjs"))],
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    failures: list[dict[str, str]] = json.loads(result.stdout)
    return failures


def shows_a_blind_estimate(expr: str) -> bool:
    """The query of an estimate while inputs are outside the training support: it has data
    only then (test_any_model's regression stack sends such inputs and checks it)."""
    return "out_of_support" in expr and "and on (job, model_name)" in expr
