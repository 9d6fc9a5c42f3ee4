"""Turns validated feature rows into predictions and records the model metrics.

Single and batch requests both go through `predict`, so both get one
vectorised predict_proba call and identical metric accounting.
"""

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.ml.artifact import LoadedArtifact
from app.observability.metrics import (
    MODEL_BATCH_SIZE,
    MODEL_CLASS_PRIOR,
    MODEL_INFERENCE_DURATION,
    MODEL_INFO,
    MODEL_PREDICTION_CONFIDENCE,
    MODEL_PREDICTIONS,
)


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probabilities: dict[str, float]


class Predictor:
    """A loaded model plus the metadata needed to name its inputs and outputs."""

    def __init__(self, artifact: LoadedArtifact) -> None:
        self.model = artifact.model
        self.metadata: dict[str, Any] = artifact.metadata
        self.name: str = artifact.metadata["model_name"]
        self.version: str = artifact.metadata["model_version"]
        self.sklearn_version: str = artifact.metadata["versions"]["sklearn"]
        self.feature_names: list[str] = list(artifact.metadata["feature_names"])
        self.class_names: list[str] = list(artifact.metadata["class_names"])
        # Resolve labelled children once; .labels() on the hot path costs a dict lookup + lock.
        self._per_class = [
            MODEL_PREDICTIONS.labels(self.name, self.version, label) for label in self.class_names
        ]
        self._inference = MODEL_INFERENCE_DURATION.labels(self.name, self.version)
        self._confidence = MODEL_PREDICTION_CONFIDENCE.labels(self.name, self.version)
        self._batch = MODEL_BATCH_SIZE.labels(self.name, self.version)

    def warm_up(self) -> None:
        """One unrecorded call at startup, so the first client request is not the slow one."""
        ranges = self.metadata.get("feature_ranges", {})
        row = [
            (ranges[name]["min"] + ranges[name]["max"]) / 2 if name in ranges else 1.0
            for name in self.feature_names
        ]
        self.model.predict_proba(np.array([row], dtype=np.float64))

    def mark_serving(self) -> None:
        MODEL_INFO.labels(self.name, self.version, self.sklearn_version).set(1)
        for label, prior in self.metadata.get("class_priors", {}).items():
            MODEL_CLASS_PRIOR.labels(self.name, self.version, label).set(prior)

    def predict(self, rows: npt.NDArray[np.float64]) -> list[Prediction]:
        """Predict every row with one model call; rows are in `feature_names` order."""
        started = time.perf_counter()
        probabilities = np.asarray(self.model.predict_proba(rows), dtype=np.float64)
        self._inference.observe(time.perf_counter() - started)

        winners = probabilities.argmax(axis=1)
        self._batch.observe(len(rows))
        for class_index, count in enumerate(np.bincount(winners, minlength=len(self.class_names))):
            if count:
                self._per_class[class_index].inc(int(count))
        top = probabilities[np.arange(len(rows)), winners]
        for confidence in top.tolist():
            self._confidence.observe(confidence)

        return [
            Prediction(
                index=int(winner),
                label=self.class_names[winner],
                probabilities=dict(zip(self.class_names, row, strict=True)),
            )
            for winner, row in zip(winners.tolist(), probabilities.tolist(), strict=True)
        ]
