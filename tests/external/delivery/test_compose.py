"""compose.yaml, validated with docker-compose and the compose-spec schema (not run: no Docker)."""

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.external.monitoring.pipelines import assert_alloy_matches_promtail, promtail_job
from tests.support.service import ROOT, VENV_BIN

COMPOSE = ROOT / "compose.yaml"


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def docker_compose_config(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GRAFANA_", "COMPOSE_"))}
    return subprocess.run(
        ["docker-compose", "--project-directory", str(ROOT), "-f", str(COMPOSE), "config", "-q"],
        env={**clean, **env}, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_docker_compose_accepts_the_file() -> None:
    result = docker_compose_config(GRAFANA_ADMIN_PASSWORD="from-the-test")
    assert result.returncode == 0, result.stderr


def test_grafana_has_no_default_password() -> None:
    result = docker_compose_config()
    assert result.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in result.stderr
    example = (ROOT / ".env.example").read_text()
    assert "GRAFANA_ADMIN_PASSWORD=\n" in example
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_compose_spec_schema() -> None:
    command = [str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec"]
    result = subprocess.run([*command, str(COMPOSE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_service_container_is_locked_down() -> None:
    service = compose()["services"]["glassbox"]
    assert service["read_only"] is True
    assert service["user"] == "10001:10001"
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert any(mount.startswith("/tmp") for mount in service["tmpfs"])


def test_every_port_is_bound_to_loopback_and_images_are_pinned() -> None:
    for name, service in compose()["services"].items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
        if "image" in service and "build" not in service:
            tag = service["image"].rsplit(":", 1)
            assert len(tag) == 2, name
            assert tag[1] not in {"latest", "main"}, name


def test_stack_has_every_component_and_one_log_shipper_per_profile() -> None:
    services = compose()["services"]
    assert {
        "glassbox",
        "prometheus",
        "alertmanager",
        "loki",
        "promtail",
        "alloy",
        "grafana",
    } <= set(services)
    assert services["promtail"]["profiles"] == ["promtail"]
    assert services["alloy"]["profiles"] == ["alloy"]
    assert "COMPOSE_PROFILES=promtail" in (ROOT / ".env.example").read_text()


def mounts(service: str) -> dict[str, Path]:
    """{container path: host path} of a service's bind mounts."""
    found = {}
    for volume in compose()["services"][service]["volumes"]:
        host, container = volume.split(":")[:2]
        if host.startswith("./"):
            found[container] = ROOT / host
    return found


def test_prometheus_config_and_rules_load_as_mounted(tmp_path: Path) -> None:
    """Lay out the container's files as compose mounts them, then let promtool check them."""
    for container, host in mounts("prometheus").items():
        target = tmp_path / container.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if host.is_dir():
            shutil.copytree(host, target)
        else:
            shutil.copy(host, target)
    result = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "etc/prometheus/prometheus.yaml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 rule files found" in result.stdout


@pytest.mark.parametrize(
    ("service", "container", "source"),
    [
        ("grafana", "/etc/grafana/provisioning", "monitoring/grafana/provisioning"),
        ("grafana", "/var/lib/grafana/dashboards/glassbox", "dashboards"),
        ("loki", "/etc/loki/loki.yaml", "monitoring/loki/loki.yaml"),
        (
            "alertmanager",
            "/etc/alertmanager/alertmanager.yaml",
            "monitoring/alertmanager/alertmanager.yaml",
        ),
    ],
)
def test_services_mount_the_single_sources(service: str, container: str, source: str) -> None:
    assert mounts(service)[container] == ROOT / source


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    provider = yaml.safe_load(
        (ROOT / "monitoring/grafana/provisioning/dashboards/glassbox.yaml").read_text()
    )["providers"][0]
    assert provider["options"]["path"] in mounts("grafana")
    datasources = yaml.safe_load(
        (ROOT / "monitoring/grafana/provisioning/datasources/glassbox.yaml").read_text()
    )["datasources"]
    services = set(compose()["services"])
    for source in datasources:
        host = source["url"].split("//")[1].split(":")[0]
        assert host in services, source["url"]


def test_compose_promtail_runs_the_same_glassbox_stages() -> None:
    cluster = promtail_job()
    (local,) = yaml.safe_load((ROOT / "monitoring/compose/promtail.yaml").read_text())[
        "scrape_configs"
    ]
    # Docker lines need no cri stage; the rest is the cluster's, labeldrop included.
    assert local["pipeline_stages"] == [s for s in cluster["pipeline_stages"] if "cri" not in s]
    targets = {r["target_label"] for r in local["relabel_configs"]}
    assert {"app", "namespace", "pod", "container"} <= targets


def test_compose_alloy_matches_the_compose_promtail() -> None:
    config = (ROOT / "monitoring/compose/config.alloy").read_text()
    assert_alloy_matches_promtail(config)
    assert 'url = "http://loki:3100/loki/api/v1/push"' in config
