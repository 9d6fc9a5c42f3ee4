"""Run the real service (`python -m app`) on a free port and read what it writes.

Tests talk to it over HTTP with `requests` and read its stdout log file, so
they exercise the same process, middleware order and logging a user gets.
"""

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
# The venv running the tests; its bin/ holds ruff, mypy, hadolint, actionlint, zizmor, ...
VENV_BIN = Path(sys.executable).parent
STARTUP_TIMEOUT_S = 30.0

VALID_FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service:
    def __init__(self, process: subprocess.Popen[bytes], port: int, stdout: Path, stderr: Path):
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.stdout_path = stdout
        self.stderr_path = stderr

    def raw_lines(self) -> list[str]:
        return self.stdout_path.read_text().splitlines()

    def log_lines(self) -> list[dict[str, Any]]:
        """Every stdout line, parsed; a line that is not one JSON object fails the test."""
        return [json.loads(line) for line in self.raw_lines()]

    def lines_for(self, request_id: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Every line of one request, once its access line is written.

        The access line is written just after the response is sent, so a client
        can read the log before it lands; every request writes one, so wait for it.
        """
        deadline = time.monotonic() + timeout
        while True:
            lines = [line for line in self.log_lines() if line.get("request_id") == request_id]
            if (
                any(line["event"] == "http_request" for line in lines)
                or time.monotonic() > deadline
            ):
                return lines
            time.sleep(0.02)

    def wait_for_log(
        self, event: str, timeout: float = 5.0, count: int = 1
    ) -> list[dict[str, Any]]:
        """Every `event` line, once there are at least `count` of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.log_lines() if line.get("event") == event]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} {event!r} log lines within {timeout}s")

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Scrape /metrics into {(sample name, labels): value}."""
        response = requests.get(f"{self.url}/metrics", timeout=5)
        response.raise_for_status()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    def post(self, path: str, body: Any, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.url}{path}", json=body, timeout=10, **kwargs)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def raw(self, request: bytes, timeout: float = 5.0) -> bytes:
        """Send bytes on a fresh connection; everything the server answers before closing."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(request)
            received = b""
            while chunk := sock.recv(65_536):
                received += chunk
            return received

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def sample(
    scraped: Mapping[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """The value of one sample, 0 when the series does not exist yet."""
    return scraped.get((name, frozenset(labels.items())), 0.0)


def service_env(model_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PROMETHEUS_MULTIPROC_DIR", "WEB_CONCURRENCY", "LOG_FORMAT", "LOG_LEVEL"}
    }
    # No drain unless a test asks for one: every test stops its service with SIGTERM.
    env.update(
        {"HOST": "127.0.0.1", "MODEL_DIR": str(model_dir), "DRAIN_SECONDS": "0", **overrides}
    )
    return env


@contextmanager
def running_service(
    model_dir: Path, log_dir: Path, wait_ready: bool = True, port: int | None = None, **env: str
) -> Iterator[Service]:
    """Start `python -m app`, wait until it answers, stop it afterwards."""
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    stdout = log_dir / f"service-{port}.stdout"
    stderr = log_dir / f"service-{port}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "app"],
            cwd=ROOT,
            env=service_env(model_dir, PORT=str(port), **env),
            stdout=out,
            stderr=err,
        )
    service = Service(process, port, stdout, stderr)
    try:
        _wait_until_up(service, "/readyz" if wait_ready else "/healthz")
        yield service
    finally:
        service.stop()


def _wait_until_up(service: Service, path: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise AssertionError(
                f"service exited with {service.process.returncode}:\n"
                + service.stdout_path.read_text()
                + service.stderr_path.read_text()
            )
        try:
            if requests.get(service.url + path, timeout=1).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"service not answering {path} within {STARTUP_TIMEOUT_S}s")


def train(
    output_dir: Path, *args: str, promote: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    """The real train.py; promoting by default, as most tests serve what they trained."""
    flags = ["--promote"] if promote else []
    return subprocess.run(
        [sys.executable, "train.py", "--output-dir", str(output_dir), *flags, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
