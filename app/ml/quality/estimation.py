"""Estimated quality, live: a classifier's calibrated probability that each answered row
is right (app/ml/calibration.py) into model_estimated_correct_total and its expected
confusion into model_estimated_confusion_total; a regressor's expected absolute error
from its loss model (app/ml/loss_estimate.py) into model_estimated_absolute_error_total.
So Prometheus estimates accuracy, precision and recall, or MAE, per version before any
label exists.

One of the dataplane's sinks: each answer only keeps its rows and output (by reference);
every 100 ms (and in every flush_all: a scrape sees every answer), one vectorised pass per
model estimates them all and adds the sums. Once per loop turn instead, a regressor's loss
model (a scikit-learn call, ~50 us however few its rows) cost 27 % of /predict's
requests/s at 16 connections (`make bench`, one core); once a second, the pass over a
second's ~6,000 rows held the loop long enough to double /predict's p99 (4-6 ms -> 6-14 ms).
A calibration per answer would be a NumPy call per class and request. Models without an
estimate (artifacts made before it) are skipped.
"""

import numpy as np
import numpy.typing as npt

from app.ml.calibration import Calibration, expected_confusion
from app.ml.inference import InferencePath
from app.ml.loss_estimate import nanny_rows
from app.ml.serving.answers import Answer, ModelHooks, Sink
from app.ml.serving.runtime import Matrix, ModelRuntime
from app.observability.metrics import (
    MODEL_ESTIMATED_ABSOLUTE_ERROR,
    MODEL_ESTIMATED_CONFUSION,
    MODEL_ESTIMATED_CORRECT,
    MODEL_ESTIMATED_ROWS,
)
from app.observability.observe import FastCounter

# Above this many classes the expected confusion (classes² series) is not kept; the
# estimated accuracy still is.
ESTIMATED_CONFUSION_MAX_CLASSES = 20
FLUSH_INTERVAL_SECONDS = 0.1
# Rows kept between flushes at most; more are estimated at once (a bounded memory).
MAX_KEPT_ROWS = 2_000


class EstimateSeries:
    """One model's estimate counters for one role ("primary", or "shadow" for a candidate
    scored beside it: app/ml/quality/shadow.py), made once; `of` picks the kind."""

    def __init__(self, runtime: ModelRuntime, role: str) -> None:
        self.rows = FastCounter(MODEL_ESTIMATED_ROWS.labels(runtime.name, runtime.version, role))

    @staticmethod
    def of(runtime: ModelRuntime, role: str) -> "EstimateSeries | None":
        """The model's series, or None when its artifact has no estimate."""
        if runtime.calibration is not None:
            return AccuracyEstimate(runtime, runtime.calibration, role)
        if runtime.loss_estimator is not None:
            return LossEstimate(runtime, runtime.loss_estimator, role)
        return None

    def add(self, rows: Matrix, output: npt.NDArray[np.float64]) -> None:
        """A batch of rows (contract order) and the model's output for them."""
        raise NotImplementedError


class LossEstimate(EstimateSeries):
    """A regressor's: its loss model's predicted absolute error, summed (never below 0)."""

    def __init__(self, runtime: ModelRuntime, loss_estimator: InferencePath, role: str) -> None:
        super().__init__(runtime, role)
        self.loss_estimator = loss_estimator
        self.error = FastCounter(
            MODEL_ESTIMATED_ABSOLUTE_ERROR.labels(runtime.name, runtime.version, role)
        )

    def add(self, rows: Matrix, output: npt.NDArray[np.float64]) -> None:
        self.rows.inc(len(rows))
        expected = self.loss_estimator.run(nanny_rows(rows, output))
        self.error.inc(float(np.clip(expected, 0.0, None).sum()))


class AccuracyEstimate(EstimateSeries):
    """A classifier's: the calibrated probability of being right, and the expected
    confusion (up to ESTIMATED_CONFUSION_MAX_CLASSES classes)."""

    def __init__(self, runtime: ModelRuntime, calibration: Calibration, role: str) -> None:
        super().__init__(runtime, role)
        labels = (runtime.name, runtime.version, role)
        self.calibration = calibration
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

    def add(self, rows: Matrix, output: npt.NDArray[np.float64]) -> None:  # noqa: ARG002
        # The rows' own values do not enter a calibrated confidence; the probabilities are
        # calibrated once for both counts.
        calibrated = self.calibration.probabilities(output)
        served = output.argmax(axis=1)
        self.rows.inc(len(output))
        self.correct.inc(float(calibrated[np.arange(len(output)), served].sum()))
        if self.confusion is not None:
            expected = expected_confusion(calibrated, served)
            for served_class, row in enumerate(self.confusion):
                for actual, counter in enumerate(row):
                    if expected[served_class, actual]:
                        counter.inc(float(expected[served_class, actual]))


class EstimatedQuality(Sink, ModelHooks):
    """The served model's estimated quality (role "primary")."""

    name = "estimation"

    def __init__(self) -> None:
        self._series: dict[ModelRuntime, EstimateSeries] = {}
        self._kept: list[tuple[ModelRuntime, Matrix, npt.NDArray[np.float64]]] = []
        self._kept_rows = 0

    def serving(self, runtime: ModelRuntime) -> None:
        self._of(runtime)  # its series exist (at zero) before its first answer

    def retired(self, runtime: ModelRuntime) -> None:
        self._series.pop(runtime, None)

    def record(self, answer: Answer) -> None:
        runtime = answer.runtime
        if runtime.calibration is not None or runtime.loss_estimator is not None:
            self._kept.append((runtime, answer.rows, answer.predictions.output))
            self._kept_rows += len(answer.rows)
            if self._kept_rows >= MAX_KEPT_ROWS:
                self.flush()

    def flush(self) -> None:
        """Every kept answer estimated, now: one pass per model."""
        kept, self._kept, self._kept_rows = self._kept, [], 0
        grouped: dict[ModelRuntime, list[tuple[Matrix, npt.NDArray[np.float64]]]] = {}
        for runtime, rows, output in kept:
            grouped.setdefault(runtime, []).append((rows, output))
        for runtime, answers in grouped.items():
            series = self._of(runtime)
            if series is None:
                continue
            if len(answers) == 1:
                rows, output = answers[0]
            else:
                rows = np.concatenate([rows for rows, _ in answers])
                output = np.concatenate([output for _, output in answers])
            series.add(rows, np.asarray(output, dtype=np.float64))

    def _of(self, runtime: ModelRuntime) -> EstimateSeries | None:
        if runtime not in self._series:
            series = EstimateSeries.of(runtime, "primary")
            if series is None:
                return None
            self._series[runtime] = series
        return self._series[runtime]
