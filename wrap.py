"""Wrap a fitted scikit-learn estimator or pipeline you already have into a Glassbox artifact.

    python wrap.py --model model.joblib --sample sample.csv [--target COLUMN]
                   [--contract FILE] [--column NAME=TYPE ...] [--task auto]
                   [--model-name NAME] [--model-version V] [--output-dir artifacts] [--promote]

`--sample` is a CSV of the model's training data (a few hundred rows are enough), with the
model's input columns in the order the model takes them; a `--target` column in it is
left out of the inputs, gives a classifier its class priors and fits the model's estimated
quality (a calibration, or a regressor's loss model: docs/quality.md). Rows the model did
not train on make that estimate honest; its own training rows make it optimistic. From the
sample come the contract (types inferred as train.py does, or from --contract / --column),
the training ranges and drift baseline, the reference rows and the example row. The task
comes from the model (a classifier has classes_); class names are the model's `classes_`.

The artifact gets what a trained one gets: the ONNX export attempt with its equality check
(kept only if it reproduces the model on the sample), the checksum, the signature with
MODEL_SIGNING_KEY, and the service's load checks (`make promote` runs them too). A model
whose scikit-learn version differs from this environment's in major.minor is refused, as
the service would refuse it. It writes a candidate; --promote serves it (moves latest).
"""

import argparse
import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import joblib
import sklearn

from app.core.keys import InvalidKeyError
from app.core.logging import configure_logging, get_logger
from app.ml.artifact import ModelLoadError, sha256_file
from app.ml.building.dataset import DatasetError, read_table
from app.ml.building.wrapping import check_sklearn_version, wrap_estimator
from app.ml.contract import Contract, ContractError
from promotion.history import repoint
from promotion.serving import after_writing
from train import checked

logger = get_logger("glassbox.wrap")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", type=Path, required=True, help="a fitted estimator (joblib)")
    parser.add_argument("--sample", type=Path, required=True, help="CSV of training rows")
    parser.add_argument(
        "--target", default=None, help="the sample's target column, if it has one%(default).0s"
    )
    parser.add_argument(
        "--contract", type=Path, default=None, help="JSON with per-input types%(default).0s"
    )
    parser.add_argument(
        "--column", action="append", default=[], metavar="NAME=TYPE", help="an input's type"
    )
    parser.add_argument(
        "--model-name", default=None, help="default: the model file's name%(default).0s"
    )
    parser.add_argument(
        "--model-version", default=None, help="default: a hash of model + sample%(default).0s"
    )
    parser.add_argument(
        "--output-dir", type=Path, default=Path("artifacts"), help="where versions are written"
    )
    parser.add_argument(
        "--promote",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="point latest at the new version once it passed the load checks",
    )
    return checked(parser, parser.parse_args(argv))


def _pickled_sklearn_version(model_file: Path) -> tuple[Any, str]:
    """The model, and the scikit-learn version that pickled it: scikit-learn warns
    (InconsistentVersionWarning, with the original version) when it differs from ours."""
    from sklearn.exceptions import InconsistentVersionWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", InconsistentVersionWarning)
        model = joblib.load(model_file)
    for warning in caught:
        if isinstance(warning.message, InconsistentVersionWarning):
            return model, str(warning.message.original_sklearn_version)
    return model, sklearn.__version__


def wrap(args: argparse.Namespace) -> int:
    model, trained_with = _pickled_sklearn_version(args.model)
    try:
        check_sklearn_version(trained_with, sklearn.__version__)  # as the service checks
    except ModelLoadError as exc:
        logger.error(exc.reason, message=exc.message, **exc.details)
        return 2
    table = read_table(
        args.sample, args.target, overrides=args.overrides, contract_file=args.contract
    )
    model_sha = sha256_file(args.model)
    version = args.model_version or (
        "w-" + hashlib.sha256(f"{model_sha}:{sha256_file(args.sample)}".encode()).hexdigest()[:12]
    )
    name = args.model_name or args.model.stem.replace("_", "-")
    provenance = {
        "wrapped_from": {"model_sha256": model_sha, "sample": str(args.sample)},
        "training_data": {
            "path": str(args.sample),
            "sha256": sha256_file(args.sample),
            "rows": len(table.features),
        },
    }
    try:
        path = wrap_estimator(
            model,
            table.inputs,
            table.features,
            name=name,
            version=version,
            output_dir=args.output_dir,
            trained_with=trained_with,
            provenance=provenance,
            labels=table.labels,
        )
    except InvalidKeyError as exc:
        logger.error("signing_key_invalid", message=str(exc))
        return 2
    if args.promote:
        repoint(args.output_dir, version)
    metadata = json.loads((path / "metadata.json").read_text())
    step = after_writing(Contract.from_metadata(metadata), args.output_dir, version, args.promote)
    logger.info(
        "model_wrapped",
        model_name=name,
        model_version=version,
        task=metadata["task"],
        inputs=[f"{item.name}:{item.kind}" for item in table.inputs],
        onnx_export=metadata["onnx_export"],
        path=str(path),
        promoted=args.promote,
        signed=bool(os.environ.get("MODEL_SIGNING_KEY")),
        reload_serves_it=step.reload_serves_it,
        message=step.message,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    args = parse_args(argv)
    try:
        return wrap(args)
    except (OSError, DatasetError, ContractError, ModelLoadError, ValueError) as exc:
        details = exc.details if isinstance(exc, ModelLoadError) else {}
        logger.error(
            "wrap_failed", message=str(exc), **{k: json.dumps(v) for k, v in details.items()}
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
