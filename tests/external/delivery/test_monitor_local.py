"""`make monitor-up` / `monitor-down`: the shipped Prometheus and Alertmanager in the
background, alerts routed to a local printer a user can read, stopped by their pid files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.external.monitoring.servers import wait_for
from tests.support.service import ROOT, free_port


def monitor(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.monitor_local", command], cwd=ROOT,
        env={**os.environ, **env}, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_monitor_runs_in_the_background_and_prints_alerts_locally(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("PROMETHEUS", "ALERTMANAGER", "ALERT_PRINTER")}
    env = {f"{name}_PORT": str(port) for name, port in ports.items()}
    env |= {"MONITOR_DIR": str(tmp_path), "SERVICE_PORT": "18123"}
    up = monitor("up", env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        pids = {p.stem: int(p.read_text()) for p in tmp_path.glob("*.pid")}
        assert set(pids) == {"prometheus", "alertmanager", "printer"}
        assert monitor("up", env).returncode != 0  # one at a time

        prometheus = f"http://127.0.0.1:{ports['PROMETHEUS']}"

        def scrape_urls() -> list[str]:
            targets = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]
            return [t["scrapeUrl"] for t in targets["activeTargets"]]

        urls = wait_for(scrape_urls, 30, "Prometheus' targets")
        assert urls == ["http://127.0.0.1:18123/metrics"]
        rules = requests.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        assert any(rule["name"] == "GlassboxTargetDown" for g in rules for rule in g["rules"])

        alertmanager = f"http://127.0.0.1:{ports['ALERTMANAGER']}"
        loaded = requests.get(f"{alertmanager}/api/v2/status", timeout=5).json()
        assert ".svc" not in loaded["config"]["original"]  # no cluster DNS names
        alert = {
            "labels": {"alertname": "GlassboxTargetDown", "severity": "critical"},
            "annotations": {"summary": "down", "runbook_url": "https://example/runbook"},
        }
        posted = requests.post(f"{alertmanager}/api/v2/alerts", json=[alert], timeout=5)
        assert posted.status_code == 200

        log = tmp_path / "alerts.log"
        printed = wait_for(lambda: log.exists() and log.read_text(), 30, "the printed alert")
        (line,) = [json.loads(text) for text in printed.splitlines()]
        assert (line["receiver"], line["alertname"], line["status"]) == (
            "pager",  # the shipped route for critical alerts
            "GlassboxTargetDown",
            "firing",
        )
        assert line["runbook_url"] == "https://example/runbook"
    finally:
        down = monitor("down", env)
    assert down.returncode == 0
    assert "prometheus" in down.stdout
    wait_for(lambda: not any(alive(pid) for pid in pids.values()), 20, "every process to stop")
    assert not list(tmp_path.glob("*.pid"))


def test_monitor_installs_only_prometheus_and_alertmanager() -> None:
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", "monitor-up"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout  # fmt: skip
    (install,) = [line for line in dry_run.splitlines() if "install_tools.py" in line]
    commands = install.split("--commands", 1)[1].split()
    assert commands == ["prometheus", "promtool", "prometheus-alertmanager", "amtool"]
    for extra in ("npm", "checkov", "--only helm", "requirements-dev.lock"):
        assert extra not in dry_run, extra
