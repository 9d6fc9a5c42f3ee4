"""Real Prometheus and Alertmanager server processes on 127.0.0.1, for the integration tests."""

import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.service import free_port


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
def _run(binary: str, flags: list[str], log: Path) -> Iterator[Server]:
    """Start a Prometheus-family binary on a free loopback port; wait for /-/ready."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [binary, *flags, f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(process, url, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{binary} exited:\n{log.read_text()}")
            try:
                if requests.get(f"{url}/-/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{binary} not ready:\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


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
