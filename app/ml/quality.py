"""Ground truth joined to the prediction it names, as live-quality counters.

A label for a remembered row (app/ml/memory.py) is recorded once, for the version that
answered (role="primary") and, when a shadow candidate scored the same row, for it too
(role="shadow"): a classifier's confusion-matrix cell, a regressor's absolute and squared
error. PromQL turns those into accuracy, per-class precision and recall, MAE and RMSE per
version (monitoring/mixin/rules.py). Every label sent is counted by outcome in
model_feedback_total, recorded or not, so coverage and misses are visible.
"""

import math
import time
from dataclasses import dataclass
from typing import Any, Literal

from app.ml.memory import Answer, PredictionMemory, Remembered
from app.observability.metrics import (
    MODEL_FEEDBACK,
    MODEL_FEEDBACK_ABSOLUTE_ERROR,
    MODEL_FEEDBACK_CONFUSION,
    MODEL_FEEDBACK_SQUARED_ERROR,
)

Status = Literal["recorded", "unknown", "duplicate", "late"]


class LabelError(ValueError):
    """The label cannot be a true value for the model that made the prediction (a 4xx)."""

    def __init__(self, field: str, message: str, value: Any) -> None:
        super().__init__(message)
        self.field, self.message, self.value = field, message, value


@dataclass(frozen=True)
class Feedback:
    request_id: str
    label: str | float
    row: int = 0


@dataclass(frozen=True)
class Judged:
    status: Status
    model_version: str | None = None
    predicted: str | float | None = None
    truth: str | float | None = None


class QualityBook:
    """Checks each label against the prediction it names, then records them."""

    def __init__(self, memory: PredictionMemory, max_age_seconds: float) -> None:
        self.memory = memory
        self.max_age_seconds = max_age_seconds

    def check(self, item: Feedback) -> tuple[Remembered | None, str | float]:
        """The remembered prediction (None: unknown) and the label as that model's value;
        LabelError for a row or label it cannot have. Records nothing, so a batch is
        checked whole before any of it counts."""
        entry = self.memory.find(item.request_id)
        if entry is None:
            return None, item.label
        if item.row >= entry.rows:
            raise LabelError(
                "row",
                f"request {item.request_id} predicted {entry.rows} row(s): row must be below that",
                item.row,
            )
        return entry, _truth(entry.primary, item.label)

    def record(self, item: Feedback, entry: Remembered | None, truth: str | float) -> Judged:
        if entry is None:
            MODEL_FEEDBACK.labels("", "", "unknown").inc()
            return Judged("unknown")
        primary = entry.primary
        predicted = primary.label_of(item.row)
        status: Status = "recorded"
        if entry.labelled is not None and item.row in entry.labelled:
            status = "duplicate"
        elif time.monotonic() - entry.at > self.max_age_seconds:
            status = "late"
        MODEL_FEEDBACK.labels(primary.model_name, primary.model_version, status).inc()
        if status == "recorded":
            if entry.labelled is None:
                entry.labelled = set()
            entry.labelled.add(item.row)
            _score(primary, "primary", predicted, truth)
            shadow = entry.shadow
            if shadow is not None:
                _score(shadow, "shadow", shadow.label_of(item.row), truth)
        return Judged(status, primary.model_version, predicted, truth)


def _truth(answer: Answer, label: str | float) -> str | float:
    """The label as a class name of that model (an integer names the class of that name,
    for targets whose classes are numbers), or a regressor's finite value."""
    if answer.classes:
        name = str(label) if isinstance(label, int) and not isinstance(label, bool) else label
        if not isinstance(name, str) or name not in answer.classes:
            shown = ", ".join(answer.classes[:20])
            raise LabelError(
                "label",
                f"not a class of model {answer.model_version}: one of {shown}",
                label,
            )
        return name
    if isinstance(label, str) or not math.isfinite(label):
        raise LabelError("label", "a regressor's label is a finite number", label)
    return float(label)


def _score(answer: Answer, role: str, predicted: str | float, truth: str | float) -> None:
    name, version = answer.model_name, answer.model_version
    if answer.classes:
        MODEL_FEEDBACK_CONFUSION.labels(
            name, version, role, truth, predicted, "true" if truth == predicted else "false"
        ).inc()
        return
    error = float(predicted) - float(truth)
    MODEL_FEEDBACK_ABSOLUTE_ERROR.labels(name, version, role).observe(abs(error))
    MODEL_FEEDBACK_SQUARED_ERROR.labels(name, version, role).inc(error * error)
