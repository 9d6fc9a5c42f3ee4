"""Prometheus rules and configs, checked by the real promtool and amtool."""

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.external.monitoring.kubernetes_sd import (
    kubernetes_jobs_with_static_targets,
    pod_meta_labels,
    write_config,
)
from tests.external.monitoring.queries import LOKI_RULE_FILES, RULE_FILES
from tests.support.service import ROOT

MONITORING = ROOT / "monitoring"
ALERTMANAGER_CONFIG = MONITORING / "alertmanager" / "alertmanager.yaml"
RULE_TESTS = sorted((MONITORING / "prometheus" / "tests").glob("*.yaml"))
RECORD_NAME = re.compile(r"[a-z_]+:[a-z_]+:[a-z0-9_]+")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def alerts(files: list[Path] = RULE_FILES) -> list[dict[str, Any]]:
    return [
        rule
        for path in files
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def records() -> list[str]:
    return [
        rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]


def test_promtool_accepts_the_local_prometheus_config() -> None:
    result = run("promtool", "check", "config", str(MONITORING / "prometheus" / "prometheus.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_kubernetes_scrape_job(tmp_path: Path) -> None:
    # Discovery swapped for static targets (see kubernetes_sd.py); relabeling checked as shipped.
    jobs = kubernetes_jobs_with_static_targets([("10.0.0.7:8000", pod_meta_labels(8000))])
    config = write_config(tmp_path / "prometheus.yaml", jobs)
    result = run("promtool", "check", "config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    result = run("promtool", "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = run("promtool", "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check["exp_alerts"] else silent).add(check["alertname"])
    names = {alert["alert"] for alert in alerts()}
    assert names - fires == set(), "alerts never shown to fire"
    assert names - silent == set(), "alerts never shown to stay silent"


def test_alerts_follow_the_conventions() -> None:
    runbook = (MONITORING / "runbook.md").read_text()
    headings = {line[3:].strip().lower() for line in runbook.splitlines() if line.startswith("## ")}
    for alert in alerts(RULE_FILES + LOKI_RULE_FILES):
        name = alert["alert"]
        assert re.fullmatch(r"Glassbox([A-Z][a-z0-9]*)+", name), name
        assert alert["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = alert["annotations"]
        assert annotations["summary"], name
        assert "{{" not in annotations["summary"], f"{name}: summary must be static"
        assert "{{" in annotations["description"], f"{name}: description is not templated"
        anchor = annotations["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower(), name
        assert anchor in headings, f"{name}: no runbook section"


def test_recording_rules_are_named_level_metric_operations() -> None:
    names = records()
    assert names
    for name in names:
        assert RECORD_NAME.fullmatch(name), name
    assert len(names) == len(set(names))


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = run("amtool", "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=GlassboxTargetDown"], "pager"),
        (["severity=warning", "alertname=GlassboxHighLatencyP99"], "ticket"),
        (["severity=info", "alertname=GlassboxNoTraffic"], "null"),
        (["alertname=SomethingElse"], "default"),
    ],
)
def test_alertmanager_routes_by_severity(labels: list[str], receiver: str) -> None:
    result = run(
        "amtool", "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", *labels
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == receiver


def test_every_alert_severity_reaches_a_receiver() -> None:
    severities = {alert["labels"]["severity"] for alert in alerts()}
    assert severities == {"critical", "warning", "info"}


def test_generated_files_match_the_mixin() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "monitoring.mixin", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + "run `make monitoring` and commit the result"


def test_latency_slo_threshold_is_a_histogram_bucket_edge() -> None:
    from app.observability.metrics import HTTP_LATENCY_BUCKETS
    from monitoring.mixin import config

    assert float(config.LATENCY_THRESHOLD_SECONDS) in HTTP_LATENCY_BUCKETS


def test_rule_files_are_the_ones_prometheus_loads() -> None:
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yaml").read_text())
    loaded = {(MONITORING / "prometheus" / path).resolve() for path in config["rule_files"]}
    assert loaded == {Path(path).resolve() for path in RULE_FILES}


def _days(duration: str) -> float:
    units = {"m": 1 / 1440, "h": 1 / 24, "d": 1, "w": 7, "y": 365}
    return float(duration[:-1]) * units[duration[-1]]


def test_prometheus_keeps_at_least_the_slo_period_wherever_it_is_configured() -> None:
    """A 30-day error budget over 7 days of data silently covers a quarter of it."""
    from monitoring.mixin import config

    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    flags = compose["services"]["prometheus"]["command"]
    (compose_retention,) = [
        flag.split("=", 1)[1] for flag in flags if flag.startswith("--storage.tsdb.retention.time")
    ]
    stack = yaml.safe_load((ROOT / "helm" / "stack" / "kube-prometheus-stack.yaml").read_text())
    helm_retention = stack["prometheus"]["prometheusSpec"]["retention"]
    slo_days = _days(config.SLO_PERIOD)
    assert _days(config.PROMETHEUS_RETENTION) >= slo_days
    assert compose_retention == config.PROMETHEUS_RETENTION
    assert helm_retention == config.PROMETHEUS_RETENTION
    rules = (ROOT / "monitoring" / "prometheus" / "rules" / "glassbox.rules.yaml").read_text()
    assert f"ratio_rate{config.SLO_PERIOD}" in rules
