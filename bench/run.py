"""`make bench`: Glassbox against bare FastAPI baselines, a raw-ASGI floor and MLServer,
measured in one run; writes bench/results/latest.{md,json}.

The sections, in order (each in bench/scenarios.py; the servers in bench/servers.py):

1. throughput: bare-sklearn, bare-glassbox, glassbox, the raw-ASGI floors and the NumPy
   model-call floor, one row and batches of 100, at each connection count, round after
   round (best round in the table, paired rounds for the ratios);
2. tail: fresh servers at 64 connections, where a multi-second tail used to show;
3. rejections: /predict beside over-size batches that are refused unread;
4. a 30-input breast-cancer classifier trained by train.py in the run;
5. a shadow candidate, prediction events and the shared prediction store (a redis-server)
   against Glassbox as shipped; trace context and spans against Glassbox without, and the
   generic ASGI instrumentation against the bare endpoint without; estimated quality (the
   Iris calibration, a diabetes regressor's loss model) against the same models without;
6. the Open Inference Protocol, and a real MLServer on the same model file;
7. each fast path against its slow twin (FAST_PATHS_OFF), with an A/A pair for the noise;

then the request body's validation (timeit) and the model call warm. The targets are data
(bench/targets.py), the report bench/report.py's.
"""

import argparse
import sys
import tempfile
from pathlib import Path

from bench import scenarios
from bench.report import document, markdown, write
from bench.servers import BATCH_ROWS, ROOT
from bench.targets import Results, checks, estimate_targets, v2_binary_ratio, v2_peer_ratio

RESULTS = ROOT / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--tail-runs", type=int, default=5)
    parser.add_argument("--tail-seconds", type=int, default=10)
    parser.add_argument("--model-dir", default="artifacts/latest")
    parser.add_argument("--no-fast-paths", action="store_true", help="skip section 7")
    parser.add_argument(
        "--only",
        choices=["estimates", "v2"],
        help="run this section alone (a quick look; the report needs every section)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="directory for latest.{md,json}"
    )
    args = parser.parse_args()
    r = Results(connections=args.connections)
    if args.only == "estimates":
        with tempfile.TemporaryDirectory(prefix="glassbox-bench-") as workdir:
            r.estimated = scenarios.estimation_throughput(args, Path(workdir), r.estimate_runs)
        for text, ok in (t.check(r) for t in estimate_targets(r)):
            print(("PASS " if ok else "FAIL ") + text)
        return 0

    if args.only == "v2":
        r.v2 = scenarios.v2_throughput(args, r.v2_runs)
        c0 = args.connections[0]
        for m in sorted(r.v2, key=lambda m: (m.rows, m.server, m.model)):
            print(f"{m.server} {m.model} rows={m.rows} {m.requests_per_second:,.0f} req/s "
                  f"p99 {m.p99_ms:.2f} ms")  # fmt: skip
        for rows in (1, BATCH_ROWS):
            print(f"rows={rows}: binary/JSON {v2_binary_ratio(r.v2_runs, rows, c0):.2f}x, "
                  f"vs MLServer {v2_peer_ratio(r.v2_runs, rows, c0):.2f}x")  # fmt: skip
        return 0

    print("throughput:", flush=True)
    r.best, in_situ = scenarios.throughput(args, r.runs)
    print("tail:", flush=True)
    r.tails = scenarios.tail(args) if args.tail_runs else []
    r.model_call_us = {"warm": scenarios.warm_model_call(args.model_dir), "in_situ": in_situ}
    print("rejections:", flush=True)
    r.stall = scenarios.rejection_stall(args)
    print("breast cancer (30 inputs):", flush=True)
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-") as workdir:
        wide_model = scenarios.train_breast_cancer(Path(workdir))
        r.wide = scenarios.wide_model_throughput(args, wide_model, r.runs)
    print("shadow candidate and prediction events:", flush=True)
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-") as workdir:
        candidate = scenarios.train_shadow_candidate(Path(workdir))
        r.shadow, r.store_written_share = scenarios.shadow_throughput(
            args, candidate, r.shadow_runs
        )
    print("estimated quality:", flush=True)
    with tempfile.TemporaryDirectory(prefix="glassbox-bench-") as workdir:
        r.estimated = scenarios.estimation_throughput(args, Path(workdir), r.estimate_runs)
    print("traces:", flush=True)
    r.traced = scenarios.tracing_throughput(args, r.trace_runs)
    print("open inference protocol:", flush=True)
    r.v2 = scenarios.v2_throughput(args, r.v2_runs)
    if not args.no_fast_paths:
        print("fast paths against their slow twins:", flush=True)
        scenarios.fast_paths(args, r.fast_runs)
    r.body_us = scenarios.body_validation_us(args.model_dir)

    verdicts = checks(r)
    report = markdown(args, r, verdicts)
    print("\n" + report)
    write(args.output, report, document(args, r, verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
