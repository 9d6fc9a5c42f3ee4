"""The calibration that turns a classifier's confidence into the probability its answer is
right, before any label: confidence-based performance estimation (CBPE, as NannyML does
it offline), served live.

Fitted at training on rows the model did not train on (app/ml/building/calibrating.py):
per class, an isotonic map from the predicted probability of that class to how often the
class was the truth; the maps' outputs are renormalised to sum to one per row. Served as a
lookup: each map is its thresholds and values, and `np.interp` between them is what
scikit-learn's IsotonicRegression.predict computes (out-of-range inputs clipped to the
ends), so nothing is unpickled and the artifact's signature covers it as data.

From calibrated probabilities P (rows x classes) and the served labels (the raw argmax):
the probability each answer is right is P[row, served]; summed, the expected number of
right answers. The expected confusion adds P[row, actual] to (served, actual) for every
actual class. An identity calibration (kept when isotonic did not lower the expected
calibration error on held-out rows) is the raw probabilities themselves.
"""

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Method = Literal["isotonic", "identity"]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    method: Method
    thresholds: tuple[Floats, ...] = ()  # per class, increasing
    values: tuple[Floats, ...] = ()  # per class, non-decreasing, in [0, 1]

    @classmethod
    def identity(cls) -> "Calibration":
        return cls("identity")

    def probabilities(self, raw: Floats) -> Floats:
        """Calibrated class probabilities for raw ones (rows x classes), rows summing to 1;
        a row every map sends to 0 keeps its raw probabilities."""
        if self.method == "identity":
            return raw
        mapped = np.column_stack(
            [np.interp(raw[:, k], self.thresholds[k], self.values[k]) for k in range(raw.shape[1])]
        )
        totals = mapped.sum(axis=1, keepdims=True)
        empty = totals[:, 0] <= 0.0
        if empty.any():
            mapped[empty] = raw[empty]
            totals[empty] = raw[empty].sum(axis=1, keepdims=True)
        calibrated: Floats = mapped / totals
        return calibrated

    def correct(self, raw: Floats) -> Floats:
        """The probability that each row's served label (its raw argmax) is right."""
        served = raw.argmax(axis=1)
        right: Floats = self.probabilities(raw)[np.arange(len(raw)), served]
        return right

    def confusion(self, raw: Floats) -> Floats:
        """The expected confusion (served x actual classes) of these rows: its diagonal
        sums to `correct(raw).sum()`."""
        return expected_confusion(self.probabilities(raw), raw.argmax(axis=1))

    def to_metadata(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "thresholds": [t.tolist() for t in self.thresholds],
            "values": [v.tolist() for v in self.values],
        }

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> "Calibration":
        """The artifact's calibration, checked: a map per class, thresholds increasing,
        values non-decreasing within [0, 1] (a map that is not is refused, not served)."""
        method = data.get("method")
        if method == "identity":
            return cls.identity()
        if method != "isotonic":
            raise ValueError(f"calibration method {method!r}: isotonic or identity")
        thresholds = tuple(np.asarray(t, dtype=np.float64) for t in data["thresholds"])
        values = tuple(np.asarray(v, dtype=np.float64) for v in data["values"])
        if not thresholds or len(thresholds) != len(values):
            raise ValueError("calibration: one map (thresholds and values) per class")
        for t, v in zip(thresholds, values, strict=True):
            if t.ndim != 1 or t.shape != v.shape or len(t) == 0:
                raise ValueError("calibration: each map's thresholds and values pair up")
            if np.any(np.diff(t) < 0) or np.any(np.diff(v) < 0):
                raise ValueError("calibration: a map must be non-decreasing")
            if v.min() < 0.0 or v.max() > 1.0:
                raise ValueError("calibration: a map's values are probabilities")
        return cls("isotonic", thresholds, values)


def expected_confusion(calibrated: Floats, served: npt.NDArray[np.intp]) -> Floats:
    """Rows' calibrated probabilities summed by the class each was served as (a row of the
    result per served class). One bincount per class: np.add.at took 2x as long."""
    classes = calibrated.shape[1]
    expected: Floats = np.column_stack(
        [np.bincount(served, calibrated[:, k], minlength=classes) for k in range(classes)]
    )
    return expected


def expected_calibration_error(
    confidence: Floats, correct: npt.NDArray[np.bool_], bins: int = 10
) -> float:
    """ECE: over equal-width confidence bins, |accuracy - mean confidence| weighted by the
    bin's share of rows."""
    if len(confidence) == 0:
        return 0.0
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    error = 0.0
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        if count:
            error += abs(float(correct[inside].mean()) - float(confidence[inside].mean())) * count
    return error / len(confidence)
