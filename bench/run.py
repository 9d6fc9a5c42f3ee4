"""`make bench`: throughput and latency of Glassbox against a bare baseline, in one run.

Starts each server on a free loopback port (one uvicorn worker each), drives it with wrk
for --seconds, and prints a Markdown table. Absolute numbers depend on the machine (and on
wrk sharing its cores); compare rows of the same run.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
FLOWER = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
BATCH_ROWS = 100


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    rows_per_request: int = 1


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(command: list[str], port: int, env: dict[str, str]) -> Iterator[str]:
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.post(f"{url}/predict", json=FLOWER, timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"{command} did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def wrk(url: str, body: object, seconds: int, connections: int) -> tuple[float, float, float]:
    result = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(ROOT / "bench" / "post.lua"), url],
        env={**os.environ, "BODY": json.dumps(body)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = result.stdout
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx responses from {url}:\n{out}")

    def latency(percentile: str) -> float:
        value, unit = re.search(rf"^\s+{percentile}%\s+([\d.]+)(us|ms|s)$", out, re.M).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return rps, latency("50"), latency("99")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--model-dir", default="artifacts/latest")
    args = parser.parse_args()
    env = {"MODEL_DIR": args.model_dir, "LOG_LEVEL": "INFO"}
    python = sys.executable
    results: list[Result] = []

    port = free_port()
    baseline = [
        python,
        "-m",
        "uvicorn",
        "bench.baseline_app:app",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with server(baseline, port, env) as url:
        results.append(
            Result(
                "baseline: bare FastAPI, same model",
                *wrk(f"{url}/predict", FLOWER, args.seconds, args.connections),
            )
        )

    port = free_port()
    with server([python, "-m", "app"], port, {**env, "PORT": str(port)}) as url:
        results.append(
            Result(
                "glassbox /predict", *wrk(f"{url}/predict", FLOWER, args.seconds, args.connections)
            )
        )
        batch = {"instances": [FLOWER] * BATCH_ROWS}
        rps, p50, p99 = wrk(f"{url}/predict/batch", batch, args.seconds, args.connections)
        results.append(
            Result(f"glassbox /predict/batch ({BATCH_ROWS} rows)", rps, p50, p99, BATCH_ROWS)
        )

    base = results[0].requests_per_second
    print(
        f"\n{args.seconds} s per row, {args.connections} connections, wrk 1 thread, 1 uvicorn worker\n"
    )
    print("| scenario | requests/s | rows/s | p50 ms | p99 ms | requests/s vs baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = f"{r.requests_per_second / base:.2f}x" if r.rows_per_request == 1 else "—"
        print(
            f"| {r.name} | {r.requests_per_second:,.0f} | {r.requests_per_second * r.rows_per_request:,.0f} "
            f"| {r.p50_ms:.2f} | {r.p99_ms:.2f} | {ratio} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
