"""Stand-in for Kubernetes pod discovery, for a Prometheus built without it.

Debian's Prometheus is compiled without kubernetes_sd_configs. The shipped
kubernetes-pods job is kept whole, relabel rules included; only its discovery is
swapped for static targets carrying the meta labels pod discovery would attach,
so a real Prometheus runs the real relabeling.
"""

from pathlib import Path
from typing import Any

import yaml

from tests.support.service import ROOT

KUBERNETES_SCRAPE = ROOT / "monitoring" / "prometheus" / "kubernetes-scrape.yaml"


def pod_meta_labels(port: int, **overrides: str) -> dict[str, str]:
    return {
        "__meta_kubernetes_namespace": "ml",
        "__meta_kubernetes_pod_name": "glassbox-7d9f-abc",
        "__meta_kubernetes_pod_container_name": "glassbox",
        "__meta_kubernetes_pod_phase": "Running",
        "__meta_kubernetes_pod_node_name": "node-1",
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": "glassbox",
        "__meta_kubernetes_pod_label_app_kubernetes_io_instance": "glassbox",
        "__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
        "__meta_kubernetes_pod_annotation_prometheus_io_port": str(port),
        "__meta_kubernetes_pod_annotation_prometheus_io_path": "/metrics",
        **overrides,
    }


def kubernetes_jobs_with_static_targets(
    targets: list[tuple[str, dict[str, str]]],
) -> list[dict[str, Any]]:
    """The shipped scrape jobs, each with discovery replaced by `targets` (address, labels)."""
    jobs: list[dict[str, Any]] = yaml.safe_load(KUBERNETES_SCRAPE.read_text())["scrape_configs"]
    for job in jobs:
        assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
        job["static_configs"] = [
            {"targets": [address], "labels": labels} for address, labels in targets
        ]
    return jobs


def write_config(
    path: Path, scrape_configs: list[dict[str, Any]], scrape_interval: str = "15s"
) -> Path:
    config = {"global": {"scrape_interval": scrape_interval}, "scrape_configs": scrape_configs}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
