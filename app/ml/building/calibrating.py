"""Fitting the calibration a classifier's estimated accuracy is served with
(app/ml/calibration.py), on held-out rows the model did not train on.

The held-out split is small (Iris: 30 rows), so the choice between isotonic and identity
is cross-fitted on it: each fold's maps are fitted on the other folds and judged on the
fold, which no map saw; isotonic is kept only where its expected calibration error (ECE)
over those judgements is lower than the raw confidence's, and the final maps are then
fitted on the whole split. The same judgements give the estimate's own error: how far the
estimated accuracy of unseen rows was from their true accuracy.
"""

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import KFold, StratifiedKFold

from app.ml.calibration import Calibration, Floats, expected_calibration_error

FOLDS = 5


def fit_isotonic(raw: Floats, labels: npt.NDArray[np.int64]) -> Calibration:
    """Per class, the isotonic map from its predicted probability to its being the truth."""
    thresholds, values = [], []
    for k in range(raw.shape[1]):
        fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
        fitted.fit(raw[:, k], (labels == k).astype(np.float64))
        thresholds.append(np.asarray(fitted.X_thresholds_, dtype=np.float64))
        values.append(np.asarray(fitted.y_thresholds_, dtype=np.float64))
    return Calibration("isotonic", tuple(thresholds), tuple(values))


def calibrate(
    raw: Floats, labels: npt.NDArray[np.int64], seed: int
) -> tuple[Calibration, dict[str, Any]]:
    """The calibration to serve, and the held-out report metadata.json keeps of it."""
    labels = np.asarray(labels, dtype=np.int64)
    served = raw.argmax(axis=1)
    right = served == labels
    folds = _folds(labels, seed)
    raw_confidence = raw[np.arange(len(raw)), served]
    crossed = raw_confidence.copy()  # without folds, nothing is judged: the raw stands
    for fit_rows, judged in folds:
        crossed[judged] = fit_isotonic(raw[fit_rows], labels[fit_rows]).correct(raw[judged])
    ece_raw = expected_calibration_error(raw_confidence, right)
    ece_isotonic = expected_calibration_error(crossed, right)
    isotonic = bool(folds) and ece_isotonic < ece_raw
    chosen = fit_isotonic(raw, labels) if isotonic else Calibration.identity()
    estimated = crossed if isotonic else raw_confidence
    report = {
        "method": chosen.method,
        "rows": len(labels),
        "folds": len(folds),
        "ece_raw": round(ece_raw, 6),
        "ece_isotonic": round(ece_isotonic, 6) if folds else None,
        # The estimate's own error on rows it did not see: estimated minus true accuracy.
        "estimated_accuracy": round(float(estimated.mean()), 6),
        "true_accuracy": round(float(right.mean()), 6),
        "estimate_error": round(abs(float(estimated.mean()) - float(right.mean())), 6),
    }
    return chosen, report


def _folds(
    labels: npt.NDArray[np.int64], seed: int
) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """Stratified folds where every class has a row in each; plain folds otherwise; none
    when there are too few rows to judge anything (identity is then kept)."""
    if len(labels) < 2 * FOLDS:
        return []
    counts = np.bincount(labels)
    splitter: StratifiedKFold | KFold
    if counts[counts > 0].min() >= FOLDS:
        splitter = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
    else:
        splitter = KFold(FOLDS, shuffle=True, random_state=seed)
    return [(fit, judged) for fit, judged in splitter.split(np.zeros(len(labels)), labels)]
