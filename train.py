"""Train the Iris classifier and write a versioned, verifiable artifact.

    python train.py [--data data/iris.csv] [--output-dir artifacts] [--seed 42]
                    [--min-accuracy 0.90] [--model-version V] [--c 1.0] [--max-iter 1000]
                    [--poison-level 0.0] [--promote]

Writes artifacts/<version>/{model.joblib,model.onnx,metadata.json} (and metadata.json.sig
when MODEL_SIGNING_KEY is set: see app/ml/signing.py), unless held-out accuracy is below
--min-accuracy: then it exits 1 and writes nothing. The new version is a candidate:
artifacts/latest, what serves, moves only with --promote (or `make promote` later), so a
retrain never changes the served model by accident; `make run`'s first training promotes,
as nothing serves yet. Logs are JSON lines, like the service.

--poison-level P flips the labels of a fraction P of the *training* rows to another class
(seeded, recorded in the metadata), for the poisoning experiments (`make experiments`):
evaluation always uses the clean held-out split, and the quality gate still applies.
"""

import argparse
import csv
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from app.api.schemas import IrisFeatures
from app.core.keys import InvalidKeyError
from app.core.logging import configure_logging, get_logger
from app.ml.artifact import is_safe_version, sha256_file, write_artifact
from app.ml.drift import feature_profile
from app.ml.export import ExportError, export_onnx
from app.ml.promotion import repoint

MODEL_NAME = "iris-classifier"
FEATURES = list(IrisFeatures.model_fields)  # the API's field order is the model's column order
TARGET = "species"
EXIT_QUALITY_GATE = 1
# Training rows kept in metadata.json: the service replays them through the ONNX export
# and scikit-learn at load, and serves the export only if both agree.
REFERENCE_ROWS = 256

logger = get_logger("glassbox.train")


class DatasetError(ValueError):
    pass


def load_dataset(path: Path) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], list[str]]:
    """Read the CSV into X (FEATURES order), integer y, and the sorted class names."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (*FEATURES, TARGET) if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path} lacks columns {missing}")
        rows = list(reader)
    if not rows:
        raise DatasetError(f"{path} has no rows")
    try:
        features = np.array([[float(row[c]) for c in FEATURES] for row in rows], dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"{path} has a non-numeric feature value: {exc}") from exc
    if not np.isfinite(features).all():
        raise DatasetError(f"{path} has NaN or infinite feature values")
    labels = [row[TARGET] for row in rows]
    class_names = sorted(set(labels))
    target = np.array([class_names.index(label) for label in labels], dtype=np.int64)
    return features, target, class_names


def build_pipeline(seed: int, c: float, max_iter: int) -> Pipeline:
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            ("classifier", LogisticRegression(C=c, max_iter=max_iter, random_state=seed)),
        ]
    )


def evaluate(
    model: Pipeline,
    features: npt.NDArray[np.float64],
    target: npt.NDArray[np.int64],
    class_names: list[str],
) -> dict[str, Any]:
    predicted = model.predict(features)
    labels = list(range(len(class_names)))
    report = classification_report(
        target, predicted, labels=labels, target_names=class_names, output_dict=True,
        zero_division=0,
    )  # fmt: skip
    return {
        "accuracy": float(accuracy_score(target, predicted)),
        "f1_macro": float(f1_score(target, predicted, average="macro")),
        "per_class": {name: {k: float(v) for k, v in report[name].items()} for name in class_names},
        "confusion_matrix": confusion_matrix(target, predicted, labels=labels).tolist(),
        "test_rows": len(target),
    }


def default_version(data_sha256: str, params: dict[str, Any]) -> str:
    """Same data, parameters and scikit-learn -> same version: retraining is idempotent."""
    fingerprint = json.dumps(
        {"data": data_sha256, "params": params, "sklearn": sklearn.__version__}, sort_keys=True
    )
    return "v-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:12]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=Path("data/iris.csv"), help="training CSV")
    parser.add_argument(
        "--output-dir", type=Path, default=Path("artifacts"), help="where versions are written"
    )
    parser.add_argument("--seed", type=int, default=42, help="split, fit and poisoning seed")
    parser.add_argument(
        "--test-size", type=float, default=0.2, help="held-out share for the evaluation"
    )
    parser.add_argument(
        "--min-accuracy",
        type=float,
        default=0.90,
        help="quality gate: below this held-out accuracy nothing is written",
    )
    parser.add_argument(
        "--model-version",
        default=None,
        # "%(default).0s" prints nothing and tells the formatter not to add "(default: None)".
        help="version name (default: a hash of data + params)%(default).0s",
    )
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--max-iter", type=int, default=1000, help="solver iterations at most")
    parser.add_argument(
        "--poison-level",
        type=_fraction,
        default=0.0,
        help="fraction of training labels flipped to another class (0 <= P < 1); one seed's "
        "accuracy varies around the sweep's mean (make experiments)",
    )
    parser.add_argument(
        "--promote",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="point latest at the new version once it passed the quality gate; without it "
        "the version is a candidate and what serves does not change",
    )
    args = parser.parse_args(argv)
    if args.model_version is not None and not is_safe_version(args.model_version):
        parser.error(
            "--model-version must match [A-Za-z0-9._-]{1,64}, not start with '.' "
            "and not be 'latest'"
        )
    return args


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1)")
    return value


def poison_labels(
    labels: npt.NDArray[np.int64], level: float, n_classes: int, seed: int
) -> tuple[npt.NDArray[np.int64], int]:
    """Flip round(level * n) labels, chosen with the seed, each to a different class drawn
    uniformly from the others; the flipped copy and how many rows were flipped."""
    rng = np.random.default_rng(seed)
    flipped = labels.copy()
    count = round(level * len(labels))
    rows = rng.choice(len(labels), size=count, replace=False)
    # An offset in 1..n_classes-1 always lands on another class.
    flipped[rows] = (labels[rows] + rng.integers(1, n_classes, size=count)) % n_classes
    return flipped, count


@dataclass(frozen=True)
class TrainingRun:
    model: Pipeline
    metrics: dict[str, Any]
    x_train: npt.NDArray[np.float64]
    train_rows: int
    flipped_rows: int


def fit_and_evaluate(
    features: npt.NDArray[np.float64],
    target: npt.NDArray[np.int64],
    class_names: list[str],
    *,
    seed: int,
    test_size: float,
    c: float,
    max_iter: int,
    poison_level: float = 0.0,
) -> TrainingRun:
    """The stratified split, the (optionally poisoned) fit and the clean held-out
    evaluation: what every training run does, here and in experiments/poisoning.py."""
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=test_size, random_state=seed, stratify=target
    )
    y_fit, flipped_rows = poison_labels(y_train, poison_level, len(class_names), seed)
    model = build_pipeline(seed, c, max_iter).fit(x_train, y_fit)
    metrics = evaluate(model, x_test, y_test, class_names)
    return TrainingRun(model, metrics, x_train, len(y_train), flipped_rows)


def main(argv: list[str] | None = None) -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    args = parse_args(argv)
    try:
        features, target, class_names = load_dataset(args.data)
    except (OSError, DatasetError) as exc:
        logger.error("dataset_invalid", data=str(args.data), message=str(exc))
        return 2

    params: dict[str, Any] = {
        "seed": args.seed,
        "test_size": args.test_size,
        "C": args.c,
        "max_iter": args.max_iter,
    }
    if args.poison_level:  # absent when clean, so clean versions keep their hash
        params["poison_level"] = args.poison_level
    run = fit_and_evaluate(
        features,
        target,
        class_names,
        seed=args.seed,
        test_size=args.test_size,
        c=args.c,
        max_iter=args.max_iter,
        poison_level=args.poison_level,
    )
    model, metrics, x_train, flipped_rows = run.model, run.metrics, run.x_train, run.flipped_rows
    if flipped_rows:
        logger.warning(
            "training_labels_poisoned",
            poison_level=args.poison_level,
            flipped_rows=flipped_rows,
            train_rows=run.train_rows,
        )
    data_sha256 = sha256_file(args.data)
    version = args.model_version or default_version(data_sha256, params)
    logger.info(
        "model_evaluated",
        model_version=version,
        accuracy=metrics["accuracy"],
        f1_macro=metrics["f1_macro"],
        confusion_matrix=metrics["confusion_matrix"],
    )

    if metrics["accuracy"] < args.min_accuracy:
        logger.error(
            "quality_gate_failed",
            model_version=version,
            accuracy=metrics["accuracy"],
            min_accuracy=args.min_accuracy,
            message="artifact not written; latest unchanged",
        )
        return EXIT_QUALITY_GATE

    try:
        onnx_model: bytes | None = export_onnx(model, len(FEATURES))
        onnx_export = "exported"
    except ExportError as exc:
        onnx_model, onnx_export = None, f"failed: {exc}"
        logger.warning("onnx_export_failed", model_version=version, message=str(exc))

    counts = np.bincount(target, minlength=len(class_names))
    metadata = {
        "model_name": MODEL_NAME,
        "model_version": version,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "feature_names": FEATURES,
        "class_names": class_names,
        "metrics": metrics,
        "quality_gate": {"min_accuracy": args.min_accuracy, "passed": True},
        "params": params,
        "training_data": {
            "path": str(args.data),
            "sha256": data_sha256,
            "rows": len(target),
            "train_rows": run.train_rows,
        },
        "poisoning": {
            "level": args.poison_level,
            "flipped_rows": flipped_rows,
            "seed": args.seed,
        },
        "feature_ranges": {
            name: {"min": float(features[:, i].min()), "max": float(features[:, i].max())}
            for i, name in enumerate(FEATURES)
        },
        # The baseline of the drift metrics: deciles of the training split, per feature.
        "feature_deciles": {
            name: feature_profile(x_train[:, i]) for i, name in enumerate(FEATURES)
        },
        "onnx_export": onnx_export,
        # One valid request body, served by GET /model: what the chart's `helm test`, the
        # k6 load test and scripts/traffic.py send, whatever the model's inputs are.
        "example": dict(zip(FEATURES, x_train[0].tolist(), strict=True)),
        "reference_inputs": x_train[:REFERENCE_ROWS].tolist(),
        "class_priors": {
            name: float(count / len(target))
            for name, count in zip(class_names, counts, strict=True)
        },
        "versions": {
            "python": platform.python_version(),
            "sklearn": sklearn.__version__,
            "joblib": joblib.__version__,
            "numpy": np.__version__,
            "skl2onnx": importlib.metadata.version("skl2onnx"),
        },
    }
    signing_key = os.environ.get("MODEL_SIGNING_KEY", "")
    try:
        path = write_artifact(model, metadata, args.output_dir, version, onnx_model, signing_key)
    except InvalidKeyError as exc:
        logger.error("signing_key_invalid", message=str(exc))
        return 2
    if not signing_key:
        logger.warning(
            "model_unsigned",
            model_version=version,
            message="MODEL_SIGNING_KEY is not set; a service with MODEL_PUBLIC_KEY will refuse it",
        )
    if args.promote:  # just written and gated; rollback can return to the previous one
        repoint(args.output_dir, version)
    logger.info(
        "model_trained",
        model_name=MODEL_NAME,
        model_version=version,
        path=str(path),
        accuracy=metrics["accuracy"],
        promoted=args.promote,
        message=(
            f"now {args.output_dir / 'latest'}; `make reload` serves it"
            if args.promote
            else f"a candidate; `make promote VERSION={version}` serves it"
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
