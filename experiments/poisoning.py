"""Label-flipping poisoning: what flipping a share of the training labels does to accuracy.

    python -m experiments.poisoning [--output-dir experiments/results] [--mlflow]

Sweeps poison levels x regularisation strengths C x seeds with train.py's own split,
pipeline, poisoning and evaluation (the clean held-out split, always), and writes
poisoning.csv and poisoning.md (mean and spread over seeds) and poisoning.png (clean-test
accuracy against poison level, one line per C). Seeded throughout: the same inputs give the
same tables, and a test re-runs the sweep and compares them with the committed ones.
With --mlflow or MLFLOW_TRACKING_URI set, every run is tracked (experiments/tracking.py).
"""

import argparse
import csv
import io
import os
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from tqdm import tqdm

from app.ml.artifact import sha256_file
from app.ml.building.dataset import load_dataset
from experiments.runs import Run
from train import fit_and_evaluate

LEVELS = (0.0, 0.05, 0.10, 0.20, 0.30, 0.50)
C_VALUES = (0.01, 0.1, 1.0, 10.0)
SEEDS = (0, 1, 2, 3, 4)
TEST_SIZE = 0.2
MAX_ITER = 1000
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Summary:
    poison_level: float
    c: float
    runs: int
    accuracy_mean: float
    accuracy_spread: float  # population standard deviation over seeds
    f1_macro_mean: float
    f1_macro_spread: float


class Tracker(Protocol):
    def log_run(self, run: Run, model: Any, data_sha256: str) -> None: ...

    def register_best(self, runs: list[Run]) -> str: ...


def run_one(
    features: npt.NDArray[np.float64],
    target: npt.NDArray[np.int64],
    class_names: list[str],
    level: float,
    c: float,
    seed: int,
) -> tuple[Run, Any]:
    """One train.py run: the same split, pipeline, poisoning and clean evaluation."""
    trained = fit_and_evaluate(
        features, target, class_names,
        seed=seed, test_size=TEST_SIZE, c=c, max_iter=MAX_ITER, poison_level=level,
    )  # fmt: skip
    metrics = trained.metrics
    run = Run(
        level, c, seed, trained.flipped_rows, metrics["accuracy"], metrics["f1_macro"],
        metrics["confusion_matrix"],
    )  # fmt: skip
    return run, trained.model


def sweep(
    data: Path,
    levels: tuple[float, ...] = LEVELS,
    c_values: tuple[float, ...] = C_VALUES,
    seeds: tuple[int, ...] = SEEDS,
    tracker: Tracker | None = None,
) -> list[Run]:
    dataset = load_dataset(data)
    features, target, class_names = dataset.features, dataset.target, dataset.class_names
    data_sha256 = sha256_file(data) if tracker is not None else ""  # read once, not per run
    grid = [(level, c, seed) for level in levels for c in c_values for seed in seeds]
    runs = []
    for level, c, seed in tqdm(grid, desc="poisoning sweep", unit="run"):
        run, model = run_one(features, target, class_names, level, c, seed)
        runs.append(run)
        if tracker is not None:
            tracker.log_run(run, model, data_sha256)
    return runs


def summarise(runs: list[Run]) -> list[Summary]:
    groups: dict[tuple[float, float], list[Run]] = {}
    for run in runs:
        groups.setdefault((run.poison_level, run.c), []).append(run)
    return [
        Summary(
            level,
            c,
            len(group),
            statistics.fmean(r.accuracy for r in group),
            statistics.pstdev(r.accuracy for r in group),
            statistics.fmean(r.f1_macro for r in group),
            statistics.pstdev(r.f1_macro for r in group),
        )
        for (level, c), group in sorted(groups.items())
    ]


def _rows(summaries: list[Summary]) -> Iterator[list[str]]:
    for s in summaries:
        yield [
            f"{s.poison_level:.2f}", f"{s.c:g}", str(s.runs),
            f"{s.accuracy_mean:.4f}", f"{s.accuracy_spread:.4f}",
            f"{s.f1_macro_mean:.4f}", f"{s.f1_macro_spread:.4f}",
        ]  # fmt: skip


HEADER = [
    "poison_level", "C", "seeds", "accuracy_mean", "accuracy_spread", "f1_macro_mean",
    "f1_macro_spread",
]  # fmt: skip


def to_csv(summaries: list[Summary]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(_rows(summaries))
    return out.getvalue()


def to_markdown(summaries: list[Summary]) -> str:
    lines = [
        "Clean held-out accuracy and macro-F1 after flipping a share of the training labels "
        "(mean ± spread over seeds; `python -m experiments.poisoning`).",
        "",
        "| poison level | C | accuracy | macro-F1 |",
        "|---:|---:|---:|---:|",
    ]
    for s in summaries:
        lines.append(
            f"| {s.poison_level:.0%} | {s.c:g} | {s.accuracy_mean:.3f} ± {s.accuracy_spread:.3f}"
            f" | {s.f1_macro_mean:.3f} ± {s.f1_macro_spread:.3f} |"
        )
    return "\n".join(lines) + "\n"


def plot(summaries: list[Summary], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=110)
    c_values = sorted({s.c for s in summaries})
    for index, c in enumerate(c_values):
        line = [s for s in summaries if s.c == c]
        nudge = 0.5 * (index - (len(c_values) - 1) / 2)  # keep the error bars apart
        axes.errorbar(
            [100 * s.poison_level + nudge for s in line],
            [s.accuracy_mean for s in line],
            yerr=[s.accuracy_spread for s in line],
            marker="o",
            capsize=3,
            label=f"C = {c:g}",
        )
    axes.axhline(0.90, color="grey", linestyle="--", linewidth=1, label="quality gate (0.90)")
    axes.set_xlabel("training labels flipped (%)")
    axes.set_ylabel("accuracy on the clean test split\n(mean ± spread over seeds)")
    axes.set_title("Iris, logistic regression: label-flipping poisoning")
    axes.set_ylim(0.4, 1.02)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    figure.tight_layout()
    # No timestamp in the file, so re-running the sweep rewrites the same PNG.
    figure.savefig(path, metadata={"Software": None})
    plt.close(figure)


def outputs(summaries: list[Summary]) -> dict[str, str]:
    return {"poisoning.csv": to_csv(summaries), "poisoning.md": to_markdown(summaries)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("data/iris.csv"))
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument("--mlflow", action="store_true", help="track runs (MLFLOW_TRACKING_URI)")
    args = parser.parse_args(argv)
    tracker: Tracker | None = None
    if args.mlflow or os.environ.get("MLFLOW_TRACKING_URI"):
        from experiments.tracking import MlflowTracker

        tracker = MlflowTracker("glassbox-poisoning")
    runs = sweep(args.data, tracker=tracker)
    summaries = summarise(runs)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name, text in outputs(summaries).items():
        (args.output_dir / name).write_text(text)
    plot(summaries, args.output_dir / "poisoning.png")
    if tracker is not None:
        tracker.register_best(runs)
    print(to_markdown(summaries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
