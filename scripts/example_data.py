"""Example CSVs to train Glassbox on something that is not Iris: scikit-learn's bundled
wine, breast cancer and diabetes sets, and a made-up churn table with categorical, integer
and boolean columns. The tests and `make bench` use the same files.

    python scripts/example_data.py DIRECTORY [wine breast_cancer diabetes churn]
    make train TRAIN_ARGS="--data DIRECTORY/wine.csv --target target --promote"

Column names are made field names (`mean radius` -> `mean_radius`): a CSV header is the
request's field names, so it must be an identifier (train.py refuses one that is not).
"""

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine


@dataclass(frozen=True)
class Written:
    path: Path
    target: str
    task: str
    inputs: list[str]


def _field(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_").lower()


def _write(path: Path, header: list[str], rows: list[list[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def bundled(name: str, directory: Path) -> Written:
    """wine (13 inputs, 3 classes), breast_cancer (30, 2), digits (64, 10) or diabetes (10,
    regression)."""
    loader = {
        "wine": load_wine,
        "breast_cancer": load_breast_cancer,
        "digits": load_digits,
        "diabetes": load_diabetes,
    }
    bunch = loader[name]()
    inputs = [_field(feature) for feature in bunch.feature_names]
    regression = name == "diabetes"
    labels = (
        [float(value) for value in bunch.target]
        if regression
        else [str(bunch.target_names[index]) for index in bunch.target]
    )
    path = directory / f"{name}.csv"
    _write(
        path,
        [*inputs, "target"],
        [[*map(float, row), label] for row, label in zip(bunch.data, labels, strict=True)],
    )
    return Written(path, "target", "regression" if regression else "classification", inputs)


def churn(directory: Path, rows: int = 600, seed: int = 7) -> Written:
    """A made-up churn table: plan and region are categories, tenure_months and
    support_calls integers, autopay a boolean, monthly_fee a number."""
    rng = np.random.default_rng(seed)
    plans, regions = ["basic", "pro", "team"], ["north", "south", "east", "west"]
    table: list[list[object]] = []
    for _ in range(rows):
        plan, region = str(rng.choice(plans)), str(rng.choice(regions))
        tenure, calls = int(rng.integers(1, 72)), int(rng.poisson(2))
        autopay = bool(rng.random() < 0.6)
        fee = round(float(rng.normal({"basic": 20, "pro": 45, "team": 80}[plan], 5)), 2)
        score = 0.8 * calls - 0.05 * tenure + (0.9 if plan == "basic" else 0) - 0.7 * autopay
        churned = "yes" if score + rng.normal(0, 0.5) > 0 else "no"
        table.append([plan, region, tenure, calls, "true" if autopay else "false", fee, churned])
    header = ["plan", "region", "tenure_months", "support_calls", "autopay", "monthly_fee"]
    path = directory / "churn.csv"
    _write(path, [*header, "churned"], table)
    return Written(path, "churned", "classification", header)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.split("\n\n")[1])
        return 2
    directory = Path(argv[0])
    directory.mkdir(parents=True, exist_ok=True)
    for name in argv[1:] or ["wine", "breast_cancer", "diabetes", "churn"]:
        written = churn(directory) if name == "churn" else bundled(name, directory)
        print(
            f"{written.path}: --target {written.target} "
            f"({written.task}, {len(written.inputs)} inputs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
