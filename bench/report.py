"""`make bench`'s report: bench/results/latest.md (the tables, the paired ratios, every
target's verdict) and latest.json (every measurement of every round, for a later look)."""

import argparse
import os
import platform
import subprocess
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.scenarios import FAST_PATH_LOADS, FAST_PATH_ROUNDS, FAST_PATH_SECONDS
from bench.servers import BATCH_ROWS, FLOORS, MLSERVER, SERVERS
from bench.targets import (
    Results,
    batch_gain,
    estimate_ratio,
    fast_path_gain,
    noise,
    paired_ratio,
    shadow_ratio,
    trace_ratio,
    v2_binary_ratio,
    v2_peer_ratio,
)


def mlserver_version() -> str:
    result = subprocess.run(
        [str(MLSERVER.parent / "python"), "-c", "import mlserver; print(mlserver.__version__)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.stdout.strip() or "?"


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def markdown(args: argparse.Namespace, r: Results, checks: list[tuple[str, bool]]) -> str:
    """The run as bench/results/latest.md: the tables, the ratios, every target's verdict."""
    runs, tails, model, stall, body = r.runs, r.tails, r.model_call_us, r.stall, r.body_us
    c0 = args.connections[0]
    peer = {rows: v2_peer_ratio(r.v2_runs, rows, c0) for rows in (1, BATCH_ROWS)}
    binary = {rows: v2_binary_ratio(r.v2_runs, rows, c0) for rows in (1, BATCH_ROWS)}
    cell = {(m.server, m.connections, m.rows): m for m in r.best}
    lines = [
        f"`make bench` on {datetime.now(UTC):%Y-%m-%d}, {machine()}; "
        f"servers pinned to core 0, wrk to core 1; best of {args.rounds} rounds of {args.seconds} s.",
        "",
        "| server | conns | rows/request | requests/s | rows/s | p50 ms | p99 ms | CPU-s / 1k requests | req/s vs bare-sklearn |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in (1, BATCH_ROWS):
        for c in args.connections:
            base = cell[("bare-sklearn", c, rows)].requests_per_second
            for name in [*SERVERS, *(FLOORS if rows == 1 else ())]:
                m = cell[(name, c, rows)]
                lines.append(
                    f"| {name} | {c} | {rows} | {m.requests_per_second:,.0f} | {m.rows_per_second:,.0f} | "
                    f"{m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.cpu_seconds_per_1000:.3f} | {m.requests_per_second / base:.2f}x |"
                )
    lines += [
        "",
        "raw-asgi is the floor: one ASGI callable with no framework, validation, metrics, log "
        "line or request id (bench/raw_app.py), on Glassbox's own uvicorn settings; "
        "raw-asgi-defaults is the same callable on uvicorn's defaults (uvloop). "
        "Glassbox's req/s over each, median of the paired rounds:",
        "",
        *(
            f"- {c} conns: {paired_ratio(runs, 'bare-glassbox', c, 1):.2f}x bare-glassbox "
            f"(p99 {paired_ratio(runs, 'bare-glassbox', c, 1, metric='p99_ms'):.2f}x), "
            f"{paired_ratio(runs, 'raw-asgi', c, 1):.2f}x raw-asgi, "
            f"{paired_ratio(runs, 'raw-asgi-defaults', c, 1):.2f}x raw-asgi-defaults; "
            f"batch of {BATCH_ROWS}: "
            f"{paired_ratio(runs, 'bare-glassbox', c, BATCH_ROWS, metric='rows_per_second'):.2f}x "
            f"bare-glassbox rows/s, {batch_gain(runs, c):.1f}x its own one-row rows/s"
            for c in args.connections
        ),
    ]
    wide_cell = {(m.server, m.rows): m for m in r.wide}
    lines += [
        "",
        f"Breast cancer (30 inputs, 2 classes, trained by train.py in this run), {args.connections[0]} connections:",
        "",
        "| server | rows/request | requests/s | rows/s | p50 ms | p99 ms | CPU-s / 1k requests | req/s vs bare-sklearn |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows in (1, BATCH_ROWS):
        base = wide_cell[("bare-sklearn", rows)].requests_per_second
        for name in SERVERS:
            m = wide_cell[(name, rows)]
            lines.append(
                f"| {name} | {rows} | {m.requests_per_second:,.0f} | {m.rows_per_second:,.0f} | "
                f"{m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.cpu_seconds_per_1000:.3f} | {m.requests_per_second / base:.2f}x |"
            )
    lines += [
        "",
        f"Open Inference Protocol (the same rows as one [N, 4] FP64 tensor; MLServer {mlserver_version()} "
        f"with mlserver-sklearn, its defaults, serving the same model.joblib), {args.connections[0]} connections:",
        "",
        "| server | route | rows/request | requests/s | rows/s | p50 ms | p99 ms | CPU-s / 1k requests |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in sorted(r.v2, key=lambda m: (m.rows, m.server, m.model)):
        route = (
            ("/predict" if m.rows == 1 else "/predict/batch")
            if m.model == "iris"
            else "/v2/models/iris-classifier/infer"
            + (" (binary tensors)" if m.model.endswith("-binary") else "")
        )
        lines.append(
            f"| {m.server} | {route} | {m.rows} | {m.requests_per_second:,.0f} | {m.rows_per_second:,.0f} | "
            f"{m.p50_ms:.2f} | {m.p99_ms:.2f} | {m.cpu_seconds_per_1000:.3f} |"
        )
    lines += [
        "",
        f"Glassbox's infer against MLServer's, req/s (median of paired rounds): {peer[1]:.2f}x for one row, "
        f"{peer[BATCH_ROWS]:.2f}x for {BATCH_ROWS} rows.",
        "",
        f"Binary tensors both ways (the binary tensor data extension, tritonclient's default) against JSON "
        f"tensors, req/s (median of paired rounds): {binary[1]:.2f}x for one row, {binary[BATCH_ROWS]:.2f}x "
        f"for {BATCH_ROWS} rows.",
        "",
        "Shadow candidate (glassbox-shadow: SHADOW_MODEL_DIR, another Iris version scored on every "
        "request off the response's path), prediction events (glassbox-events: "
        "PREDICTION_LOG_SAMPLE=1, inputs logged) and the shared prediction store (glassbox-store: "
        "PREDICTION_STORE_URL, a redis-server on wrk's core; its rows written per row answered: "
        f"{r.store_written_share:.3f}), /predict, one row; ratios to glassbox are "
        "medians of the paired rounds:",
        "",
        "| server | conns | requests/s | p50 ms | p99 ms | CPU-s / 1k requests | req/s vs glassbox | p99 vs glassbox |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {m.server} | {m.connections} | {m.requests_per_second:,.0f} | {m.p50_ms:.2f} | "
            f"{m.p99_ms:.2f} | {m.cpu_seconds_per_1000:.3f} | "
            + (
                "1.00x | 1.00x |"
                if m.server == "glassbox"
                else f"{shadow_ratio(r.shadow_runs, m.server, m.connections, 'requests_per_second'):.2f}x | "
                f"{shadow_ratio(r.shadow_runs, m.server, m.connections, 'p99_ms'):.2f}x |"
            )
            for m in sorted(r.shadow, key=lambda m: (m.connections, m.server))
        ),
        "",
        "The shared store's write rate at that load (rows written per row answered x req/s): "
        + ", ".join(
            f"{m.requests_per_second * r.store_written_share:,.0f} rows/s at {m.connections} conns"
            for m in sorted(r.shadow, key=lambda m: m.connections)
            if m.server == "glassbox-store"
        )
        + ".",
        "",
        "Traces (docs/tracing.md), /predict, one row: glassbox-context gets a caller's sampled "
        "traceparent on every request and exports nothing; glassbox-spans-1 / -100 export spans "
        "over OTLP/HTTP (bench/otlp_sink.py on wrk's core), 1 % / every request sampled; "
        "bare-glassbox-otel is the bare endpoint with opentelemetry-instrumentation-asgi and the "
        "same SDK and exporter, every request sampled. Ratios: to glassbox, or for bare-glassbox-otel "
        "to bare-glassbox, medians of the paired rounds:",
        "",
        "| server | conns | requests/s | p50 ms | p99 ms | CPU-s / 1k requests | req/s vs untraced | p99 vs untraced |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {m.server} | {m.connections} | {m.requests_per_second:,.0f} | {m.p50_ms:.2f} | "
            f"{m.p99_ms:.2f} | {m.cpu_seconds_per_1000:.3f} | "
            f"{trace_ratio(r.trace_runs, m.server):.2f}x | {trace_ratio(r.trace_runs, m.server, 'p99_ms'):.2f}x |"
            for m in sorted(r.traced, key=lambda m: m.server)
        ),
        "",
        "Estimated quality (docs/estimates.md), /predict, one row: glassbox serves Iris with its "
        "calibration (as shipped) against glassbox-unestimated, the same model without it; "
        "glassbox-nanny a diabetes regressor with its loss model against glassbox-no-nanny, the "
        "same regressor without. Ratios: medians of the paired rounds:",
        "",
        "| server | conns | requests/s | p50 ms | p99 ms | CPU-s / 1k requests | req/s vs without | p99 vs without |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *(
            f"| {m.server} | {m.connections} | {m.requests_per_second:,.0f} | {m.p50_ms:.2f} | "
            f"{m.p99_ms:.2f} | {m.cpu_seconds_per_1000:.3f} | "
            f"{estimate_ratio(r.estimate_runs, m.server):.2f}x | {estimate_ratio(r.estimate_runs, m.server, 'p99_ms'):.2f}x |"
            for m in sorted(r.estimated, key=lambda m: m.server)
            if m.server in ("glassbox", "glassbox-nanny")
        ),
        "",
        "Iris request body validation, µs (timeit): hand-written IrisFeatures / generated from the contract: "
        f"one row {body['hand-written']:.2f} / {body['generated']:.2f}; "
        f"a batch of {BATCH_ROWS} {body['hand-written batch']:.1f} / {body['generated batch']:.1f}",
        "",
        "Model call for one row, µs: scikit-learn / Glassbox's path (ONNX Runtime) / NumPy floor",
        f"- warm (timeit, the same row repeated): {model['warm']['bare-sklearn']:.1f} / {model['warm']['bare-glassbox']:.1f} / {model['warm']['bare-numpy']:.1f}",
        f"- in situ (each server's own timer under {args.connections[0]} connections; Glassbox: model_inference_duration_seconds): "
        f"{model['in_situ']['bare-sklearn']:.1f} / {model['in_situ']['glassbox']:.1f} / {model['in_situ']['bare-numpy']:.1f}",
        "",
    ]
    if tails:
        lines.append(
            f"Tail: {args.tail_runs} fresh runs of {args.tail_seconds} s at 64 connections, p99 ms (timeouts):"
        )
        lines.append("")
        for name in ("bare-sklearn", "glassbox"):
            fresh = [m for m in tails if m.server == name]
            lines.append(f"- {name}: " + ", ".join(f"{m.p99_ms:.1f} ({m.timeouts})" for m in fresh))
        lines.append("")
    lines += [
        f"Over-size batches: /predict p50 {stall['p50_alone_ms']:.2f} ms alone, "
        f"{stall['p50_beside_oversize_ms']:.2f} ms beside 4 connections sending 11,500-row batches (refused 413).",
        "",
    ]
    if r.fast_runs:
        lines += _fast_path_lines(r)
    lines += ["Targets:", ""] + [f"- {'PASS' if ok else 'FAIL'} {text}" for text, ok in checks]
    return "\n".join(lines) + "\n"


def _fast_path_lines(r: Results) -> list[str]:
    """Each fast path's gain over its slow twin (FAST_PATHS_OFF), against the A/A noise."""
    c0 = r.fast_runs[0].connections
    lines = [
        f"Fast paths (docs/performance.md#fast-paths): Glassbox with all on against Glassbox with "
        f"one off, back to back, {FAST_PATH_ROUNDS} rounds of {FAST_PATH_SECONDS} s at {c0} "
        f"connections on the request each serves; noise: two identical servers' widest round "
        f"({noise(r.fast_runs):.1%}).",
        "",
        "| fast path | request | req/s gain over its slow twin (median) | over the noise |",
        "|---|---|---:|---:|",
    ]
    for name, load in FAST_PATH_LOADS.items():
        request = (
            "V2 infer"
            if load.get("protocol") == "v2"
            else "/predict"
            if load["rows"] == 1
            else f"/predict/batch of {load['rows']}"
        )
        if load.get("extra"):
            request += " with " + ", ".join(load["extra"])
        gain = fast_path_gain(r.fast_runs, name)
        lines.append(
            f"| {name} | {request} | {gain:+.1%} | {gain / max(noise(r.fast_runs), 1e-9):.1f}x |"
        )
    return [*lines, ""]


def document(
    args: argparse.Namespace, r: Results, checks: list[tuple[str, bool]]
) -> dict[str, Any]:
    """latest.json: the settings, every round of every section, the verdicts."""
    c0 = args.connections[0]
    return {
        "date": datetime.now(UTC).isoformat(), "machine": machine(), "settings": {k: str(v) for k, v in vars(args).items()},
        "throughput": [asdict(m) for m in r.best], "tail": [asdict(m) for m in r.tails],
        "rounds": [asdict(m) for m in r.runs],
        "breast_cancer": [asdict(m) for m in r.wide], "body_validation_us": r.body_us,
        "open_inference_protocol": [asdict(m) for m in r.v2],
        "traces": [asdict(m) for m in r.traced], "trace_rounds": [asdict(m) for m in r.trace_runs], "shadow": [asdict(m) for m in r.shadow], "store_written_share": r.store_written_share, "shadow_rounds": [asdict(m) for m in r.shadow_runs],
        "estimates": [asdict(m) for m in r.estimated], "estimate_rounds": [asdict(m) for m in r.estimate_runs],
        "open_inference_protocol_vs_mlserver": {str(rows): v2_peer_ratio(r.v2_runs, rows, c0) for rows in (1, BATCH_ROWS)},
        "binary_vs_json_tensors": {str(rows): v2_binary_ratio(r.v2_runs, rows, c0) for rows in (1, BATCH_ROWS)},
        "fast_path_rounds": [asdict(m) for m in r.fast_runs],
        "fast_path_gains": {name: fast_path_gain(r.fast_runs, name) for name in FAST_PATH_LOADS} if r.fast_runs else {},
        "noise": noise(r.fast_runs) if r.fast_runs else None,
        "model_call_us": r.model_call_us, "rejection_stall_ms": r.stall, "targets": [{"target": t, "pass": ok} for t, ok in checks],
    }  # fmt: skip


def write(output: Path, report: str, doc: dict[str, Any]) -> None:
    import json

    output.mkdir(parents=True, exist_ok=True)
    (output / "latest.md").write_text(report)
    (output / "latest.json").write_text(json.dumps(doc, indent=2) + "\n")
