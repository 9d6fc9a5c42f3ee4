"""`make run`, `train`, `promote`, `reload` as a new user runs them, in a copy of the checkout.

The copy has its own artifacts/, .keys/ and .run/; the venv is the one running the tests
(`-o` keeps make from reinstalling into it). What must hold: the first model is trained,
signed with a development key made on first use and verified at load; the service says it
is accepting only once it is; `make reload` finds this checkout's service by its pid file
and says what became of the reload; an edited metadata.json is refused at reload (`make
reload` exits non-zero with the reason) and at start.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.external.monitoring.servers import wait_for
from tests.support.service import ROOT, VALID_FLOWER, VENV_BIN, free_port

COPIED = ["Makefile", "pyproject.toml", "requirements.lock", "requirements-dev.lock", "train.py"]
VENV = VENV_BIN.parent


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    copy = tmp_path / "glassbox"
    copy.mkdir()
    for name in COPIED:
        shutil.copy2(ROOT / name, copy / name)
    for folder in ("app", "data", "monitoring", "promotion", "scripts"):
        shutil.copytree(ROOT / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def make(checkout: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(checkout), "-o", f"{VENV}/.runtime",
         f"VENV={VENV}", *args],
        capture_output=True, text=True, check=False, env=clean_env(**env), timeout=300,
    )  # fmt: skip


def clean_env(**extra: str) -> dict[str, str]:
    drop = {"MODEL_SIGNING_KEY", "MODEL_PUBLIC_KEY", "MODEL_DIR", "PORT", "PID_FILE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "DRAIN_SECONDS": "0", **extra}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def wait_for_event(log: Path, event: str, timeout: float = 60) -> dict[str, Any]:
    """The newest line of `event` in the log, once there is one."""
    found = wait_for(
        lambda: [line for line in lines(log) if line.get("event") == event], timeout, event
    )
    last: dict[str, Any] = found[-1]
    return last


def readyz(port: int, timeout: float = 120) -> requests.Response:
    """/readyz once the port accepts (training the first model comes before)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"nothing accepted on {port} within {timeout}s")


@pytest.fixture
def started(checkout: Path, tmp_path: Path) -> Iterator[Any]:
    """A function that runs `make run` in the copy; every service it started is stopped."""
    runs: list[subprocess.Popen[bytes]] = []

    def run(port: int) -> Path:
        log = tmp_path / f"run-{len(runs)}.log"
        with log.open("wb") as out:
            command = ["make", "--no-print-directory", "-C", str(checkout), "-o",
                       f"{VENV}/.runtime", f"VENV={VENV}", f"PORT={port}", "run"]  # fmt: skip
            runs.append(
                subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=clean_env())
            )
        return log

    yield run
    for process in runs:
        pid_file = checkout / ".run" / "glassbox.pid"
        if process.poll() is None and pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def stop(checkout: Path, log: Path) -> None:
    pid_file = checkout / ".run" / "glassbox.pid"
    os.kill(int(pid_file.read_text()), signal.SIGTERM)
    deadline = time.monotonic() + 20
    while pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_file.exists(), f"the pid file outlived the service:\n{log.read_text()}"


def test_a_new_users_first_hour(checkout: Path, started: Any) -> None:
    port = free_port()
    log = started(port)
    assert readyz(port).status_code == 200, log.read_text()

    # Signed with a development key made on first use, verified at load.
    keys = checkout / ".keys" / "dev-signing.env"
    assert keys.stat().st_mode & 0o777 == 0o600
    assert (checkout / "artifacts" / "latest" / "metadata.json.sig").is_file()
    loaded = wait_for_event(log, "model_loaded")
    assert loaded["signature_verified"] is True
    # Announced once accepting, never before; the pid file names this very service.
    events = [line["event"] for line in lines(log)]
    assert not [e for e in events if e.startswith("Uvicorn running")]
    accepting = [i for i, e in enumerate(events) if e.startswith("Glassbox accepting on")]
    assert accepting
    assert accepting[0] > events.index("Application startup complete.")
    assert int((checkout / ".run" / "glassbox.pid").read_text()) == loaded["pid"]
    answer = requests.post(f"http://127.0.0.1:{port}/predict", json=VALID_FLOWER, timeout=5)
    assert answer.status_code == 200

    # A retrain is a candidate; promote and reload serve it without a restart.
    trained = make(checkout, "train", "TRAIN_ARGS=--model-version candidate")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert os.readlink(checkout / "artifacts" / "latest") != "candidate"
    assert make(checkout, "promote", "VERSION=candidate").returncode == 0
    reloaded = make(checkout, "reload")
    assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
    assert "now serves candidate" in reloaded.stdout  # said once it does, not before
    assert wait_for_event(log, "model_reloaded")["model_version"] == "candidate"

    # Swapped class names in metadata.json: the signature no longer holds.
    metadata_path = checkout / "artifacts" / "candidate" / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    names = metadata["class_names"]
    names[0], names[1] = names[1], names[0]
    metadata_path.write_text(json.dumps(metadata))
    said = make(checkout, "reload")  # issue 34: it said "sent SIGHUP" and exited 0
    assert said.returncode != 0
    assert "signature_invalid" in said.stdout
    assert "keeps serving candidate" in said.stdout
    failed = wait_for_event(log, "model_reload_failed")
    assert failed["reason"] == "signature_invalid"
    model = requests.get(f"http://127.0.0.1:{port}/model", timeout=5).json()
    assert model["model_version"] == "candidate"  # the copy loaded before the edit serves on
    stop(checkout, log)

    # Started again on the edited artifact: never ready, and it says why.
    port = free_port()
    log = started(port)
    refused = readyz(port)
    assert refused.status_code == 503
    assert refused.json()["error"]["details"][0]["reason"] == "signature_invalid"
    stop(checkout, log)


def test_reload_without_a_running_service_says_so(checkout: Path) -> None:
    result = make(checkout, "reload")
    assert result.returncode != 0
    assert "is `make run` serving from this checkout?" in result.stdout
    (checkout / ".run").mkdir()
    (checkout / ".run" / "glassbox.pid").write_text("999999\n")  # no such process
    result = make(checkout, "reload")
    assert result.returncode != 0
    assert "is gone" in result.stdout


def test_a_second_make_run_says_which_one_serves_and_leaves_it_serving(
    checkout: Path, started: Any
) -> None:
    """Issue 34: a second `make run` on the same port failed at the bind and deleted the
    first's pid file on its way out, so `make reload` lost the service still serving."""
    port = free_port()
    log = started(port)
    assert readyz(port).status_code == 200, log.read_text()
    pid_file = checkout / ".run" / "glassbox.pid"
    pid = int(pid_file.read_text())

    second = make(checkout, f"PORT={port}", "run")
    assert second.returncode != 0
    (said,) = [line for line in json_lines(second.stdout) if line["event"] == "already_serving"]
    assert said["pid"] == pid
    assert f"pid {pid}" in said["message"]
    # A port another process holds (here: this checkout's service, under another pid file).
    third = make(checkout, f"PORT={port}", "PID_FILE=.run/other.pid", "run")
    assert third.returncode != 0
    (taken,) = [line for line in json_lines(third.stdout) if line["event"] == "port_in_use"]
    assert taken["port"] == port
    assert not (checkout / ".run" / "other.pid").exists()

    assert int(pid_file.read_text()) == pid  # untouched by either
    assert readyz(port).status_code == 200
    reloaded = make(checkout, "reload")
    assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
    stop(checkout, log)


def test_make_monitor_up_scrapes_the_port_make_run_serves_on(
    checkout: Path, started: Any, tmp_path: Path
) -> None:
    """Issue 34: `make monitor-up` scraped :8000 whatever port `make run` served on. The
    service writes its ports beside its pid file; the monitor scrapes those."""
    port = free_port()
    log = started(port)
    assert readyz(port).status_code == 200, log.read_text()
    written = json.loads((checkout / ".run" / "glassbox.serving.json").read_text())
    assert (written["port"], written["metrics_port"]) == (port, port)
    ports = {name: free_port() for name in ("PROMETHEUS", "ALERTMANAGER", "ALERT_PRINTER")}
    env = {f"{name}_PORT": str(value) for name, value in ports.items()}
    env["MONITOR_DIR"] = str(tmp_path / "monitoring")
    up = make(checkout, "monitor-up", **env)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"127.0.0.1:{port} (" in up.stdout
        prometheus = f"http://127.0.0.1:{ports['PROMETHEUS']}"

        def scraped() -> list[tuple[str, str]] | None:
            answer = requests.get(f"{prometheus}/api/v1/targets", timeout=5).json()
            targets = [(t["scrapeUrl"], t["health"]) for t in answer["data"]["activeTargets"]]
            return targets if all(health == "up" for _, health in targets) else None

        assert wait_for(scraped, 60, "the service scraped") == [
            (f"http://127.0.0.1:{port}/metrics", "up")
        ]
    finally:
        down = make(checkout, "monitor-down", **env)
    assert down.returncode == 0, down.stdout + down.stderr
    stop(checkout, log)
    assert not (checkout / ".run" / "glassbox.serving.json").exists()


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_reload_of_a_model_with_another_api_exits_non_zero_with_the_reason(
    checkout: Path, started: Any
) -> None:
    """Issue 34: promoting a churn model over a running Iris service, `make reload` said
    "sent SIGHUP" and exited 0 while the service refused it and kept serving Iris."""
    from scripts.example_data import churn

    port = free_port()
    log = started(port)
    assert readyz(port).status_code == 200, log.read_text()
    pid = int((checkout / ".run" / "glassbox.pid").read_text())
    iris = json.loads((checkout / "artifacts" / "latest" / "metadata.json").read_text())
    # Another retraining of the same API: a reload serves it, and train.py says so.
    same = make(checkout, "train", "TRAIN_ARGS=--c 0.5 --model-version iris-again")
    (trained,) = [line for line in json_lines(same.stdout) if line["event"] == "model_trained"]
    assert trained["reload_serves_it"] is True
    assert f"`make reload` serves it (pid {pid} has the same API)" in trained["message"]

    written = churn(checkout)
    args = f"TRAIN_ARGS=--data {written.path} --target churned --promote"
    promoted = make(checkout, "train", args)
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    (trained,) = [line for line in json_lines(promoted.stdout) if line["event"] == "model_trained"]
    # It tells the truth before anyone reloads (issue 34: it said "`make reload` serves it").
    assert trained["reload_serves_it"] is False
    assert f"another API than pid {pid} serves" in trained["message"]
    assert "restart `make run`, or roll it out" in trained["message"]
    refused = make(checkout, "reload")
    assert refused.returncode != 0
    assert "model_incompatible" in refused.stdout, refused.stdout
    served = requests.get(f"http://127.0.0.1:{port}/model", timeout=5).json()
    assert served["model_name"] == "iris-classifier"
    # And `make promote` back to the Iris model the service serves: a reload serves it.
    back = make(checkout, "promote", f"VERSION={iris['model_version']}")
    assert back.returncode == 0, back.stdout + back.stderr
    (moved,) = [line for line in json_lines(back.stdout) if line["event"] == "model_promoted"]
    assert moved["reload_serves_it"] is True, moved
    stop(checkout, log)
    # Nothing serving: the next `make run` serves whatever is promoted.
    idle = make(checkout, "promote", f"VERSION={written_version(checkout, 'churn')}")
    (moved,) = [line for line in json_lines(idle.stdout) if line["event"] == "model_promoted"]
    assert (moved["reload_serves_it"], "the next one serves it" in moved["message"]) == (
        False,
        True,
    )


def written_version(checkout: Path, name: str) -> str:
    """The newest version folder whose model is `name`-classifier."""
    folders = [
        path for path in (checkout / "artifacts").iterdir()
        if path.is_dir() and not path.is_symlink() and (path / "metadata.json").exists()
        and json.loads((path / "metadata.json").read_text())["model_name"] == f"{name}-classifier"
    ]  # fmt: skip
    return max(folders, key=lambda path: path.stat().st_mtime).name


def test_train_without_data_retrains_the_served_models_own_data(checkout: Path) -> None:
    """Issue 34: `make train TRAIN_ARGS="--c 0.5"` (the README's day-2 step) trained Iris
    while a churn model served; it retrains the served model's recorded data and target, and
    says which."""
    from scripts.example_data import churn

    written = churn(checkout)
    first = make(checkout, "train", f"TRAIN_ARGS=--data {written.path} --target churned --promote")
    assert first.returncode == 0, first.stdout + first.stderr
    again = make(checkout, "train", "TRAIN_ARGS=--c 0.5 --model-version again")
    assert again.returncode == 0, again.stdout + again.stderr
    (chosen,) = [line for line in json_lines(again.stdout) if line["event"] == "training_data"]
    assert chosen["data"] == str(written.path)
    assert chosen["target"] == "churned"
    assert "served model's data" in chosen["chosen"]
    metadata = json.loads((checkout / "artifacts" / "again" / "metadata.json").read_text())
    assert metadata["model_name"] == "churn-classifier"
