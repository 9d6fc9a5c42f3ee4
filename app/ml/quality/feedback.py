"""Ground truth joined to the prediction it names, as live-quality counters.

A label for a stored row (app/ml/quality/store.py: this worker's memory, or a shared Redis)
is recorded once, for the version that
answered (role="primary") and, when a shadow candidate scored the same row, for it too
(role="shadow"; a label arriving before the shadow scored its row, within about 10 ms of
the prediction, scores the served model only): a classifier's confusion-matrix cell, a
regressor's absolute and squared error. PromQL turns those into accuracy, per-class
precision and recall, MAE and RMSE per version (monitoring/mixin/rules/quality.py). Every label
sent is counted by outcome in model_feedback_total, recorded or not, so coverage and misses
are visible.
"""

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.ml.quality.store import PredictionStore, Said, Stored, label_of
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

    def __init__(self, store: PredictionStore, max_age_seconds: float) -> None:
        self.store = store
        self.max_age_seconds = max_age_seconds

    async def check(self, item: Feedback) -> tuple[Stored | None, str | float]:
        """The stored prediction (None: unknown) and the label as that model's value;
        LabelError for a row or label it cannot have; StoreUnavailableError. Records
        nothing, so a batch is checked whole before any of it counts."""
        stored = await self.store.find(item.request_id)
        if stored is None:
            return None, item.label
        rows = len(stored.said[3])
        if item.row >= rows:
            raise LabelError(
                "row",
                f"request {item.request_id} predicted {rows} row(s): row must be below that",
                item.row,
            )
        return stored, _truth(stored.said, item.label)

    async def record(self, item: Feedback, stored: Stored | None, truth: str | float) -> Judged:
        """The label's outcome, counted; the first label of a row wins, across workers and
        replicas when the store is shared (StoreUnavailableError: nothing counted)."""
        if stored is None:
            MODEL_FEEDBACK.labels("", "", "unknown").inc()
            # The label as sent: its log line is all that is left of it (issue 34: it said
            # null, so a label for an expired prediction could not be recovered from Loki).
            return Judged("unknown", truth=truth)
        served = stored.said
        name, version = served[0], served[1]
        predicted = label_of(served, item.row)
        status: Status = "recorded"
        if item.row in stored.labelled:
            status = "duplicate"
        elif time.time() - stored.at > self.max_age_seconds:
            status = "late"
        elif not await self.store.claim(item.request_id, item.row):
            status = "duplicate"  # another label got there first
        MODEL_FEEDBACK.labels(name, version, status).inc()
        if status == "recorded":
            _score(served, "primary", predicted, truth)
            if stored.shadow is not None:
                _score(stored.shadow, "shadow", label_of(stored.shadow, item.row), truth)
        return Judged(status, version, predicted, truth)


def _truth(said: Said, label: str | float) -> str | float:
    """The label as a class name of that model (an integer names the class of that name,
    for targets whose classes are numbers), or a regressor's finite value."""
    classes = said[2]
    if classes:
        name = _class_named(label, classes)
        if name is None:
            raise LabelError(
                "label",
                f"not a class of model {said[1]}: one of {', '.join(classes[:20])}",
                label,
            )
        return name
    if isinstance(label, str | bool) or not math.isfinite(label):
        raise LabelError("label", "a regressor's label is a finite number", label)
    return float(label)


def _class_named(label: str | float, classes: Sequence[str]) -> str | None:
    """The class a label names: a string its name, an integer the class of that name (targets
    whose classes are numbers), true/false the classes a boolean target gets ("True"/"False",
    as pandas writes them, or "true"/"false")."""
    if isinstance(label, bool):
        candidates = [str(label), str(label).lower()]
    elif isinstance(label, int):
        candidates = [str(label)]
    elif isinstance(label, str):
        candidates = [label]
    else:
        return None
    return next((name for name in candidates if name in classes), None)


def _score(said: Said, role: str, predicted: str | float, truth: str | float) -> None:
    name, version = said[0], said[1]
    if said[2]:
        MODEL_FEEDBACK_CONFUSION.labels(
            name, version, role, truth, predicted, "true" if truth == predicted else "false"
        ).inc()
        return
    error = float(predicted) - float(truth)
    MODEL_FEEDBACK_ABSOLUTE_ERROR.labels(name, version, role).observe(abs(error))
    MODEL_FEEDBACK_SQUARED_ERROR.labels(name, version, role).inc(error * error)
