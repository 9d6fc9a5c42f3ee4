"""After `scripts/stack.sh install` in a cluster: do Prometheus, Loki and Grafana see Glassbox?

Port-forwards each service with kubectl, sends requests to Glassbox with a known
request id, then asserts: Prometheus has http_requests_total for job="glassbox",
Loki returns that request's lines by request_id, Grafana lists the Glassbox dashboards.
Run by .github/workflows/e2e.yaml in a kind cluster; exits non-zero on the first failure.
"""

import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

MONITORING, APP = "monitoring", "glassbox"
DASHBOARD_UIDS = {
    "glassbox-overview",
    "glassbox-model",
    "glassbox-model-regression",
    "glassbox-logs",
    "glassbox-capacity",
}


@contextmanager
def port_forward(namespace: str, service: str, local: int, remote: int) -> Iterator[str]:
    process = subprocess.Popen(
        ["kubectl", "-n", namespace, "port-forward", f"svc/{service}", f"{local}:{remote}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        yield f"http://127.0.0.1:{local}"
    finally:
        process.terminate()


def eventually(check: Callable[[], Any], what: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                print(f"ok: {what}")
                return result
        except requests.RequestException:
            pass
        time.sleep(5)
    sys.exit(f"FAILED: {what} (after {timeout:.0f}s)")


def grafana_secret(key: str) -> str:
    """One key of the grafana-admin Secret that scripts/stack.sh created."""
    result = subprocess.run(
        ["kubectl", "-n", MONITORING, "get", "secret", "grafana-admin", "-o", "json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return base64.b64decode(json.loads(result.stdout)["data"][key]).decode()


def main() -> int:
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"
    with port_forward(APP, "glassbox", 18000, 80) as app:
        example = requests.get(f"{app}/model", timeout=10).json()["example"]  # any model's
        for number in range(20):
            headers = {"X-Request-ID": request_id if number == 0 else f"e2e-load-{number}"}
            requests.post(
                f"{app}/predict", json=example, headers=headers, timeout=10
            ).raise_for_status()

    with port_forward(MONITORING, "kube-prometheus-stack-prometheus", 19090, 9090) as prom:
        query = 'sum(http_requests_total{job="glassbox", handler="/predict"})'
        eventually(
            lambda: requests.get(
                f"{prom}/api/v1/query", params={"query": query}, timeout=10
            ).json()["data"]["result"],
            "Prometheus has http_requests_total for job=glassbox",
        )

    with port_forward(MONITORING, "loki-gateway", 13100, 80) as loki:
        logql = f'{{app="glassbox"}} | request_id="{request_id}"'
        params = {"query": logql, "limit": "100", "since": "1h"}
        eventually(
            lambda: requests.get(
                f"{loki}/loki/api/v1/query_range", params=params, timeout=10
            ).json()["data"]["result"],
            f"Loki returns the lines of request_id {request_id}",
        )

    auth = (grafana_secret("admin-user"), grafana_secret("admin-password"))
    with port_forward(MONITORING, "kube-prometheus-stack-grafana", 13000, 80) as grafana:

        def dashboards() -> bool:
            found = requests.get(
                f"{grafana}/api/search", params={"tag": "glassbox"}, auth=auth, timeout=10
            ).json()
            return {item["uid"] for item in found} >= DASHBOARD_UIDS

        eventually(dashboards, "Grafana lists the four Glassbox dashboards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
