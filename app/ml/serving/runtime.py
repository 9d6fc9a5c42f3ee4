"""A model runtime: one loaded model, what it is, and its call.

What MLServer calls a model runtime (load / predict): the artifact's contract, names and
classes, and the inference path chosen at load -- ONNX Runtime when it provably agrees
with scikit-learn, else scikit-learn, and why (app/ml/inference.py). The served model and
a shadow candidate are both runtimes; what is recorded about an answer (metrics, drift,
memory, the shadow's queue) is the dataplane's sinks' business (app/dataplane/), never the
runtime's. Built only by app/ml/serving/loading.py, after every load check.
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.ml.artifact import LoadedArtifact
from app.ml.calibration import Calibration
from app.ml.contract import Contract
from app.ml.inference import InferencePath, choose_path

Matrix = npt.NDArray[Any]  # rows in contract order: float64, or object with categories


@dataclass(slots=True)
class Predictions:
    """One model call's output. A classifier's: the winning class index and the
    probabilities of each row; a regressor's: the predicted value of each row. `output` is
    the path's own array (vectorised metrics read it), `seconds` the call's wall time."""

    winners: list[int]
    probabilities: list[list[float]]
    values: list[float]
    output: npt.NDArray[np.float64]
    seconds: float
    started: float = 0.0  # time.perf_counter() when the call began (a span's start)


class ModelRuntime:
    """A loaded model plus the contract that names its inputs and outputs."""

    def __init__(
        self, artifact: LoadedArtifact, preferred_path: Literal["auto", "sklearn"] = "auto"
    ) -> None:
        self.metadata: dict[str, Any] = artifact.metadata
        self.contract: Contract = artifact.contract
        self.task = self.contract.task
        self.name: str = artifact.metadata["model_name"]
        self.version: str = artifact.metadata["model_version"]
        self.sklearn_version: str = artifact.metadata["versions"]["sklearn"]
        self.verified = artifact.verified
        # Where a model from an MLflow registry came from (name, version, run id); {} else.
        registry = artifact.metadata.get("registry")
        self.registry: dict[str, Any] = registry if isinstance(registry, dict) else {}
        self.feature_names: list[str] = self.contract.names
        self.class_names: list[str] = list(self.contract.class_names)
        self.class_tuple: tuple[str, ...] = tuple(self.class_names)
        self._dtype = np.float64 if self.contract.numeric else object
        # A validated request row's values in input order, as a tuple (the body keeps each
        # input under its field name, the input's name being the JSON key).
        self.row_values = _tuple_getter(self.contract.field_names)
        self.example = _example(artifact, self.contract)
        # A classifier's confidence calibration for estimated quality, checked at load
        # (app/ml/serving/loading.py); None without one.
        self.calibration: Calibration | None = None
        # A regressor's loss model (app/ml/loss_estimate.py) on its own checked path; None
        # without one.
        self.loss_estimator: InferencePath | None = None
        self.inference: InferencePath
        self.inference, self.fallback_reason = choose_path(
            artifact.model,
            self.contract,
            artifact.onnx_model,
            artifact.reference_rows,
            preferred_path,
        )

    @property
    def inference_path(self) -> str:
        return self.inference.name

    def matrix(self, rows: Sequence[Sequence[Any]]) -> Matrix:
        """Rows in contract order as the model takes them: float64, or object with categories."""
        return np.array(rows, dtype=self._dtype)

    def warm_up(self) -> None:
        """One call at load, so the first client request is not the slow one."""
        self.inference.run(self.matrix([self.contract.encode_row(self.example)]))

    def predict(self, rows: Matrix) -> Predictions:
        """Every row in one model call; rows come from `matrix` (or a codec that proved
        its own matrix equal to it)."""
        started = time.perf_counter()
        output = self.inference.run(rows)
        seconds = time.perf_counter() - started
        if self.task == "regression":
            return Predictions([], [], output.tolist(), output, seconds, started)
        winners = output.argmax(axis=1).tolist()
        return Predictions(winners, output.tolist(), [], output, seconds, started)

    def labels(self, predictions: Predictions) -> list[str] | list[float]:
        """What the model said for each row: a class name, or a regressor's value."""
        if self.task == "regression":
            return predictions.values
        names = self.class_names
        return [names[winner] for winner in predictions.winners]


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
