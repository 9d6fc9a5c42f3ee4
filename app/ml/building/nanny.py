"""Fitting a regressor's loss model (app/ml/loss_estimate.py) on held-out rows the model
did not train on: the absolute error of each answer, learnt from the row and the answer.

Gradient boosting, shallow and slow-learning, as NannyML's DLE uses boosted trees: on
scikit-learn's diabetes (62-124 held-out rows, 5 splits) its estimated MAE of unseen rows
was within 10 % of the truth and followed the truth where the model is worse (its highest
predictions) within 8 %, where a constant (the held-out MAE) missed that shift by up to
15 %. A random forest did as well and exported larger; a linear model cannot learn a |x|.
As the classifier's calibration (app/ml/building/calibrating.py): with train.py's
out-of-fold answers for its training rows, the loss model is fitted on those and judged on
the held-out split (the report), then fitted on both; with wrap.py's sample alone, the
report is cross-fitted on it (each fold judged by a loss model that did not see it).
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from app.ml.building.packaging import checked_export, model_input
from app.ml.contract import Contract
from app.ml.loss_estimate import nanny_contract, nanny_rows

FOLDS = 5
# Fewer held-out rows than this fit no loss model (the artifact then has no estimate).
MIN_ROWS = 20


@dataclass(frozen=True)
class FittedNanny:
    model: Any
    onnx_model: bytes | None
    export: str  # what became of the ONNX export, for metadata.json
    report: dict[str, Any]  # the held-out report: the estimate's own error


def _estimator(seed: int) -> GradientBoostingRegressor:
    return GradientBoostingRegressor(
        max_depth=2, n_estimators=60, learning_rate=0.05, subsample=0.8, random_state=seed
    )


def _pipeline(contract: Contract, seed: int) -> Any:
    """Trees need no scaling; categories are one-hot encoded (unknown ones ignored)."""
    if contract.numeric:
        return _estimator(seed)
    numbers = [item.name for item in contract.inputs if item.numeric]
    categories = [item.name for item in contract.inputs if not item.numeric]
    prepare = ColumnTransformer(
        [
            ("numbers", "passthrough", numbers),
            ("categories", OneHotEncoder(handle_unknown="ignore"), categories),
        ]
    )
    return Pipeline([("prepare", prepare), ("regressor", _estimator(seed))])


Answered = tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]  # rows, target, answers


def fit_nanny(
    contract: Contract,
    rows: npt.NDArray[Any],
    target: npt.NDArray[Any],
    predictions: npt.NDArray[Any],
    seed: int,
    out_of_fold: Answered | None = None,
) -> FittedNanny | None:
    """The loss model of a regressor whose held-out `rows` (contract order) have `target`
    and were answered `predictions`; `out_of_fold`: its training rows, their target and
    out-of-fold answers (train.py). None with fewer than MIN_ROWS rows in all."""
    fold_rows = 0 if out_of_fold is None else len(out_of_fold[0])
    if len(rows) + fold_rows < MIN_ROWS:
        return None
    loss_contract = nanny_contract(contract)

    def prepared(answered: Answered) -> tuple[npt.NDArray[Any], Any, npt.NDArray[Any]]:
        inputs = nanny_rows(answered[0], answered[2])
        truth, said = (np.asarray(a, dtype=np.float64) for a in answered[1:])
        return (
            inputs,
            model_input(loss_contract, inputs, not loss_contract.numeric),
            abs(truth - said),
        )

    inputs, features, errors = prepared((rows, target, predictions))
    if out_of_fold is not None and fold_rows:
        fold_inputs, fold_features, fold_errors = prepared(out_of_fold)
        judged = _pipeline(loss_contract, seed).fit(fold_features, fold_errors).predict(features)
        inputs = np.concatenate([fold_inputs, inputs])
        features = model_input(loss_contract, inputs, not loss_contract.numeric)
        all_errors = np.concatenate([fold_errors, errors])
    else:
        judged = cross_val_predict(
            _pipeline(loss_contract, seed),
            features,
            errors,
            cv=KFold(FOLDS, shuffle=True, random_state=seed),
        )
        all_errors = errors
    estimated = float(np.clip(judged, 0.0, None).mean())
    true_mae = float(errors.mean())
    model = _pipeline(loss_contract, seed).fit(features, all_errors)
    onnx_model, export = checked_export(model, loss_contract, inputs[:256])
    report = {
        "method": "gradient_boosting",
        "rows": len(rows),
        "fitted_on": "out-of-fold training answers" if out_of_fold is not None else "folds",
        "out_of_fold_rows": fold_rows,
        "folds": 0 if out_of_fold is not None else FOLDS,
        "estimated_mae": round(estimated, 6),
        "true_mae": round(true_mae, 6),
        # The estimate's own error on rows its loss model did not see, relative to the truth.
        "estimate_error": round(abs(estimated - true_mae) / true_mae, 6) if true_mae else 0.0,
    }
    return FittedNanny(model, onnx_model, export, report)
