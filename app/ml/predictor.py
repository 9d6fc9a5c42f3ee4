"""Turns validated rows into predictions and records the model metrics.

Single and batch requests both go through `predict`, so both get one vectorised
model call and identical metric accounting. The call goes through the inference path
chosen at load (ONNX Runtime or scikit-learn, see app/ml/inference.py); what is recorded
fits the task: per-class counts and top-class confidence for a classifier, the predicted
values' histogram for a regressor.
"""

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.core.logging import get_logger
from app.core.turns import at_next_turn
from app.ml.artifact import LoadedArtifact
from app.ml.contract import Contract
from app.ml.drift import DriftCounters
from app.ml.inference import InferencePath, choose_path
from app.observability.metrics import (
    MODEL_BATCH_SIZE,
    MODEL_INFERENCE_DURATION,
    MODEL_PREDICTION_CONFIDENCE,
    MODEL_PREDICTION_VALUE,
    MODEL_PREDICTIONS,
    exemplar_histogram,
)
from app.observability.observe import FastCounter, FastHistogram

logger = get_logger("glassbox.model")


@dataclass(frozen=True)
class Predictions:
    """One model call's output. A classifier's: the winning class index and the
    probabilities of each row; a regressor's: the predicted value of each row."""

    winners: list[int]
    probabilities: list[list[float]]
    values: list[float]


class Predictor:
    """A loaded model plus the contract that names its inputs and outputs."""

    def __init__(
        self,
        artifact: LoadedArtifact,
        preferred_path: Literal["auto", "sklearn"] = "auto",
        serving: bool = True,
    ) -> None:
        self.metadata: dict[str, Any] = artifact.metadata
        self.contract: Contract = artifact.contract
        self.task = self.contract.task
        self.name: str = artifact.metadata["model_name"]
        self.version: str = artifact.metadata["model_version"]
        self.sklearn_version: str = artifact.metadata["versions"]["sklearn"]
        # Where a model from an MLflow registry came from (name, version, run id); {} else.
        registry = artifact.metadata.get("registry")
        self.registry: dict[str, Any] = registry if isinstance(registry, dict) else {}
        self.feature_names: list[str] = self.contract.names
        self.class_names: list[str] = list(self.contract.class_names)
        self.class_tuple: tuple[str, ...] = tuple(self.class_names)
        self._dtype = np.float64 if self.contract.numeric else object
        # An object's attributes in input order, as a tuple (a validated request row).
        self.row_values = _tuple_getter(self.feature_names)
        self.example = _example(artifact, self.contract)
        self.inference: InferencePath
        self.inference, self.fallback_reason = choose_path(
            artifact.model,
            self.contract,
            artifact.onnx_model,
            artifact.reference_rows,
            preferred_path,
        )
        # A shadow candidate (app/ml/shadow.py) serves nobody: it creates none of the
        # served-traffic series, whose zeros would read as a version with no traffic (and
        # 0/0 in the class-share and drift rules), and it never calls predict().
        self.serving = serving
        if not serving:
            self.drift = DriftCounters({}, self.contract, self.name, self.version)
        else:
            # Resolve labelled children once; .labels() on the hot path costs a dict lookup + lock.
            self._per_class = [
                FastCounter(MODEL_PREDICTIONS.labels(self.name, self.version, label))
                for label in (self.class_names or [""])
            ]
            self._inference = exemplar_histogram(
                MODEL_INFERENCE_DURATION, model_name=self.name, model_version=self.version
            )
            self._confidence = FastHistogram(
                MODEL_PREDICTION_CONFIDENCE.labels(self.name, self.version)
            )
            self._value = FastHistogram(MODEL_PREDICTION_VALUE.labels(self.name, self.version))
            self._batch = FastHistogram(MODEL_BATCH_SIZE.labels(self.name, self.version))
            self.drift = DriftCounters(self.metadata, self.contract, self.name, self.version)
        # What the registry does with every answer once it is made: remember it for
        # feedback, queue it for the shadow (app/ml/registry.py); None: nothing.
        self.on_predicted: Callable[[Predictor, npt.NDArray[Any], Predictions, str], None] | None
        self.on_predicted = None
        # Answers whose metrics, drift and on_predicted wait for the next loop turn.
        self._pending: list[
            tuple[npt.NDArray[Any], npt.NDArray[Any], Predictions, float, str | None]
        ] = []

    @property
    def inference_path(self) -> str:
        return self.inference.name

    def matrix(self, rows: Sequence[Sequence[Any]]) -> npt.NDArray[Any]:
        """Rows in contract order as the model takes them: float64, or object with categories."""
        return np.array(rows, dtype=self._dtype)

    def warm_up(self) -> None:
        """One unrecorded call at startup, so the first client request is not the slow one."""
        self.inference.run(self.matrix([self.contract.encode_row(self.example)]))

    def predict(self, rows: npt.NDArray[Any], request_id: str | None = None) -> Predictions:
        """Predict every row with one model call; rows come from `matrix`.

        What follows an answer -- its metrics (the request id as the inference histogram's
        exemplar), drift, `on_predicted` -- runs at the start of the next loop turn, for
        every answer of this turn in one pass (`flush`): done per request, right after its
        model call, it was ~14 µs of each /predict in the app, its cache cold (timed in
        process). A request's answer is remembered before any later request is read (that
        turn's callbacks run before its I/O's); with no loop running, at once."""
        started = time.perf_counter()
        output = self.inference.run(rows)
        duration_s = time.perf_counter() - started
        if self.task == "regression":
            predictions = Predictions([], [], output.tolist())
        else:
            predictions = Predictions(output.argmax(axis=1).tolist(), output.tolist(), [])
        pending = self._pending
        pending.append((rows, output, predictions, duration_s, request_id))
        if len(pending) == 1:
            at_next_turn(self.flush)
        return predictions

    def flush(self) -> None:
        """Record every answer made since the last flush (see `predict`)."""
        pending, self._pending = self._pending, []
        for rows, output, predictions, duration_s, request_id in pending:
            try:
                self._record(rows, output, predictions, duration_s, request_id)
            except Exception:  # one answer's failure must not cost the others their records
                logger.exception("prediction_record_failed", request_id=request_id)

    def _record(
        self,
        rows: npt.NDArray[Any],
        output: npt.NDArray[Any],
        predictions: Predictions,
        duration_s: float,
        request_id: str | None,
    ) -> None:
        self._inference.observe(duration_s, request_id)
        self._batch.observe(len(rows))
        self._count(output, predictions)
        self.drift.observe(rows)
        if self.on_predicted is not None and request_id is not None:
            self.on_predicted(self, rows, predictions, request_id)

    def _count(self, output: npt.NDArray[Any], predictions: Predictions) -> None:
        """Rows by predicted class, and the top-class confidence (or the value) of each."""
        if self.task == "regression":
            values = predictions.values
            self._per_class[0].inc(len(values))
            if len(values) == 1:
                self._value.observe(values[0])
            else:
                self._value.observe_all(output)
            return
        winners = predictions.winners
        if len(winners) == 1:  # /predict: plain calls beat NumPy's overhead on one row
            self._per_class[winners[0]].inc()
            self._confidence.observe(predictions.probabilities[0][winners[0]])
        else:
            for class_index, count in Counter(winners).items():
                self._per_class[class_index].inc(count)
            self._confidence.observe_all(output[np.arange(len(winners)), winners])


def _tuple_getter(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """attrgetter, but a tuple for one name too (attrgetter("x") returns the bare value)."""
    getter = attrgetter(*names)
    if len(names) > 1:
        return getter
    return lambda item: (getter(item),)


def _example(artifact: LoadedArtifact, contract: Contract) -> dict[str, Any]:
    """A valid request body: the artifact's own; for one packaged before it had one, its
    first reference row, else the middle of each training range."""
    stored: dict[str, Any] | None = artifact.metadata.get("example")
    if stored:
        return stored
    if artifact.reference_rows is not None:
        return contract.example_of(artifact.reference_rows[0].tolist())
    return {
        item.name: (item.minimum + item.maximum) / 2
        if item.minimum is not None and item.maximum is not None
        else 1.0
        for item in contract.inputs
    }
