"""Turns validated feature rows into predictions and records the model metrics.

Single and batch requests both go through `predict`, so both get one vectorised
model call and identical metric accounting. The call goes through the inference path
chosen at load (ONNX Runtime or scikit-learn, see app/ml/inference.py).
"""

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.ml.artifact import LoadedArtifact
from app.ml.drift import DriftCounters
from app.ml.inference import InferencePath, choose_path
from app.observability.metrics import (
    INFERENCE_LATENCY_BUCKETS,
    MODEL_BATCH_SIZE,
    MODEL_INFERENCE_DURATION,
    MODEL_PREDICTION_CONFIDENCE,
    MODEL_PREDICTIONS,
    exemplar_histogram,
)


@dataclass(frozen=True)
class Predictions:
    """One model call's output: the winning class index and the probabilities of each row."""

    winners: list[int]
    probabilities: list[list[float]]


class Predictor:
    """A loaded model plus the metadata needed to name its inputs and outputs."""

    def __init__(
        self, artifact: LoadedArtifact, preferred_path: Literal["auto", "sklearn"] = "auto"
    ) -> None:
        self.metadata: dict[str, Any] = artifact.metadata
        self.name: str = artifact.metadata["model_name"]
        self.version: str = artifact.metadata["model_version"]
        self.sklearn_version: str = artifact.metadata["versions"]["sklearn"]
        self.feature_names: list[str] = list(artifact.metadata["feature_names"])
        self.class_names: list[str] = list(artifact.metadata["class_names"])
        self.example = _example(artifact, self.feature_names)
        self.inference: InferencePath
        self.inference, self.fallback_reason = choose_path(
            artifact.model, artifact.onnx_model, artifact.reference_rows, preferred_path
        )
        # Resolve labelled children once; .labels() on the hot path costs a dict lookup + lock.
        self._per_class = [
            MODEL_PREDICTIONS.labels(self.name, self.version, label) for label in self.class_names
        ]
        self._inference = exemplar_histogram(
            MODEL_INFERENCE_DURATION,
            INFERENCE_LATENCY_BUCKETS,
            model_name=self.name,
            model_version=self.version,
        )
        self._confidence = MODEL_PREDICTION_CONFIDENCE.labels(self.name, self.version)
        self._batch = MODEL_BATCH_SIZE.labels(self.name, self.version)
        self.drift = DriftCounters(self.metadata, self.feature_names, self.name, self.version)

    @property
    def inference_path(self) -> str:
        return self.inference.name

    def warm_up(self) -> None:
        """One unrecorded call at startup, so the first client request is not the slow one."""
        row = [float(self.example[name]) for name in self.feature_names]
        self.inference.predict_proba(np.array([row], dtype=np.float64))

    def predict(self, rows: npt.NDArray[np.float64], request_id: str | None = None) -> Predictions:
        """Predict every row with one model call; rows are in `feature_names` order.
        The request id becomes the inference histogram's exemplar."""
        started = time.perf_counter()
        probabilities = self.inference.predict_proba(rows)
        self._inference.observe(time.perf_counter() - started, request_id)

        winners: list[int] = probabilities.argmax(axis=1).tolist()
        table: list[list[float]] = probabilities.tolist()
        self._batch.observe(len(winners))
        if len(winners) == 1:  # /predict: skip the Counter, the common case
            self._per_class[winners[0]].inc()
        else:
            for class_index, count in Counter(winners).items():
                self._per_class[class_index].inc(count)
        for winner, row in zip(winners, table, strict=True):
            self._confidence.observe(row[winner])
        self.drift.observe(rows)
        return Predictions(winners=winners, probabilities=table)


def _example(artifact: LoadedArtifact, feature_names: list[str]) -> dict[str, Any]:
    """A valid request body: the artifact's own; for one trained before it had one, its
    first reference row, else the middle of each training range."""
    stored: dict[str, Any] | None = artifact.metadata.get("example")
    if stored:
        return stored
    if artifact.reference_rows is not None:
        return dict(zip(feature_names, artifact.reference_rows[0].tolist(), strict=True))
    ranges = artifact.metadata.get("feature_ranges", {})
    return {
        name: (ranges[name]["min"] + ranges[name]["max"]) / 2 if name in ranges else 1.0
        for name in feature_names
    }
