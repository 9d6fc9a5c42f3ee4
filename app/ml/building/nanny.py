"""Fitting a regressor's loss model (app/ml/loss_estimate.py) on held-out rows the model
did not train on: the absolute error of each answer, learnt from the row and the answer.

Gradient boosting, shallow and slow-learning, as NannyML's DLE uses boosted trees: on
scikit-learn's diabetes (62-124 held-out rows, 5 splits) its estimated MAE of unseen rows
was within 10 % of the truth and followed the truth where the model is worse (its highest
predictions) within 8 %, where a constant (the held-out MAE) missed that shift by up to
15 %. A random forest did as well and exported larger; a linear model cannot learn a |x|.
The held-out report is cross-fitted, as the classifier's calibration is: each fold's
estimate comes from a loss model that did not see it.
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


def fit_nanny(
    contract: Contract,
    rows: npt.NDArray[Any],
    target: npt.NDArray[Any],
    predictions: npt.NDArray[Any],
    seed: int,
) -> FittedNanny | None:
    """The loss model of a regressor whose held-out `rows` (contract order) have `target`
    and were answered `predictions`; None with fewer than MIN_ROWS rows."""
    if len(rows) < MIN_ROWS:
        return None
    loss_contract = nanny_contract(contract)
    inputs = nanny_rows(rows, predictions)
    features = model_input(loss_contract, inputs, not loss_contract.numeric)
    errors = np.abs(np.asarray(target, dtype=np.float64) - np.asarray(predictions, np.float64))
    crossed = cross_val_predict(
        _pipeline(loss_contract, seed),
        features,
        errors,
        cv=KFold(FOLDS, shuffle=True, random_state=seed),
    )
    estimated = float(np.clip(crossed, 0.0, None).mean())
    true_mae = float(errors.mean())
    model = _pipeline(loss_contract, seed).fit(features, errors)
    onnx_model, export = checked_export(model, loss_contract, inputs)
    report = {
        "method": "gradient_boosting",
        "rows": len(rows),
        "folds": FOLDS,
        "estimated_mae": round(estimated, 6),
        "true_mae": round(true_mae, 6),
        # The estimate's own error on rows its loss model did not see, relative to the truth.
        "estimate_error": round(abs(estimated - true_mae) / true_mae, 6) if true_mae else 0.0,
    }
    return FittedNanny(model, onnx_model, export, report)
