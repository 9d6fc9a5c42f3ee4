"""SIGHUP swaps the model in a running service under load: no failed request, one or two
workers; a candidate that fails a check is refused and the old model keeps serving."""

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import sklearn

from tests.support.service import VALID_FLOWER, running_service, sample, train


class Load:
    """Two clients posting /predict back to back, recording (status, model_version)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.results: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(2)]

    def _run(self) -> None:
        with requests.Session() as session:  # keep-alive, as real clients do
            while not self._stop.is_set():
                response = session.post(f"{self.url}/predict", json=VALID_FLOWER, timeout=10)
                body = response.json()
                self.results.append((response.status_code, str(body.get("model_version"))))

    @contextmanager
    def running(self) -> Iterator["Load"]:
        for thread in self._threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join(timeout=15)

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 30
        target = len(self.results) + count
        while len(self.results) < target:
            assert time.monotonic() < deadline, "the load stalled"
            time.sleep(0.02)


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_swaps_the_model_under_load_without_a_failed_request(
    tmp_path: Path, workers: int
) -> None:
    artifacts = tmp_path / "artifacts"
    assert train(artifacts, "--model-version", "old").returncode == 0
    with running_service(
        artifacts / "latest", tmp_path / "logs", WEB_CONCURRENCY=str(workers)
    ) as service:
        load = Load(service.url)
        with load.running():
            load.wait_for(100)
            assert train(artifacts, "--model-version", "new").returncode == 0  # repoints latest
            os.kill(service.process.pid, signal.SIGHUP)
            (*_, last) = service.wait_for_log("model_reloaded", timeout=30, count=workers)
            load.wait_for(100)

        assert {status for status, _ in load.results} == {200}
        versions = [version for _, version in load.results]
        assert versions[0] == "old"
        assert versions[-100:] == ["new"] * 100
        assert last["previous"] == "old"
        scraped = service.metrics()
        labels = {
            "model_name": "iris-classifier",
            "sklearn_version": sklearn.__version__,
            "task": "classification",
            "run_id": "",
        }
        info = {
            version: sample(scraped, "model_info", **labels, model_version=version,
                            inference_path="onnxruntime")
            for version in ("old", "new")
        }  # fmt: skip
        assert info == {"old": 0.0, "new": 1.0}
        assert service.process.poll() is None  # the same process: no restart


def test_a_candidate_that_fails_a_check_is_refused_and_the_old_one_serves(
    tmp_path: Path,
) -> None:
    artifacts = tmp_path / "artifacts"
    assert train(artifacts, "--model-version", "good").returncode == 0
    with running_service(artifacts / "latest", tmp_path / "logs") as service:
        assert train(artifacts, "--model-version", "tampered").returncode == 0
        with (artifacts / "tampered" / "model.joblib").open("ab") as model:
            model.write(b"\0")
        load = Load(service.url)
        with load.running():
            load.wait_for(50)
            os.kill(service.process.pid, signal.SIGHUP)
            (failure,) = service.wait_for_log("model_reload_failed", timeout=30)
            load.wait_for(50)

        assert failure["reason"] == "checksum_mismatch"
        assert failure["serving"] == "good"
        assert set(load.results) == {(200, "good")}
        assert requests.get(f"{service.url}/readyz", timeout=5).status_code == 200
