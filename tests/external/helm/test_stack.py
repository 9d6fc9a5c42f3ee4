"""helm/stack/: the upstream charts' values agree with the app chart and with monitoring/.

The upstream charts cannot be downloaded here, so these tests check that the pieces fit
together: the same log pipeline, the same labels, Secrets instead of passwords, pinned
versions. The keys were checked by reading each pinned version's values.yaml.
"""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.mixin.__main__ import outputs
from tests.external.helm.chart import CHART
from tests.external.monitoring.pipelines import PROMTAIL, assert_alloy_matches_promtail
from tests.support.service import ROOT

STACK = ROOT / "helm" / "stack"
SCRIPT = (ROOT / "scripts" / "stack.sh").read_text()


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def versions() -> dict[str, str]:
    pairs = (
        line.split("#")[0].strip() for line in (STACK / "versions.env").read_text().splitlines()
    )
    return dict(pair.split("=", 1) for pair in pairs if pair)


def test_upstream_charts_are_pinned_to_exact_versions() -> None:
    pinned = versions()
    for name in ("KUBE_PROMETHEUS_STACK", "LOKI", "PROMTAIL", "ALLOY", "VALKEY", "TEMPO"):
        assert re.fullmatch(r"\d+\.\d+\.\d+", pinned[f"{name}_VERSION"]), name
        assert f'--version "${name}_VERSION"' in SCRIPT, f"{name} installed unpinned"


def test_every_log_pipeline_config_is_generated_from_one_definition() -> None:
    """Promtail (cluster, compose, chart) and Alloy (compose, chart) are outputs of
    monitoring/mixin/log_pipeline.py, so `make monitoring --check` catches a hand edit."""
    generated = set(outputs())
    shipped = {
        PROMTAIL,
        ROOT / "monitoring" / "compose" / "promtail.yaml",
        ROOT / "monitoring" / "compose" / "config.alloy",
        STACK / "promtail.yaml",
        STACK / "alloy.yaml",
    }
    assert shipped <= generated
    chart_stages = load(STACK / "promtail.yaml")["config"]["snippets"]["pipelineStages"]
    (job,) = yaml.safe_load(PROMTAIL.read_text())["scrape_configs"]
    assert chart_stages == job["pipeline_stages"]  # the renderer's, not a copy's, equality


def test_alloy_runs_an_equivalent_pipeline() -> None:
    config = load(STACK / "alloy.yaml")["alloy"]["configMap"]["content"]
    assert_alloy_matches_promtail(config)
    assert "stage.cri {}" in config  # pod log files, like Promtail's cri stage
    for label in ("app", "namespace", "pod", "container", "__path__"):
        assert f'target_label  = "{label}"' in config, label


def test_log_shippers_push_to_the_loki_the_datasource_reads() -> None:
    loki_url = load(STACK / "app-values.yaml")["grafana"]["datasources"]["lokiUrl"]
    (client,) = load(STACK / "promtail.yaml")["config"]["clients"]
    assert client["url"] == f"{loki_url}/loki/api/v1/push"
    assert (
        f'url = "{loki_url}/loki/api/v1/push"'
        in load(STACK / "alloy.yaml")["alloy"]["configMap"]["content"]
    )
    assert loki_url.startswith("http://loki-gateway.")  # the Loki chart's gateway Service


def test_loki_chart_matches_the_local_loki_config() -> None:
    local = load(ROOT / "monitoring" / "loki" / "loki.yaml")
    chart = load(STACK / "loki.yaml")
    assert chart["deploymentMode"] == "SingleBinary"
    assert chart["singleBinary"]["replicas"] == 1
    assert all(chart[part]["replicas"] == 0 for part in ("read", "write", "backend"))
    assert chart["loki"]["schemaConfig"] == local["schema_config"]
    for key in ("retention_period", "allow_structured_metadata"):
        assert chart["loki"]["limits_config"][key] == local["limits_config"][key]
    assert chart["loki"]["compactor"]["retention_enabled"] is True
    assert chart["loki"]["compactor"]["delete_request_store"] == "filesystem"


def test_prometheus_selects_the_apps_monitors_and_rules() -> None:
    spec = load(STACK / "kube-prometheus-stack.yaml")["prometheus"]["prometheusSpec"]
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    app = load(STACK / "app-values.yaml")["metrics"]
    assert app["serviceMonitor"]["enabled"] is True
    assert app["prometheusRule"]["enabled"] is True
    # Even with default selectors, the chart's release label is the one the stack uses.
    release = load(CHART / "values.yaml")["metrics"]["serviceMonitor"]["additionalLabels"][
        "release"
    ]
    assert f"upgrade --install {release} prometheus-community/kube-prometheus-stack" in SCRIPT


def test_grafana_sidecar_finds_the_charts_configmaps() -> None:
    grafana = load(STACK / "kube-prometheus-stack.yaml")["grafana"]
    chart = load(CHART / "values.yaml")["grafana"]
    dashboards, datasources = grafana["sidecar"]["dashboards"], grafana["sidecar"]["datasources"]
    assert (dashboards["label"], dashboards["labelValue"]) == (
        chart["dashboards"]["label"], chart["dashboards"]["labelValue"],
    )  # fmt: skip
    assert (datasources["label"], datasources["labelValue"]) == (
        chart["datasources"]["label"], chart["datasources"]["labelValue"],
    )  # fmt: skip
    assert dashboards["searchNamespace"] == datasources["searchNamespace"] == "ALL"
    assert (
        dashboards["folderAnnotation"]
        in (CHART / "templates" / "grafana-dashboards.yaml").read_text()
    )


def test_no_default_passwords_anywhere_in_the_stack() -> None:
    grafana = load(STACK / "kube-prometheus-stack.yaml")["grafana"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin"
    assert "adminPassword" not in grafana
    assert "create secret generic grafana-admin" in SCRIPT
    assert "/dev/urandom" in SCRIPT
    for path in STACK.glob("*.yaml"):
        assert not re.search(r"(?i)password:\s*\S", path.read_text().replace("passwordKey", "")), (
            path
        )


def test_alertmanager_runs_the_projects_config_from_a_secret() -> None:
    spec = load(STACK / "kube-prometheus-stack.yaml")["alertmanager"]["alertmanagerSpec"]
    assert spec["useExistingSecret"] is True
    assert f"create secret generic {spec['configSecret']}" in SCRIPT
    assert "--from-file=alertmanager.yaml=monitoring/alertmanager/alertmanager.yaml" in SCRIPT


@pytest.mark.parametrize(
    "script", [*sorted((ROOT / "scripts").glob("*.sh")), ROOT / ".ci" / "run"], ids=lambda p: p.name
)
def test_shell_scripts_pass_shellcheck(script: Path) -> None:
    result = subprocess.run(
        ["shellcheck", "--severity=warning", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
