"""k8s/: plain manifests rendered from the chart, and the load-test Job."""

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.external.helm.chart import KUBERNETES_VERSIONS, helm_env
from tests.support.service import ROOT, Service

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


K6 = ROOT / ".tools" / "k6" / "bin" / "k6"


def test_the_load_test_job_targets_the_service() -> None:
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
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert {"name": "scripts", "configMap": {"name": script_map["metadata"]["name"]}} in volumes


def test_the_load_test_script_runs_against_the_served_model(
    service: Service, tmp_path: Path
) -> None:
    """The shipped k6 script, run by the real k6 for a few seconds against the service: its
    bodies come from /model, so every request must succeed whatever the model is."""
    assert K6.exists(), "run `make tools` to install k6"
    (script_map,) = docs_of(K8S / "loadtest" / "configmap.yaml")
    script = script_map["data"]["predict.js"]
    assert "sepal" not in script  # nothing of one model is written into the load test
    (tmp_path / "predict.js").write_text(script)
    summary = tmp_path / "summary.json"
    result = subprocess.run(
        [str(K6), "run", "--quiet", "--no-usage-report", "--vus", "2", "--duration", "3s",
         "--summary-export", str(summary), "-e", f"TARGET={service.url}/predict",
         str(tmp_path / "predict.js")],
        capture_output=True, text=True, check=False, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    metrics = json.loads(summary.read_text())["metrics"]
    assert metrics["http_reqs"]["count"] > 20
    assert metrics["http_req_failed"]["value"] == 0
    assert metrics["checks"]["fails"] == 0
    from_k6 = [line for line in service.log_lines() if "k6/" in line.get("user_agent", "")]
    assert {line["status"] for line in from_k6} == {200}
    assert {line["path"] for line in from_k6} == {"/model", "/predict"}
