"""Real Loki and Promtail processes running the shipped configs, for the `logs` tests.

No registry reachable from CI ships Loki or Promtail, so the binaries come from
LOKI_BIN / PROMTAIL_BIN (or PATH); the e2e workflow downloads the pinned releases and
checks their published checksums (scripts/fetch_e2e_binaries.py). Without them these
tests are deselected from `make test` (tests/conftest.py) and fail, never skip, when
selected with `make test-logs`.

Overlays change only what must differ on a test machine: listen addresses, data paths,
Alertmanager's address, and pod/container discovery (Docker and Kubernetes are not here),
replaced by static targets carrying the same `__meta_*` labels, so the shipped relabeling
and pipeline stages run unchanged.
"""

import copy
import glob
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.external.monitoring.servers import running_binary
from tests.support.service import ROOT, free_port

MONITORING = ROOT / "monitoring"
LOKI_CONFIG = MONITORING / "loki" / "loki.yaml"
LOKI_RULES = MONITORING / "loki" / "rules"
PROMTAIL_KUBERNETES = MONITORING / "promtail" / "promtail.yaml"
PROMTAIL_COMPOSE = MONITORING / "compose" / "promtail.yaml"
TEMPO_CONFIG = MONITORING / "tempo" / "tempo.yaml"
TENANT = "fake"  # Loki's tenant when auth_enabled is false

# What pod discovery would attach to the Glassbox container (same as the Prometheus tests).
POD_META = {
    "__meta_kubernetes_namespace": "ml",
    "__meta_kubernetes_pod_name": "glassbox-7d9f-abc",
    "__meta_kubernetes_pod_container_name": "glassbox",
    "__meta_kubernetes_pod_phase": "Running",
    "__meta_kubernetes_pod_uid": "0f5e6c1a-3b1d-4c55-9b7e-2a1f0e9d8c7b",
    "__meta_kubernetes_pod_label_app_kubernetes_io_name": "glassbox",
}
# What Docker discovery would attach to the compose service's container.
CONTAINER_META = {
    "__meta_docker_container_id": "4f2a9c0e7b1d" + "0" * 52,
    "__meta_docker_container_label_com_docker_compose_service": "glassbox",
    "__meta_docker_container_label_com_docker_compose_project": "glassbox",
    "__meta_docker_container_name": "/glassbox-glassbox-1",
}
# The stream labels docs/monitoring.md promises, whichever pipeline shipped the line.
DOCUMENTED_LABELS = {"app", "namespace", "pod", "container", "level"}
KUBELET_LOG_ROOT = "/var/log/pods/"  # where the shipped relabeling looks


def kubelet_log_path(root: Path, meta: dict[str, str] = POD_META) -> Path:
    """Where the kubelet writes a container's first log file, from the same metadata pod
    discovery gives Promtail: <root>/<namespace>_<pod>_<full pod UID>/<container>/0.log."""
    pod = "_".join(meta[f"__meta_kubernetes_{key}"] for key in ("namespace", "pod_name", "pod_uid"))
    return root / pod / meta["__meta_kubernetes_pod_container_name"] / "0.log"


def docker_log_path(root: Path, meta: dict[str, str] = CONTAINER_META) -> Path:
    """The container's own directory, as Docker lays it out (<root>/containers/<id>/).
    docker_sd reads lines through the Docker API, already decoded; the overlay tails a file
    of those decoded lines here instead."""
    container = meta["__meta_docker_container_id"]
    return root / "containers" / container / f"{container}.log"


def binary(env: str, name: str) -> str:
    """The binary from env or PATH; a clear failure (not a skip) when it is absent."""
    path = os.environ.get(env) or shutil.which(name)
    if not path:
        pytest.fail(
            f"{name} not found: set {env} or put {name} on PATH "
            "(scripts/fetch_e2e_binaries.py downloads the pinned release)"
        )
    return path


def loki_overlay(workdir: Path, http_port: int, grpc_port: int, alertmanager: str) -> Any:
    config = yaml.safe_load(LOKI_CONFIG.read_text())
    data = workdir / "loki"
    config["server"].update(
        http_listen_address="127.0.0.1",
        http_listen_port=http_port,
        grpc_listen_address="127.0.0.1",
        grpc_listen_port=grpc_port,
    )
    config["common"]["path_prefix"] = str(data)
    config["common"]["storage"]["filesystem"]["chunks_directory"] = str(data / "chunks")
    config["compactor"]["working_directory"] = str(data / "compactor")
    ruler = config["ruler"]
    ruler["alertmanager_url"] = alertmanager
    ruler["rule_path"] = str(data / "rules-scratch")
    ruler["storage"]["local"]["directory"] = str(workdir / "rules")
    return config


def promtail_overlay(
    shipped: Path, workdir: Path, loki_url: str, log_root: Path, http_port: int
) -> Any:
    """The shipped Promtail config on this machine: `log_root` stands in for the kubelet's
    /var/log/pods (Kubernetes) or Docker's data root (compose), so the log files are laid
    out by `kubelet_log_path` / `docker_log_path` from the metadata the targets carry."""
    config = yaml.safe_load(shipped.read_text())
    config["server"].update(
        http_listen_address="127.0.0.1", http_listen_port=http_port, grpc_listen_port=0
    )
    config["positions"]["filename"] = str(workdir / "positions.yaml")
    (client,) = config["clients"]
    client["url"] = f"{loki_url}/loki/api/v1/push"
    (job,) = config["scrape_configs"]
    if "kubernetes_sd_configs" in job:
        del job["kubernetes_sd_configs"]
        job["static_configs"] = [{"targets": ["localhost"], "labels": POD_META}]
        for rule in job["relabel_configs"]:  # the kubelet's log directory, moved here
            if rule.get("target_label") == "__path__":
                assert rule["replacement"].startswith(KUBELET_LOG_ROOT), rule
                rule["replacement"] = rule["replacement"].replace(KUBELET_LOG_ROOT, f"{log_root}/")
    else:
        del job["docker_sd_configs"]
        labels = {**CONTAINER_META, "__path__": str(docker_log_path(log_root))}
        job["static_configs"] = [{"targets": ["localhost"], "labels": labels}]
    return config


def overlay_rules(workdir: Path, interval: str) -> Path:
    """The shipped log alerts, evaluated every `interval` instead of every minute."""
    tenant = workdir / "rules" / TENANT
    tenant.mkdir(parents=True)
    for source in LOKI_RULES.glob("*.yaml"):
        document = yaml.safe_load(source.read_text())
        for group in document["groups"]:
            group["interval"] = interval
        (tenant / source.name).write_text(yaml.safe_dump(copy.deepcopy(document)))
    return tenant


@dataclass
class Loki:
    url: str
    log: Path

    def query_range(self, query: str, start_ns: int, end_ns: int) -> Any:
        params: dict[str, str | int] = {
            "query": query,
            "start": start_ns,
            "end": end_ns,
            "limit": 5000,
            "direction": "forward",
        }
        response = requests.get(
            f"{self.url}/loki/api/v1/query_range",
            params=params,
            # Structured metadata and parsed labels apart from the stream labels.
            headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
            timeout=30,
        )
        assert response.status_code == 200, (query, response.text)
        return response.json()["data"]

    def query(self, query: str, at_ns: int) -> Any:
        params: dict[str, str | int] = {"query": query, "time": at_ns}
        response = requests.get(f"{self.url}/loki/api/v1/query", params=params, timeout=30)
        assert response.status_code == 200, (query, response.text)
        return response.json()["data"]


@contextmanager
def loki(workdir: Path, alertmanager: str = "http://127.0.0.1:9") -> Iterator[Loki]:
    http_port, grpc_port = free_port(), free_port()
    overlay_rules(workdir, "5s")
    config = loki_overlay(workdir, http_port, grpc_port, alertmanager)
    config["ruler"]["evaluation_interval"] = "5s"
    config["ruler"]["poll_interval"] = "2s"
    path = workdir / "loki.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    url = f"http://127.0.0.1:{http_port}"
    log = workdir / "loki.log"
    command = [binary("LOKI_BIN", "loki"), f"-config.file={path}"]
    with running_binary(command, log, f"{url}/ready", timeout=90):  # Loki's ring: ~15 s
        yield Loki(url, log)


def promtail_targets(log: Path) -> str:
    """Why Promtail is not ready, from its own log: it answers /ready with 500 until it tails
    a file, so say which path patterns it added and whether any file matches each."""
    # key="<path pattern>:{<labels>}", the labels' quotes escaped
    keys = re.findall(r'Adding target key="([^"{]*)', log.read_text(errors="replace"))
    if not keys:
        return "Promtail added no target: discovery or relabeling dropped every one"
    patterns = [key.removesuffix(":") for key in keys]
    return "\n".join(f"target {p}: {len(glob.glob(p))} file(s) match" for p in patterns)


@contextmanager
def promtail(shipped: Path, workdir: Path, loki_url: str, log_root: Path) -> Iterator[None]:
    port = free_port()
    config = promtail_overlay(shipped, workdir, loki_url, log_root, port)
    path = workdir / f"promtail-{shipped.parent.name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [binary("PROMTAIL_BIN", "promtail"), f"-config.file={path}"]
    ready = f"http://127.0.0.1:{port}/ready"
    log = workdir / f"{path.stem}.log"
    with running_binary(command, log, ready, timeout=90, explain=lambda: promtail_targets(log)):
        yield


def tempo_overlay(workdir: Path, http_port: int, grpc_port: int, otlp_port: int) -> Any:
    """The shipped Tempo config on this machine: listen addresses and data paths only (the
    OTLP gRPC receiver, which nothing here sends to, is left out to spare a port)."""
    config = yaml.safe_load(TEMPO_CONFIG.read_text())
    config["server"].update(
        http_listen_address="127.0.0.1",
        http_listen_port=http_port,
        grpc_listen_address="127.0.0.1",
        grpc_listen_port=grpc_port,
    )
    protocols = config["distributor"]["receivers"]["otlp"]["protocols"]
    protocols["http"]["endpoint"] = f"127.0.0.1:{otlp_port}"
    del protocols["grpc"]
    local = config["storage"]["trace"]
    local["local"]["path"] = str(workdir / "tempo" / "blocks")
    local["wal"]["path"] = str(workdir / "tempo" / "wal")
    return config


@dataclass
class Tempo:
    url: str  # the query API
    otlp: str  # OTLP/HTTP, what OTEL_EXPORTER_OTLP_ENDPOINT names
    log: Path


@contextmanager
def tempo(workdir: Path) -> Iterator[Tempo]:
    http_port, grpc_port, otlp_port = free_port(), free_port(), free_port()
    config = tempo_overlay(workdir, http_port, grpc_port, otlp_port)
    path = workdir / "tempo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    url = f"http://127.0.0.1:{http_port}"
    log = workdir / "tempo.log"
    command = [binary("TEMPO_BIN", "tempo"), f"-config.file={path}"]
    with running_binary(command, log, f"{url}/ready", timeout=90):
        yield Tempo(url, f"http://127.0.0.1:{otlp_port}", log)
