"""What `make bench` runs, one function a section: each starts its servers, drives them
back to back per round (drift on a shared machine hits all alike) and returns every round's
Measurement; the ratios and targets are bench/targets.py's, the tables bench/report.py's.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from bench.servers import (
    BATCH_ROWS,
    FLOORS,
    FLOWER,
    ROOT,
    Measurement,
    counter,
    drive,
    example_row,
    mlserver,
    model_call_totals,
    otlp_sink,
    pinned,
    redis_store,
    started,
)

SHADOW_ROUNDS = 5


def throughput(
    args: argparse.Namespace, runs: list[Measurement]
) -> tuple[list[Measurement], dict[str, float]]:
    """Best of args.rounds per (server, connections, rows); and each server's one-row model
    call timed in situ (under the first connection count's load), best of the rounds."""
    best: dict[tuple[str, int, int], Measurement] = {}
    in_situ: dict[str, list[float]] = {}
    for round_number in range(1, args.rounds + 1):
        with (
            started("bare-sklearn", args.model_dir) as a,
            started("bare-glassbox", args.model_dir) as b,
            started("glassbox", args.model_dir) as c,
            started("bare-numpy", args.model_dir) as floor,
            started("raw-asgi", args.model_dir) as raw,
            started("raw-asgi-defaults", args.model_dir) as raw_defaults,
        ):
            for connections in args.connections:
                for rows in (1, BATCH_ROWS):
                    timed = rows == 1 and connections == args.connections[0]
                    servers = [a, b, c, *((raw, raw_defaults) if rows == 1 else ())]
                    for server in [*servers, floor] if timed else servers:
                        before = model_call_totals(server) if timed else (0.0, 0.0)
                        m = drive(server, rows, args.seconds, connections)
                        m.round = round_number
                        runs.append(m)
                        if timed and server.name not in FLOORS:
                            after = model_call_totals(server)
                            mean = (after[0] - before[0]) / max(after[1] - before[1], 1)
                            in_situ.setdefault(server.name, []).append(mean * 1e6)
                        print(
                            f"  round {round_number}: {m.server:14} c={connections:<3} rows={rows:<3} "
                            f"{m.requests_per_second:8,.0f} req/s  p99 {m.p99_ms:7.2f} ms",
                            flush=True,
                        )
                        key = (m.server, connections, rows)
                        if server is not floor and (
                            key not in best or m.requests_per_second > best[key].requests_per_second
                        ):
                            best[key] = m
    return list(best.values()), {name: min(values) for name, values in in_situ.items()}


def tail(args: argparse.Namespace) -> list[Measurement]:
    """Fresh servers, 64 connections: the runs where a multi-second tail used to show."""
    runs = []
    for run in range(1, args.tail_runs + 1):
        for name in ("bare-sklearn", "glassbox"):
            with started(name, args.model_dir) as server:
                m = drive(server, 1, args.tail_seconds, 64)
            print(
                f"  tail run {run}: {name:14} p99 {m.p99_ms:7.2f} ms  timeouts {m.timeouts}",
                flush=True,
            )
            runs.append(m)
    return runs


def rejection_stall(args: argparse.Namespace) -> dict[str, float]:
    """/predict p50 alone, then while 4 connections send 11,500-row batches (refused 413).

    Issue 9: such batches were validated row by row on the event loop before the 422,
    and /predict's p50 went 40x up. They are now refused before parsing."""
    oversize = {"instances": [FLOWER] * 11_500}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(oversize, handle)
    try:
        with started("glassbox", args.model_dir) as server:
            alone = drive(server, 1, 5, 4)
            attack = subprocess.Popen(
                pinned(1, ["wrk", "-t1", "-c4", "-d7s", "-s", str(ROOT / "bench" / "post.lua"),
                           server.url + "/predict/batch"]),
                env={**os.environ, "BODY_FILE": handle.name},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1)
            under_attack = drive(server, 1, 5, 4)
            attack.wait(timeout=30)
    finally:
        Path(handle.name).unlink()
    print(
        f"  /predict p50 alone {alone.p50_ms:.2f} ms, beside over-size batches {under_attack.p50_ms:.2f} ms",
        flush=True,
    )
    return {"p50_alone_ms": alone.p50_ms, "p50_beside_oversize_ms": under_attack.p50_ms}


def train_breast_cancer(workdir: Path) -> str:
    """The 30-input breast-cancer classifier, trained by train.py as a user would."""
    return train_bundled("breast_cancer", workdir)


def train_bundled(name: str, workdir: Path) -> str:
    """One of scikit-learn's bundled datasets (scripts/example_data.py), trained by
    train.py as a user would."""
    from scripts.example_data import bundled

    written = bundled(name, workdir)
    subprocess.run(
        [sys.executable, "train.py", "--data", str(written.path), "--target", written.target,
         "--output-dir", str(workdir / name), "--promote"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return str(workdir / name / "latest")


def without_estimate(model_dir: str, output: Path) -> str:
    """The same model and export in an artifact without its estimate (no calibration, no
    loss model): the twin estimated quality is measured against."""
    from app.ml.artifact import load_artifact, write_artifact

    artifact = load_artifact(Path(model_dir))
    dropped = ("estimation", "companion_sha256")
    metadata = {k: v for k, v in artifact.metadata.items() if k not in dropped}
    version = str(metadata["model_version"])
    return str(write_artifact(artifact.model, metadata, output, version, artifact.onnx_model))


ESTIMATE_ROUNDS = 5


def estimation_throughput(
    args: argparse.Namespace, workdir: Path, runs: list[Measurement]
) -> list[Measurement]:
    """/predict, one row, at the first connection count, paired rounds: the Iris model with
    its calibration (as shipped) against the same model without it, and the diabetes
    regressor with its loss model against the same regressor without it: what estimating
    every answer's quality costs the served one."""
    iris_off = without_estimate(args.model_dir, workdir / "iris-unestimated")
    diabetes = train_bundled("diabetes", workdir)
    diabetes_off = without_estimate(diabetes, workdir / "diabetes-unestimated")
    diabetes_row = example_row(diabetes)
    connections = args.connections[0]
    best: dict[tuple[str, int], Measurement] = {}
    with (
        started("glassbox", args.model_dir) as on,
        started("glassbox-unestimated", iris_off) as off,
        started("glassbox-nanny", diabetes) as nanny,
        started("glassbox-no-nanny", diabetes_off) as plain,
    ):
        for round_number in range(1, max(args.rounds, ESTIMATE_ROUNDS) + 1):
            for server in (on, off):
                m = drive(server, 1, args.seconds, connections, model="iris-estimated")
                _keep(m, round_number, runs, best, (m.server, connections))
            for server in (nanny, plain):
                m = drive(server, 1, args.seconds, connections, diabetes_row, "diabetes")
                _keep(m, round_number, runs, best, (m.server, connections))
    return list(best.values())


def _keep(
    m: Measurement,
    round_number: int,
    runs: list[Measurement],
    best: dict[tuple[str, int], Measurement],
    key: tuple[str, int],
) -> None:
    """One round's measurement: kept for the paired ratios, printed, and the best per key."""
    m.round = round_number
    runs.append(m)
    print(
        f"  round {round_number}: {m.server:14} {m.model:13} c={m.connections:<3} "
        f"rows={m.rows:<3} {m.requests_per_second:8,.0f} req/s  p99 {m.p99_ms:7.2f} ms",
        flush=True,
    )
    if key not in best or m.requests_per_second > best[key].requests_per_second:
        best[key] = m


def wide_model_throughput(
    args: argparse.Namespace, model_dir: str, runs: list[Measurement]
) -> list[Measurement]:
    """The three servers on the breast-cancer model, at the first connection count, best
    of the rounds, single rows and batches of 100."""
    row = example_row(model_dir)
    connections = args.connections[0]
    best: dict[tuple[str, int], Measurement] = {}
    for round_number in range(1, args.rounds + 1):
        with (
            started("bare-sklearn", model_dir) as a,
            started("bare-glassbox", model_dir) as b,
            started("glassbox", model_dir) as c,
        ):
            for rows in (1, BATCH_ROWS):
                for server in (a, b, c):
                    m = drive(server, rows, args.seconds, connections, row, "breast_cancer")
                    _keep(m, round_number, runs, best, (m.server, rows))
    return list(best.values())


def train_shadow_candidate(workdir: Path) -> str:
    """Another Iris version (C=0.5) for the shadow: a real second model call per request."""
    subprocess.run(
        [sys.executable, "train.py", "--c", "0.5", "--output-dir", str(workdir / "shadow"),
         "--promote"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return str(workdir / "shadow" / "latest")


def shadow_throughput(
    args: argparse.Namespace, shadow_dir: str, runs: list[Measurement]
) -> tuple[list[Measurement], float]:
    """Glassbox as shipped, with a shadow candidate (SHADOW_MODEL_DIR), with a `prediction`
    event per request (PREDICTION_LOG_SAMPLE=1) and with the shared prediction store
    (PREDICTION_STORE_URL, a redis-server on wrk's core), back to back per round at each
    connection count, one row per request: what scoring every request twice, logging its
    inputs, or writing it to Redis cost the served one, on the servers' one core. At least
    SHADOW_ROUNDS paired rounds: a p99 from one 8 s wrk run moved by 1.5x between identical
    servers here. Returns the best rounds and the store's rows written per row answered."""
    best: dict[tuple[str, int], Measurement] = {}
    with (
        redis_store() as url,
        started("glassbox", args.model_dir) as off,
        started("glassbox-shadow", args.model_dir, SHADOW_MODEL_DIR=shadow_dir) as on,
        started("glassbox-events", args.model_dir, PREDICTION_LOG_SAMPLE="1") as events,
        started("glassbox-store", args.model_dir, PREDICTION_STORE_URL=url) as store,
    ):
        written = counter(store, "model_prediction_store_rows_written_total")
        answered = 0
        for round_number in range(1, max(args.rounds, SHADOW_ROUNDS) + 1):
            for connections in args.connections:
                for server in (off, on, events, store):
                    m = drive(server, 1, args.seconds, connections, model="iris-shadow")
                    _keep(m, round_number, runs, best, (m.server, connections))
                    answered += m.requests if server is store else 0
        time.sleep(0.5)  # the last turn's pipeline
        written = counter(store, "model_prediction_store_rows_written_total") - written
    return list(best.values()), written / max(answered, 1)


TRACE_ROUNDS = 5
# A caller's sampled trace, the same on every request: what the edge parses and logs.
CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def tracing_throughput(args: argparse.Namespace, runs: list[Measurement]) -> list[Measurement]:
    """/predict, one row, at the first connection count, paired rounds:
    glassbox-context (a caller's traceparent on every request, no exporter: the edge reads
    it, the access line, the logs and the exemplars carry it), glassbox-spans-1 and -100
    (spans exported over OTLP/HTTP to bench/otlp_sink.py on wrk's core, 1 % and every
    request sampled) against glassbox; and the generic way beside it: bare-glassbox-otel,
    the bare endpoint wrapped by opentelemetry-instrumentation-asgi with the same SDK and
    exporter, every request sampled, against bare-glassbox."""
    best: dict[tuple[str, int], Measurement] = {}
    connections = args.connections[0]
    with otlp_sink() as url:
        spans = {"OTEL_EXPORTER_OTLP_ENDPOINT": url}
        with (
            started("glassbox", args.model_dir) as plain,
            started("glassbox-context", args.model_dir) as context,
            started("glassbox-spans-1", args.model_dir, **spans, OTEL_TRACES_SAMPLER="traceidratio",
                    OTEL_TRACES_SAMPLER_ARG="0.01") as one,
            started("glassbox-spans-100", args.model_dir, **spans,
                    OTEL_TRACES_SAMPLER="always_on") as every,
            started("bare-glassbox", args.model_dir) as bare,
            started("bare-glassbox-otel", args.model_dir, **spans, BASELINE_OTEL="1") as generic,
        ):  # fmt: skip
            for round_number in range(1, max(args.rounds, TRACE_ROUNDS) + 1):
                for server in (plain, context, one, every, bare, generic):
                    caller = CALLER if server is context else ""
                    m = drive(server, 1, args.seconds, connections, model="iris-traced",
                              traceparent=caller)  # fmt: skip
                    _keep(m, round_number, runs, best, (m.server, connections))
    return list(best.values())


def v2_throughput(args: argparse.Namespace, runs: list[Measurement]) -> list[Measurement]:
    """One Glassbox, its /predict and its Open Inference Protocol infer with the same rows (as
    JSON tensors, and as binary tensors both ways, tritonclient's default), and a real
    MLServer serving the same model file with its defaults, back to back, at the first
    connection count: single rows and batches of 100."""
    connections = args.connections[0]
    best: dict[tuple[str, int], Measurement] = {}
    with started("glassbox", args.model_dir) as server, mlserver(args.model_dir) as peer:
        for round_number in range(1, args.rounds + 1):
            for rows in (1, BATCH_ROWS):
                for target, protocol in (
                    (server, "native"), (server, "v2"), (server, "v2-binary"), (peer, "v2"),
                ):  # fmt: skip
                    m = drive(target, rows, args.seconds, connections, protocol=protocol)
                    _keep(m, round_number, runs, best, (f"{m.server}:{m.model}", rows))
    return list(best.values())


def body_validation_us(model_dir: str) -> dict[str, float]:
    """Validating the Iris body, µs: the hand-written IrisFeatures of the Iris-only API
    (bench/baseline_app.py) against the body Glassbox generates from the contract."""
    sys.path.insert(0, str(ROOT))
    os.environ["MODEL_DIR"] = model_dir  # bench/baseline_app.py loads it at import
    from app.api.model_api import BatchBody, build_model_api
    from app.ml.artifact import read_metadata
    from app.ml.contract import Contract
    from bench.baseline_app import IrisFeatures

    metadata = read_metadata(Path(model_dir))
    api = build_model_api(Contract.from_metadata(metadata), metadata)
    batch = {"instances": [FLOWER] * BATCH_ROWS}
    context = {"max_batch_size": 1000}

    class HandWrittenBatch(BatchBody):  # the Iris-only API's batch: the same base, a typed row
        instances: list[IrisFeatures]

    return {
        "hand-written": best_time_us(lambda: IrisFeatures.model_validate(FLOWER)),
        "generated": best_time_us(lambda: api.row.model_validate(FLOWER)),
        "hand-written batch": best_time_us(
            lambda: HandWrittenBatch.model_validate(batch, context=context)
        ),
        "generated batch": best_time_us(lambda: api.batch.model_validate(batch, context=context)),
    }


def best_time_us(call: Callable[[], object]) -> float:
    call()
    number = 2000
    return min(timeit.repeat(call, number=number, repeat=9)) / number * 1e6


def warm_model_call(model_dir: str) -> dict[str, float]:
    """One row, the same row again and again (caches warm): scikit-learn, Glassbox's path, NumPy."""
    sys.path.insert(0, str(ROOT))
    from app.ml.artifact import load_artifact
    from app.ml.inference import SklearnPath, choose_path
    from bench.baseline_app import NumpyFloor

    artifact = load_artifact(Path(model_dir))
    row = np.array([list(FLOWER.values())], dtype=np.float64)
    path, _ = choose_path(
        artifact.model, artifact.contract, artifact.onnx_model, artifact.reference_rows
    )
    floor = NumpyFloor(artifact.model)
    assert np.allclose(floor.run(row), artifact.model.predict_proba(row), atol=1e-12)
    sklearn_path = SklearnPath(artifact.model, artifact.contract)
    return {
        "bare-sklearn": best_time_us(lambda: sklearn_path.run(row)),
        "bare-glassbox": best_time_us(lambda: path.run(row)),
        "bare-numpy": best_time_us(lambda: floor.run(row)),
    }


# Each fast path (app/core/config.py FAST_PATHS) and the request that takes it: its rows
# and its protocol (`extra`: more fields of a V2 request).
FAST_PATH_LOADS: dict[str, dict[str, Any]] = {
    "fast-json": {"rows": BATCH_ROWS},
    "v2-plain-tensor": {"rows": 1, "protocol": "v2"},
    "direct-dispatch": {"rows": 1},
}
FAST_PATH_ROUNDS = 5
FAST_PATH_SECONDS = 4


def fast_paths(args: argparse.Namespace, runs: list[Measurement]) -> None:
    """Glassbox with every fast path on against Glassbox with one given way to its slow
    twin (FAST_PATHS_OFF), back to back per round on the request that takes it; and an A/A
    pair, two identical servers on /predict, whose spread is the noise a gain must clear
    (bench/targets.py). Every round's measurement goes to `runs` (model "fast:<name>").

    Fair to both sides: the all-on server runs in every pair, so it would serve several
    times what each partner does, and a prediction memory filling up as the rounds go
    slowed it alone (the A/A pair read 0.88x at the median, 2026-12-07): here no server
    keeps one (FEEDBACK_MEMORY_ROWS=0; what the fast paths change is before it), and each
    pair's order alternates from round to round."""
    connections = args.connections[0]
    fair = {"FEEDBACK_MEMORY_ROWS": "0"}
    with ExitStack() as stack:
        on = stack.enter_context(started("glassbox", args.model_dir, **fair))
        same = stack.enter_context(started("glassbox-same", args.model_dir, **fair))
        off = {
            name: stack.enter_context(
                started(f"glassbox-no-{name}", args.model_dir, FAST_PATHS_OFF=name, **fair)
            )
            for name in FAST_PATH_LOADS
        }
        for round_number in range(1, FAST_PATH_ROUNDS + 1):
            flip = round_number % 2 == 0
            for server in (same, on) if flip else (on, same):
                m = drive(server, 1, FAST_PATH_SECONDS, connections, model="fast:control")
                _keep(m, round_number, runs, {}, (m.server, 1))
            for name, load in FAST_PATH_LOADS.items():
                for server in (off[name], on) if flip else (on, off[name]):
                    m = drive(
                        server,
                        load["rows"],
                        FAST_PATH_SECONDS,
                        connections,
                        model=f"fast:{name}",
                        protocol=load.get("protocol", "native"),
                        extra=load.get("extra"),
                    )
                    _keep(m, round_number, runs, {}, (m.server, m.rows))
