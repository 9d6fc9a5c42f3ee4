"""Fitting the calibration a classifier's estimated accuracy is served with
(app/ml/calibration.py), on answers to rows the answering model did not train on.

train.py has two such sets: the held-out split, and the out-of-fold answers for its
training rows (each from a model fitted on the other folds, as scikit-learn's
CalibratedClassifierCV(ensemble=False) calibrates). The maps are fitted on the out-of-fold
answers and judged on the held-out split, which neither they nor the model saw: isotonic
is kept only where its expected calibration error (ECE) there is lower than the raw
confidence's, and the same judgement is the estimate's own error. The served maps are then
fitted on both sets. Fitted on the held-out split alone (30 % of a dataset's 70 %, 6 seeds),
the estimate on wine's least-sure unseen rows was off by up to 0.166; with the out-of-fold
answers too, by up to 0.077 (digits: 0.054 and 0.027).

wrap.py has only its sample: the choice is then cross-fitted on it (each fold's maps fitted
on the other folds and judged on the fold) and the final maps fitted on all of it.
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
    raw: Floats,
    labels: npt.NDArray[np.int64],
    seed: int,
    out_of_fold: tuple[Floats, npt.NDArray[np.int64]] | None = None,
) -> tuple[Calibration, dict[str, Any]]:
    """The calibration to serve, and the held-out report metadata.json keeps of it. `raw`
    and `labels`: the held-out split's answers and truths; `out_of_fold`: the training
    rows' out-of-fold answers and truths (train.py), None to cross-fit on `raw` alone."""
    labels = np.asarray(labels, dtype=np.int64)
    served = raw.argmax(axis=1)
    right = served == labels
    raw_confidence = raw[np.arange(len(raw)), served]
    crossed = raw_confidence.copy()  # without folds, nothing is judged: the raw stands
    if out_of_fold is not None:
        fit_raw, fit_labels = out_of_fold[0], np.asarray(out_of_fold[1], dtype=np.int64)
        judged_any = len(fit_labels) > 0
        if judged_any:
            crossed = fit_isotonic(fit_raw, fit_labels).correct(raw)
        folds = 0
        everything = (np.vstack([fit_raw, raw]), np.concatenate([fit_labels, labels]))
    else:
        splits = _folds(labels, seed)
        for fit_rows, judged in splits:
            crossed[judged] = fit_isotonic(raw[fit_rows], labels[fit_rows]).correct(raw[judged])
        judged_any, folds, everything = bool(splits), len(splits), (raw, labels)
    ece_raw = expected_calibration_error(raw_confidence, right)
    ece_isotonic = expected_calibration_error(crossed, right)
    isotonic = judged_any and ece_isotonic < ece_raw
    chosen = fit_isotonic(*everything) if isotonic else Calibration.identity()
    estimated = crossed if isotonic else raw_confidence
    report = {
        "method": chosen.method,
        "rows": len(labels),
        "fitted_on": "out-of-fold training answers" if out_of_fold is not None else "folds",
        "out_of_fold_rows": len(out_of_fold[1]) if out_of_fold is not None else 0,
        "folds": folds,
        "ece_raw": round(ece_raw, 6),
        "ece_isotonic": round(ece_isotonic, 6) if judged_any else None,
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
