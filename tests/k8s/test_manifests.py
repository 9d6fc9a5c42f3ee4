"""k8s/: plain manifests rendered from the chart, and the load-test Job."""

import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from app.api.schemas import IrisFeatures
from tests.helm.chart import KUBERNETES_VERSIONS, helm_env
from tests.service import ROOT

K8S = ROOT / "k8s"
MANIFESTS = sorted(K8S.rglob("*.yaml"))


def docs_of(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_docs() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in docs_of(path)]


def test_manifests_are_the_rendered_chart(tmp_path: Path) -> None:
    fresh = tmp_path / "glassbox.yaml"
    script = ROOT / "scripts" / "render_k8s.sh"
    subprocess.run([str(script), str(fresh)], env=helm_env(), check=True)
    assert fresh.read_text() == (K8S / "glassbox.yaml").read_text(), "run `make k8s-manifests`"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_match_kubernetes_schemas(version: str) -> None:
    for doc in all_docs():
        kubernetes_validate.validate(doc, version, strict=True)


def test_everything_lands_in_the_glassbox_namespace() -> None:
    namespaced = [d for d in all_docs() if d["kind"] != "Namespace"]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"glassbox"}
    (namespace,) = docs_of(K8S / "namespace.yaml")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_load_test_targets_the_service_with_valid_flowers() -> None:
    service = next(d for d in docs_of(K8S / "glassbox.yaml") if d["kind"] == "Service")
    (job,) = docs_of(K8S / "loadtest" / "job.yaml")
    (k6,) = job["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["value"] for item in k6["env"]}
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert env["TARGET"] == f"http://{name}.{namespace}.svc/predict"
    assert int(env["VUS"]) >= 1000

    (script_map,) = docs_of(K8S / "loadtest" / "configmap.yaml")
    script = script_map["data"]["predict.js"]
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert {"name": "scripts", "configMap": {"name": script_map["metadata"]["name"]}} in volumes
    flowers = re.findall(r"\{ (sepal_length: .*?) \}", script)
    assert len(flowers) == 3
    for flower in flowers:
        fields = dict(pair.split(": ") for pair in flower.split(", "))
        IrisFeatures.model_validate({k: float(v) for k, v in fields.items()})
