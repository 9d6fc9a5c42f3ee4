"""Train a tabular model on a CSV and write a versioned, verifiable artifact.

    python train.py [--data data/iris.csv] [--target species] [--task auto]
                    [--model-name NAME] [--column NAME=TYPE ...] [--contract FILE]
                    [--drop COLUMN ...] [--output-dir artifacts] [--seed 42]
                    [--min-accuracy 0.90] [--min-r2 0.0] [--model-version V]
                    [--c 1.0] [--max-iter 1000] [--alpha 1.0] [--poison-level 0.0] [--promote]

Every column but the target (and --drop) is an input, in the CSV's order. Each input's
type is inferred from its values (app/ml/contract.py: boolean, integer, number, else
category) unless --column NAME=TYPE or a contract file (--contract, default: FILE.contract.json
beside the CSV when there is one) says otherwise; a contract file can also declare bounds
and descriptions (data/iris.contract.json). The task is inferred from the target (text or
few distinct whole numbers: classification; else regression) unless --task says.

The pipeline suits the inputs: numbers (integers, booleans) are standardised, categories
one-hot encoded with unknown categories ignored; then LogisticRegression (--c, --max-iter)
for classification or Ridge (--alpha) for regression. It is evaluated on a held-out split
(stratified for a classifier): accuracy and macro F1, or R² and RMSE. Below the quality
gate (--min-accuracy, or --min-r2) it exits 1 and writes nothing.

Writes artifacts/<version>/{model.joblib,model.onnx,metadata.json} (and metadata.json.sig
when MODEL_SIGNING_KEY is set: see app/ml/signing.py). The new version is a candidate:
artifacts/latest, what serves, moves only with --promote (or `make promote` later), so a
retrain never changes the served model by accident; `make run`'s first training promotes,
as nothing serves yet. Logs are JSON lines, like the service.

--poison-level P flips the labels of a fraction P of the *training* rows to another class
(seeded, recorded in the metadata), for the poisoning experiments (`make experiments`):
evaluation always uses the clean held-out split, and the quality gate still applies. It
is a classification experiment: with a regression target it is refused.
"""

import argparse
import hashlib
import json
import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from app.core.keys import InvalidKeyError
from app.core.logging import configure_logging, get_logger
from app.ml.artifact import is_safe_version, sha256_file
from app.ml.building.dataset import TARGET, DatasetError, column_type, load_dataset
from app.ml.building.estimating import Estimation, fit_estimation
from app.ml.building.packaging import model_input, package, write_signed
from app.ml.contract import Contract, ContractError, Input
from promotion.history import repoint
from promotion.serving import after_writing

DEFAULT_DATA = Path("data/iris.csv")
EXIT_QUALITY_GATE = 1
OUT_OF_FOLDS = 5  # the folds of the training rows' out-of-fold answers
logger = get_logger("glassbox.train")


def build_pipeline(contract: Contract, seed: int, params: Mapping[str, Any]) -> Pipeline:
    """Scaling for numbers, one-hot encoding (unknown categories ignored) for categories,
    then the task's linear estimator: both convert to ONNX exactly."""
    estimator: Any = (
        LogisticRegression(C=params["C"], max_iter=params["max_iter"], random_state=seed)
        if contract.task == "classification"
        else Ridge(alpha=params["alpha"])
    )
    step = "classifier" if contract.task == "classification" else "regressor"
    if contract.numeric:
        return Pipeline([("scaler", StandardScaler()), (step, estimator)])
    numbers = [item.name for item in contract.inputs if item.numeric]
    categories = [item.name for item in contract.inputs if not item.numeric]
    prepare = ColumnTransformer(
        [
            ("numbers", StandardScaler(), numbers),
            ("categories", OneHotEncoder(handle_unknown="ignore"), categories),
        ]
    )
    return Pipeline([("prepare", prepare), (step, estimator)])


def evaluate(
    model: Pipeline,
    features: Any,
    target: npt.NDArray[Any],
    class_names: list[str],
) -> dict[str, Any]:
    predicted = model.predict(features)
    if not class_names:
        return {
            "r2": float(r2_score(target, predicted)),
            "rmse": float(math.sqrt(mean_squared_error(target, predicted))),
            "mae": float(mean_absolute_error(target, predicted)),
            "test_rows": len(target),
        }
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
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="training CSV (default: the data and target the served model was trained on, "
        f"when its artifact recorded them and the file is here; else {DEFAULT_DATA})"
        "%(default).0s",
    )
    parser.add_argument(
        "--target", default=None, help=f"the column to predict (default: {TARGET})%(default).0s"
    )
    parser.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="auto: classification for text or at most 20 distinct whole numbers, else "
        "regression (a contract file's task wins over auto)",
    )
    parser.add_argument(
        "--model-name",
        default=None,
        help="name served in /model and the metrics (default: the CSV's name + "
        "-classifier or -regressor)%(default).0s",
    )
    parser.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="NAME=TYPE",
        help="an input's type instead of the inferred one: number, integer, boolean, category",
    )
    parser.add_argument(
        "--contract",
        type=Path,
        default=None,
        help="JSON with task and per-input type, bounds, description (default: "
        "<data>.contract.json beside the CSV, if present)%(default).0s",
    )
    parser.add_argument(
        "--drop", action="append", default=[], metavar="COLUMN", help="a column not to use"
    )
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
        help="classification quality gate: below this held-out accuracy nothing is written",
    )
    parser.add_argument(
        "--min-r2",
        type=float,
        default=0.0,
        help="regression quality gate: below this held-out R² nothing is written (0: no "
        "better than predicting the mean)",
    )
    parser.add_argument(
        "--model-version",
        default=None,
        # "%(default).0s" prints nothing and tells the formatter not to add "(default: None)".
        help="version name (default: a hash of data + params)%(default).0s",
    )
    parser.add_argument(
        "--c", type=float, default=1.0, help="classification: inverse regularisation strength"
    )
    parser.add_argument(
        "--max-iter", type=int, default=1000, help="classification: solver iterations at most"
    )
    parser.add_argument(
        "--alpha", type=float, default=1.0, help="regression: Ridge's regularisation strength"
    )
    parser.add_argument(
        "--poison-level",
        type=_fraction,
        default=0.0,
        help="fraction of training labels flipped to another class (0 <= P < 1); one seed's "
        "accuracy varies around the sweep's mean (make experiments); classification only",
    )
    parser.add_argument(
        "--promote",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="point latest at the new version once it passed the quality gate; without it "
        "the version is a candidate and what serves does not change",
    )
    args = checked(parser, parser.parse_args(argv))
    args.data, args.target, args.data_chosen = _training_data(args)
    return args


def _training_data(args: argparse.Namespace) -> tuple[Path, str, str]:
    """The CSV and target to train, and why: `--data`; else the served model's own (what
    `latest` in the output directory recorded, when that file is here), so a retrain with
    other parameters retrains the model that serves; else the bundled Iris."""
    if args.data is not None:
        return args.data, args.target or TARGET, "--data"
    try:
        served = json.loads((args.output_dir / "latest" / "metadata.json").read_text())
        recorded = served["training_data"]
        path, target = Path(recorded["path"]), recorded.get("target") or TARGET
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_DATA, args.target or TARGET, "the bundled Iris (no served model's data)"
    if not path.is_file():
        why = f"the bundled Iris (the served model's data {path} is not here)"
        return DEFAULT_DATA, args.target or TARGET, why
    return path, args.target or target, f"the served model's data ({served['model_name']})"


def checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """--column parsed into `overrides` and --model-version checked (train.py, wrap.py)."""
    try:
        args.overrides = dict(column_type(text) for text in args.column)
    except ContractError as exc:
        parser.error(str(exc))
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
    x_train: npt.NDArray[Any]
    train_rows: int
    flipped_rows: int
    # What estimates its quality live before labels, fitted on the held-out rows
    # (app/ml/building/estimating.py), and what those rows said of it.
    estimation: Estimation = field(default_factory=Estimation)


def _out_of_fold(
    contract: Contract,
    seed: int,
    params: dict[str, Any],
    x_train: npt.NDArray[Any],
    y_fit: npt.NDArray[Any],
) -> npt.NDArray[Any]:
    """Each training row's answer from the pipeline fitted on the other folds: more rows
    the estimate of quality can be fitted on than the held-out split alone (the estimate's
    calibration or loss model, app/ml/building/estimating.py). Judged against the clean
    labels, as the held-out split is, when the poisoning experiment flipped the fitted ones."""
    classify = contract.task == "classification"
    counts = np.bincount(np.asarray(y_fit, dtype=np.int64)) if classify else np.array([])
    stratified = classify and counts[counts > 0].min() >= OUT_OF_FOLDS
    splitter = (StratifiedKFold if stratified else KFold)(
        OUT_OF_FOLDS, shuffle=True, random_state=seed
    )
    answers = cross_val_predict(
        build_pipeline(contract, seed, params),
        model_input(contract, x_train, not contract.numeric),
        y_fit,
        cv=splitter,
        method="predict_proba" if classify else "predict",
    )
    return np.asarray(answers, dtype=np.float64)


def fit_and_evaluate(
    features: npt.NDArray[Any],
    target: npt.NDArray[Any],
    class_names: list[str],
    *,
    seed: int,
    test_size: float,
    c: float = 1.0,
    max_iter: int = 1000,
    poison_level: float = 0.0,
    contract: Contract | None = None,
    alpha: float = 1.0,
) -> TrainingRun:
    """The split (stratified for a classifier), the (optionally poisoned) fit and the clean
    held-out evaluation: what every training run does, here and in experiments/poisoning.py.
    Without a contract the rows are numbers and the task classification (the sweep's case)."""
    if contract is None:
        inputs = tuple(Input(f"x{i}", "number") for i in range(features.shape[1]))
        contract = Contract("classification", inputs, tuple(class_names))
    classify = contract.task == "classification"
    x_train, x_test, y_train, y_test = train_test_split(
        features, target, test_size=test_size, random_state=seed,
        stratify=target if classify else None,
    )  # fmt: skip
    y_fit, flipped_rows = (
        poison_labels(y_train, poison_level, len(class_names), seed) if classify else (y_train, 0)
    )
    columns = not contract.numeric  # categories are selected by name: fit on a DataFrame
    params = {"C": c, "max_iter": max_iter, "alpha": alpha}
    model = build_pipeline(contract, seed, params).fit(
        model_input(contract, x_train, columns), y_fit
    )
    held_out = model_input(contract, x_test, columns)
    metrics = evaluate(model, held_out, y_test, class_names)
    estimation = fit_estimation(
        model, contract, x_test, y_test, seed, "held-out split",
        out_of_fold=(x_train, y_train, _out_of_fold(contract, seed, params, x_train, y_fit)),
    )  # fmt: skip
    return TrainingRun(model, metrics, x_train, len(y_train), flipped_rows, estimation)


def main(argv: list[str] | None = None) -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    args = parse_args(argv)
    if args.data_chosen != "--data":  # not the user's choice: say which data this is
        logger.info(
            "training_data", data=str(args.data), target=args.target, chosen=args.data_chosen
        )
    try:
        data = load_dataset(
            args.data,
            args.target,
            task=args.task,
            overrides=args.overrides,
            contract_file=args.contract,
            drop=args.drop,
        )
    except (OSError, DatasetError, ContractError) as exc:
        logger.error("dataset_invalid", data=str(args.data), message=str(exc))
        return 2
    contract = data.contract
    classify = contract.task == "classification"
    if args.poison_level and not classify:
        logger.error(
            "poisoning_not_applicable",
            message="--poison-level flips class labels; it does not apply to a regression "
            f"target ({args.target})",
        )
        return 2

    params: dict[str, Any] = {"seed": args.seed, "test_size": args.test_size}
    params |= {"C": args.c, "max_iter": args.max_iter} if classify else {"alpha": args.alpha}
    if args.poison_level:  # absent when clean, so clean versions keep their hash
        params["poison_level"] = args.poison_level
    if (args.data, args.target) != (DEFAULT_DATA, TARGET) or args.overrides or args.drop:
        # Another dataset or contract: part of the version, absent for the default Iris.
        params["contract"] = {"target": args.target, "task": contract.task, "inputs": [
            f"{item.name}:{item.kind}" for item in contract.inputs
        ]}  # fmt: skip
    try:
        run = fit_and_evaluate(
            data.features,
            data.target,
            data.class_names,
            seed=args.seed,
            test_size=args.test_size,
            c=args.c,
            max_iter=args.max_iter,
            poison_level=args.poison_level,
            contract=contract,
            alpha=args.alpha,
        )
    except ValueError as exc:  # scikit-learn's word on data it cannot split or fit
        logger.error("dataset_invalid", data=str(args.data), message=str(exc))
        return 2
    model, metrics, flipped_rows = run.model, run.metrics, run.flipped_rows
    if flipped_rows:
        logger.warning(
            "training_labels_poisoned",
            poison_level=args.poison_level,
            flipped_rows=flipped_rows,
            train_rows=run.train_rows,
        )
    data_sha256 = sha256_file(args.data)
    version = args.model_version or default_version(data_sha256, params)
    gate_metric, gate_min = ("accuracy", args.min_accuracy) if classify else ("r2", args.min_r2)
    logger.info(
        "model_evaluated",
        model_version=version,
        task=contract.task,
        **{key: value for key, value in metrics.items() if key not in ("per_class",)},
    )

    if metrics[gate_metric] < gate_min:
        logger.error(
            "quality_gate_failed",
            model_version=version,
            metric=gate_metric,
            **{gate_metric: metrics[gate_metric], f"min_{gate_metric}": gate_min},
            message="artifact not written; latest unchanged",
        )
        return EXIT_QUALITY_GATE

    model_name = args.model_name or (
        f"{args.data.stem.replace('_', '-')}-{'classifier' if classify else 'regressor'}"
    )
    packaged = package(
        model, contract, run.x_train, model_name=model_name, version=version, target=data.target
    )
    if packaged.onnx_model is None:
        logger.warning(
            "onnx_export_failed",
            model_version=version,
            message=packaged.metadata["onnx_export"],
        )
    metadata = {
        **packaged.metadata,
        "metrics": metrics,
        "quality_gate": {
            "metric": gate_metric,
            f"min_{gate_metric}": gate_min,
            "passed": True,
        },
        "params": params,
        "training_data": {
            "path": str(args.data),
            "sha256": data_sha256,
            "target": args.target,
            "rows": len(data.target),
            "train_rows": run.train_rows,
        },
    }
    if run.estimation.metadata is not None:
        metadata["estimation"] = run.estimation.metadata
    if classify:
        metadata["poisoning"] = {
            "level": args.poison_level,
            "flipped_rows": flipped_rows,
            "seed": args.seed,
        }
    try:
        path = write_signed(
            model,
            metadata,
            args.output_dir,
            version,
            packaged.onnx_model,
            companions=run.estimation.companions,
        )
    except InvalidKeyError as exc:
        logger.error("signing_key_invalid", message=str(exc))
        return 2
    if args.promote:  # just written and gated; rollback can return to the previous one
        repoint(args.output_dir, version)
    step = after_writing(contract, args.output_dir, version, args.promote)
    logger.info(
        "model_trained",
        model_name=model_name,
        model_version=version,
        task=contract.task,
        path=str(path),
        **{gate_metric: metrics[gate_metric]},
        promoted=args.promote,
        reload_serves_it=step.reload_serves_it,
        message=step.message,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
