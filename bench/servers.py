"""The servers `make bench` measures, and the one way each is measured (wrk).

  bare-sklearn       bare FastAPI + the model's own predict_proba: what users would otherwise write
  bare-glassbox      bare FastAPI + Glassbox's inference path: isolates the cost of observability
  bare-numpy         the default pipeline's arithmetic in NumPy: the model call's floor, timed in situ
  glassbox           `python -m app`, observability fully on (access log, metrics, request ids);
                     glassbox-<anything> is the same with extra settings (a shadow, events,
                     a fast path off)
  raw-asgi           the floor: one raw ASGI callable, orjson + Glassbox's inference path, on
                     Glassbox's own uvicorn settings (event loop, guarded HTTP protocol)
  raw-asgi-defaults  the same callable on uvicorn's defaults (uvloop, plain httptools)
  mlserver           Seldon's MLServer with mlserver-sklearn, the same model file

Servers are pinned to core 0 and wrk to core 1 where there are two; CPU-seconds per 1,000
requests come from the server's /proc/PID/stat (its process tree's): on a shared machine
that is the honest capacity figure.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
BATCH_ROWS = 100
SERVERS = ("bare-sklearn", "bare-glassbox", "glassbox")
FLOORS = ("raw-asgi", "raw-asgi-defaults")  # one row only (bench/raw_app.py)
TWO_CORES = (os.cpu_count() or 1) >= 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Seldon's MLServer, the Open Inference Protocol peer: its own venv (Makefile, `make bench`).
MLSERVER = ROOT / ".tools" / "mlserver" / "bin" / "mlserver"
V2_INFER = "/v2/models/iris-classifier/infer"


@dataclass
class Measurement:
    server: str
    connections: int
    rows: int
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    timeouts: int
    errors: int
    cpu_seconds_per_1000: float
    model: str = "iris"
    round: int = 0
    rows_per_second: float = field(init=False)

    def __post_init__(self) -> None:
        self.rows_per_second = self.requests_per_second * self.rows


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pinned(core: int, command: list[str]) -> list[str]:
    return ["taskset", "-c", str(core), *command] if TWO_CORES else command


def server_command(name: str, port: int) -> tuple[list[str], dict[str, str]]:
    python = sys.executable
    if name.startswith("glassbox"):  # glassbox, or glassbox-shadow (SHADOW_MODEL_DIR set)
        return [python, "-m", "app"], {"PORT": str(port), "LOG_LEVEL": "INFO", "DRAIN_SECONDS": "0"}
    if name in FLOORS:  # no framework (bench/raw_app.py)
        command = [python, "-m", "uvicorn", "bench.raw_app:app", "--port", str(port),
                   "--no-access-log", "--log-level", "warning"]  # fmt: skip
        if name == "raw-asgi":  # the server Glassbox runs on, so the ratio is the framework's
            from app.__main__ import EVENT_LOOP, HTTP_PROTOCOL

            command += ["--loop", EVENT_LOOP, "--http", HTTP_PROTOCOL]
        return command, {}
    model = name.removeprefix("bare-").removesuffix("-otel")  # -otel: BASELINE_OTEL's spans
    command = [python, "-m", "uvicorn", "bench.baseline_app:app", "--port", str(port),
               "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return command, {"BASELINE_MODEL": model}


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """The server's CPU time, with its child processes' (MLServer's inference workers)."""
        return sum(_cpu_seconds(pid) for pid in _tree(self.process.pid))


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # exited between the listing and the read
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants, from the kernel's per-task child lists."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for child in children:
            found += _tree(int(child))
    return found


def example_row(model_dir: str) -> dict[str, Any]:
    """The model's own example row, from its metadata.json (what GET /model serves)."""
    metadata = json.loads((Path(model_dir) / "metadata.json").read_text())
    row: dict[str, Any] = metadata["example"]
    return row


@contextmanager
def started(name: str, model_dir: str, **extra_env: str) -> Iterator[Server]:
    port = free_port()
    command, env = server_command(name, port)
    env |= extra_env
    # taskset execs the command, so the pid is the server's own (uvicorn, one worker).
    process = subprocess.Popen(
        pinned(0, command),
        cwd=ROOT,
        env={**os.environ, "MODEL_DIR": model_dir, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(name, f"http://127.0.0.1:{port}", process)
    row = example_row(model_dir)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.post(f"{server.url}/predict", json=row, timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"{name} did not start")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)


def _latency_ms(out: str, percentile: str) -> float:
    match = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if match is None:
        raise SystemExit(f"wrk printed no {percentile}% latency:\n{out}")
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]


def drive(
    server: Server,
    rows: int,
    seconds: int,
    connections: int,
    row: dict[str, Any] | None = None,
    model: str = "iris",
    protocol: str = "native",
    extra: dict[str, Any] | None = None,
    traceparent: str = "",
) -> Measurement:
    """wrk against `server` with `rows` rows per request: /predict (one row),
    /predict/batch, or V2 infer with the same rows as one [N, F] tensor (`extra`: more
    fields of that request, an id say; `traceparent`: that header on every request)."""
    row = row or FLOWER
    body: Any = row if rows == 1 else {"instances": [row] * rows}
    path = "/predict" if rows == 1 else "/predict/batch"
    env = {"BODY": json.dumps(body), **({"TRACEPARENT": traceparent} if traceparent else {})}
    if protocol == "v2":  # the same rows as one [N, F] tensor (docs/protocols.md)
        path = V2_INFER
        body = {"inputs": [{"name": "input-0", "shape": [rows, len(row)], "datatype": "FP64",
                            "data": [list(row.values())] * rows}], **(extra or {})}  # fmt: skip
        env["BODY"] = json.dumps(body)
    if protocol == "v2-binary":  # the same tensor in binary, outputs too: tritonclient's way
        path = V2_INFER
        raw = np.array([list(row.values())] * rows, dtype="<f8").tobytes()
        header = json.dumps({
            "inputs": [{"name": "input-0", "shape": [rows, len(row)], "datatype": "FP64",
                        "parameters": {"binary_data_size": len(raw)}}],
            "parameters": {"binary_data_output": True},
        }).encode()  # fmt: skip
        with tempfile.NamedTemporaryFile(prefix="glassbox-bench-", delete=False) as written:
            written.write(header + raw)  # bytes: no environment variable holds them
        env = {"BODY_FILE": written.name, "HEADER_LENGTH": str(len(header))}
    cpu_before = server.cpu_seconds()
    result = subprocess.run(
        pinned(1, ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                   "-s", str(ROOT / "bench" / "post.lua"), server.url + path]),
        env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    if "HEADER_LENGTH" in env:
        Path(env["BODY_FILE"]).unlink()
    cpu = server.cpu_seconds() - cpu_before
    out = result.stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s)", out)
    if done is None:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    count = int(done.group(1))
    socket_errors = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = [int(n) for n in socket_errors.groups()] if socket_errors else [0, 0, 0, 0]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Measurement(
        server=server.name,
        connections=connections,
        rows=rows,
        requests=count,
        seconds=seconds,
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_latency_ms(out, "50"),
        p99_ms=_latency_ms(out, "99"),
        timeouts=errors[3],
        errors=sum(errors[:3]) + (int(non_2xx.group(1)) if non_2xx else 0),
        cpu_seconds_per_1000=1000 * cpu / max(count, 1),
        model=model if protocol == "native" else f"{model}-{protocol}",
    )


def model_call_totals(server: Server) -> tuple[float, float]:
    """(seconds, calls) of the server's model calls: Glassbox's own histogram, or the
    baseline's timer, which wraps the same call the same way."""
    if server.name in FLOORS:  # times nothing: no clock around its model call
        return 0.0, 0.0
    if server.name != "glassbox":
        totals = requests.get(f"{server.url}/model-call", timeout=5).json()
        return totals["seconds"], totals["calls"]
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    values = {}
    for suffix in ("sum", "count"):
        match = re.search(
            rf"^model_inference_duration_seconds_{suffix}\{{[^}}]*\}} (\S+)$", text, re.M
        )
        values[suffix] = float(match.group(1)) if match else 0.0
    return values["sum"], values["count"]


def _wait_until_answering(
    process: subprocess.Popen[bytes], port: int, what: str, ask: bytes = b"", answer: bytes = b""
) -> None:
    """Until `process` accepts a connection on `port` (and answers `ask` with `answer`)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if not ask:
                    return
                sock.sendall(ask)
                if sock.recv(16).startswith(answer):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.05)


@contextmanager
def redis_store() -> Iterator[str]:
    """Debian's redis-server on 127.0.0.1, nothing persisted, pinned to wrk's core (a shared
    store runs elsewhere than the service): the URL of the shared prediction store."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-redis-") as folder:
        process = subprocess.Popen(
            pinned(1, ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                       "--appendonly", "no", "--dir", folder]),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_until_answering(process, port, "redis-server", b"PING\r\n", b"+PONG")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


def counter(server: Server, name: str) -> float:
    """A counter's value in the server's /metrics (0 when absent)."""
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


@contextmanager
def mlserver(model_dir: str) -> Iterator[Server]:
    """Seldon's MLServer with mlserver-sklearn (.tools/mlserver, `make bench` installs it)
    serving Glassbox's model.joblib under the same name, every setting its default but the
    ports; pinned to the servers' core with its inference worker, stopped by its group."""
    if not MLSERVER.exists():
        raise SystemExit(f"{MLSERVER} is missing: `make bench` installs it")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="glassbox-mlserver-") as folder:
        settings = {"http_port": port, "grpc_port": free_port(), "metrics_port": free_port()}
        (Path(folder) / "settings.json").write_text(json.dumps(settings))
        model = {
            "name": "iris-classifier",
            "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": str((Path(model_dir) / "model.joblib").resolve())},
        }
        (Path(folder) / "model-settings.json").write_text(json.dumps(model))
        process = subprocess.Popen(
            pinned(0, [str(MLSERVER), "start", folder]),
            cwd=folder,  # MLServer writes its metrics files to ./.metrics
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        server = Server("mlserver", f"http://127.0.0.1:{port}", process)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    ready = requests.get(f"{server.url}/v2/models/iris-classifier/ready", timeout=1)
                    if ready.ok:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("mlserver did not start")
                time.sleep(0.2)
            yield server
        finally:
            # MLServer 1.7 did not exit within minutes of SIGTERM here: its group is killed.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@contextmanager
def otlp_sink() -> Iterator[str]:
    """bench/otlp_sink.py on wrk's core: the OTLP/HTTP base URL spans are exported to."""
    port = free_port()
    process = subprocess.Popen(
        pinned(1, [sys.executable, "-m", "bench.otlp_sink", str(port)]), cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_until_answering(process, port, "the OTLP sink")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
