"""Real Prometheus and Alertmanager server processes on 127.0.0.1, for the integration tests."""

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, cast

import requests
import yaml

from tests.external.monitoring.queries import RULE_FILES
from tests.support.service import ROOT, Service, free_port, running_service

MONITORING = ROOT / "monitoring"


class Server:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()


@contextmanager
def running_binary(
    command: list[str],
    log: Path,
    ready_url: str,
    timeout: float = 30,
    explain: Callable[[], str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server binary, wait until `ready_url` answers 200, stop it afterwards; its
    output goes to `log`, quoted when it exits or never gets ready, with the last answer of
    `ready_url` and what `explain` says of the binary's state."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        last_answer = "no answer (connection refused)"
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{command[0]} exited:\n{log.read_text()}")
            try:
                response = requests.get(ready_url, timeout=1)
                if response.status_code == 200:
                    break
                last_answer = f"{response.status_code} {response.text[:2000]!r}"
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                why = f"\n{explain()}" if explain else ""
                raise AssertionError(
                    f"{command[0]} not ready after {timeout}s: {ready_url} answered "
                    f"{last_answer}{why}\n{log.read_text()}"
                )
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def _run(binary: str, flags: list[str], log: Path) -> Iterator[Server]:
    """Start a Prometheus-family binary on a free loopback port; wait for /-/ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [binary, *flags, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    with running_binary(command, log, f"{url}/-/ready") as process:
        yield Server(process, url, log)


def prometheus(config: Path, workdir: Path) -> AbstractContextManager[Server]:
    flags = [
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        "--enable-feature=exemplar-storage",  # as every shipped Prometheus runs
    ]
    return _run("prometheus", flags, workdir / "prometheus.log")


def alertmanager(config: Path, workdir: Path) -> AbstractContextManager[Server]:
    flags = [
        f"--config.file={config}",
        f"--storage.path={workdir / 'alertmanager'}",
        "--cluster.listen-address=",  # a single instance, no gossip port
    ]
    return _run("prometheus-alertmanager", flags, workdir / "alertmanager.log")


def query(server: Server, expr: str) -> list[dict[str, Any]]:
    """Instant query; the result as a list of samples (a scalar becomes one sample)."""
    data = server.get("/api/v1/query", query=expr)["data"]
    if data["resultType"] in {"scalar", "string"}:
        return [{"metric": {}, "value": data["result"]}]
    result: list[dict[str, Any]] = data["result"]
    return result


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def overlay_rules(workdir: Path) -> list[str]:
    """Copies of the shipped rules with every `for:` at 0s, so alerts fire at once."""
    paths = []
    for source in RULE_FILES:
        document = yaml.safe_load(source.read_text())
        for group in document["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    rule["for"] = "0s"
        target = workdir / source.name
        target.write_text(yaml.safe_dump(document, sort_keys=False))
        paths.append(str(target))
    return paths


def overlay_prometheus_config(workdir: Path, service_port: int, alertmanager_url: str) -> Path:
    config = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yaml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = overlay_rules(workdir)
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
        alertmanager_url.removeprefix("http://")
    ]
    (job,) = config["scrape_configs"]
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{service_port}"]
    path = workdir / "prometheus.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@contextmanager
def monitored_service(
    model_dir: Path, workdir: Path, **env: str
) -> Iterator[tuple[Service, Server, Server]]:
    """The real service, scraped every second by the shipped Prometheus config and rules
    (through the overlay above), which alert the shipped Alertmanager; after a first scrape."""
    port = free_port()
    with (
        # Any: mypy cannot tell `env` holds no `wait_ready` (a bool).
        running_service(model_dir, workdir / "service", port=port, **cast(Any, env)) as service,
        alertmanager(MONITORING / "alertmanager" / "alertmanager.yaml", workdir) as am,
        prometheus(overlay_prometheus_config(workdir, port, am.url), workdir) as prom,
    ):
        wait_for(lambda: query(prom, 'up{job="glassbox"} == 1'), 30, "the first scrape")
        yield service, prom, am
