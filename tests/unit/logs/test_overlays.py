"""The real-binary tests' overlays change only addresses, paths and discovery.

These run in `make test` (no binaries needed), so the `logs` tests, which run only where
Loki, Promtail and Tempo are, cannot drift into testing a config that is not the shipped one.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.external.logs.servers import (
    CONTAINER_META,
    LOKI_CONFIG,
    POD_META,
    PROMTAIL_COMPOSE,
    PROMTAIL_KUBERNETES,
    TEMPO_CONFIG,
    loki_overlay,
    promtail_overlay,
    tempo_overlay,
)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        return {
            k: v
            for key, value in node.items()
            for k, v in flatten(value, f"{prefix}{key}.").items()
        }
    if isinstance(node, list):
        return {
            k: v for i, value in enumerate(node) for k, v in flatten(value, f"{prefix}{i}.").items()
        }
    return {prefix.rstrip("."): node}


def changed(before: Any, after: Any) -> set[str]:
    old, new = flatten(before), flatten(after)
    return {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


def test_loki_overlay_changes_only_addresses_and_paths(tmp_path: Path) -> None:
    overlay = loki_overlay(tmp_path, 43100, 49096, "http://127.0.0.1:9093")
    assert changed(yaml.safe_load(LOKI_CONFIG.read_text()), overlay) == {
        "server.http_listen_address",
        "server.http_listen_port",
        "server.grpc_listen_port",
        "server.grpc_listen_address",
        "common.path_prefix",
        "common.storage.filesystem.chunks_directory",
        "compactor.working_directory",
        "ruler.alertmanager_url",
        "ruler.rule_path",
        "ruler.storage.local.directory",
    }


@pytest.mark.parametrize("shipped", [PROMTAIL_KUBERNETES, PROMTAIL_COMPOSE], ids=["k8s", "compose"])
def test_promtail_overlay_keeps_the_shipped_relabeling_and_stages(
    shipped: Path, tmp_path: Path
) -> None:
    original = yaml.safe_load(shipped.read_text())
    overlay = promtail_overlay(shipped, tmp_path, "http://127.0.0.1:3100", tmp_path / "x.log", 9080)
    (job,), (new_job,) = original["scrape_configs"], overlay["scrape_configs"]
    assert new_job["pipeline_stages"] == job["pipeline_stages"]
    kept = [r for r in new_job["relabel_configs"] if r.get("target_label") != "__path__"]
    assert kept == [r for r in job["relabel_configs"] if r.get("target_label") != "__path__"]
    # Every discovery label the relabeling reads is one the static target carries.
    (target,) = new_job["static_configs"]
    read = {
        label
        for rule in job["relabel_configs"]
        for label in rule.get("source_labels", [])
        if label.startswith("__meta_")
    }
    assert read
    assert read <= set(target["labels"])
    assert set(target["labels"]) - {"__path__"} <= set(POD_META) | set(CONTAINER_META)


def test_tempo_overlay_changes_only_addresses_and_paths(tmp_path: Path) -> None:
    overlay = tempo_overlay(tmp_path, 43200, 49095, 44318)
    assert changed(yaml.safe_load(TEMPO_CONFIG.read_text()), overlay) == {
        "server.http_listen_address",
        "server.http_listen_port",
        "server.grpc_listen_address",
        "server.grpc_listen_port",
        "distributor.receivers.otlp.protocols.http.endpoint",
        "distributor.receivers.otlp.protocols.grpc.endpoint",  # left out: nothing sends gRPC
        "storage.trace.local.path",
        "storage.trace.wal.path",
    }
