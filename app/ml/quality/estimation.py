"""Estimated quality, live: each answered row's calibrated probability of being right
(app/ml/calibration.py) into model_estimated_correct_total, and its expected
confusion into model_estimated_confusion_total, so Prometheus estimates accuracy,
precision and recall per version before any label exists.

One of the dataplane's sinks: each answer only keeps its probabilities (by reference);
after the loop turn, one vectorised pass per model calibrates them all and adds the sums
(a calibration per answer would be a NumPy call per class and request). Models without a
calibration (regressors; artifacts trained before it) are skipped.
"""

from typing import Any

import numpy as np

from app.ml.calibration import Calibration
from app.ml.serving.answers import Answer, ModelHooks, Sink
from app.ml.serving.runtime import ModelRuntime
from app.observability.metrics import (
    MODEL_ESTIMATED_CONFUSION,
    MODEL_ESTIMATED_CORRECT,
    MODEL_ESTIMATED_ROWS,
)
from app.observability.observe import FastCounter

# Above this many classes the expected confusion (classes² series) is not kept; the
# estimated accuracy still is.
ESTIMATED_CONFUSION_MAX_CLASSES = 20


class EstimateSeries:
    """One model's estimate counters for one role ("primary", or "shadow" for a candidate
    scored beside it: app/ml/quality/shadow.py), made once."""

    def __init__(self, runtime: ModelRuntime, calibration: Calibration, role: str) -> None:
        labels = (runtime.name, runtime.version, role)
        self.calibration = calibration
        self.rows = FastCounter(MODEL_ESTIMATED_ROWS.labels(*labels))
        self.correct = FastCounter(MODEL_ESTIMATED_CORRECT.labels(*labels))
        classes = runtime.class_names
        self.confusion = (
            [
                [
                    FastCounter(
                        MODEL_ESTIMATED_CONFUSION.labels(
                            *labels, served, actual, "true" if served == actual else "false"
                        )
                    )
                    for actual in classes
                ]
                for served in classes
            ]
            if len(classes) <= ESTIMATED_CONFUSION_MAX_CLASSES
            else None
        )

    def add(self, probabilities: Any) -> None:
        self.rows.inc(len(probabilities))
        self.correct.inc(float(self.calibration.correct(probabilities).sum()))
        if self.confusion is not None:
            expected = self.calibration.confusion(probabilities)
            for served, row in enumerate(self.confusion):
                for actual, counter in enumerate(row):
                    if expected[served, actual]:
                        counter.inc(float(expected[served, actual]))


class EstimatedQuality(Sink, ModelHooks):
    """The served model's estimated quality (role "primary")."""

    name = "estimation"

    def __init__(self) -> None:
        self._series: dict[ModelRuntime, EstimateSeries] = {}
        self._turn: list[tuple[ModelRuntime, Any]] = []

    def serving(self, runtime: ModelRuntime) -> None:
        self._of(runtime)  # its series exist (at zero) before its first answer

    def retired(self, runtime: ModelRuntime) -> None:
        self._series.pop(runtime, None)

    def record(self, answer: Answer) -> None:
        if answer.runtime.calibration is not None:
            self._turn.append((answer.runtime, answer.predictions.output))

    def end_turn(self) -> None:
        turn, self._turn = self._turn, []
        grouped: dict[ModelRuntime, list[Any]] = {}
        for runtime, output in turn:
            grouped.setdefault(runtime, []).append(output)
        for runtime, outputs in grouped.items():
            series = self._of(runtime)
            if series is not None:
                series.add(np.vstack(outputs).astype(np.float64, copy=False))

    def _of(self, runtime: ModelRuntime) -> EstimateSeries | None:
        if runtime.calibration is None:
            return None
        series = self._series.get(runtime)
        if series is None:
            series = self._series[runtime] = EstimateSeries(runtime, runtime.calibration, "primary")
        return series
