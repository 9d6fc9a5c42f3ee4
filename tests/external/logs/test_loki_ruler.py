"""Loki's ruler runs the shipped log alerts and the real Alertmanager receives one.

A service started without a model writes `model_load_failed`; Promtail (the compose
pipeline) ships it, Loki's ruler evaluates monitoring/loki/rules/ every 5 s (the shipped
files, only the group interval shortened) and sends GlassboxModelLoadFailed, with the
failure's reason as a label, to the Alertmanager the shipped routing config runs.
"""

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.external.logs.servers import PROMTAIL_COMPOSE, docker_log_path, loki, promtail
from tests.external.monitoring.servers import alertmanager, wait_for
from tests.support.service import ROOT, running_service

pytestmark = pytest.mark.logs


def alerts(url: str) -> list[dict[str, Any]]:
    response = requests.get(f"{url}/api/v2/alerts", timeout=5)
    response.raise_for_status()
    found: list[dict[str, Any]] = response.json()
    return found


def test_a_model_load_failure_reaches_alertmanager_through_lokis_ruler(tmp_path: Path) -> None:
    config = ROOT / "monitoring" / "alertmanager" / "alertmanager.yaml"
    docker = tmp_path / "docker"

    with (
        alertmanager(config, tmp_path) as am,
        loki(tmp_path, alertmanager=am.url) as server,
        running_service(tmp_path / "no-model", tmp_path / "service", wait_ready=False) as svc,
    ):
        container_log = docker_log_path(docker)  # where the overlay's static target points
        container_log.parent.mkdir(parents=True)
        container_log.symlink_to(svc.stdout_path)

        def fired() -> list[dict[str, Any]]:
            return [
                a for a in alerts(am.url) if a["labels"]["alertname"] == "GlassboxModelLoadFailed"
            ]

        with promtail(PROMTAIL_COMPOSE, tmp_path, server.url, docker):
            (failure,) = svc.wait_for_log("model_load_failed")[:1]
            (alert,) = wait_for(fired, 90, "GlassboxModelLoadFailed in Alertmanager")
            assert alert["labels"]["reason"] == failure["reason"]
            assert alert["labels"]["severity"] == "critical"
            assert alert["labels"]["namespace"] == "glassbox"  # the compose project
            assert alert["annotations"]["runbook_url"].endswith("#glassboxmodelloadfailed")
            names = {a["labels"]["alertname"] for a in alerts(am.url)}
            assert "GlassboxUnhandledExceptions" not in names, json.dumps(alerts(am.url))
