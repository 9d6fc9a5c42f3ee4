"""Where answered predictions wait for their labels: one interface, two stores.

A store is one of the dataplane's sinks: every answer's rows are kept under its request id,
with what a label needs -- the model name and version that answered, its classes, what it
said for each row, when -- and, once the shadow candidate scored the request, its answer.
/feedback (app/ml/quality/feedback.py) finds the prediction a label names and claims the
row: the first label wins, whoever asks.

- PredictionMemory (app/ml/quality/memory.py), the default: this worker's memory, a ring
  of FEEDBACK_MEMORY_ROWS rows; a label reaches the worker that predicted only by chance.
- RedisStore (app/ml/quality/redis_store.py), with PREDICTION_STORE_URL: a server that
  speaks the Redis protocol (Redis, Valkey), shared by every worker and replica, kept across
  restarts; a label is joined wherever it arrives.
"""

from dataclasses import dataclass
from typing import Any

from app.ml.serving.answers import Answer, Sink

# What one model said to every row of a request: (model_name, model_version, classes,
# outputs), outputs being class indices into classes, or a regressor's values (no classes).
Said = tuple[str, str, tuple[str, ...], tuple[Any, ...]]


def said(model_name: str, model_version: str, classes: tuple[str, ...], outputs: list[Any]) -> Said:
    return (model_name, model_version, classes, tuple(outputs))


def said_in(answer: Answer) -> Said:
    """What the model that answered said, as a store keeps it."""
    runtime, predictions = answer.runtime, answer.predictions
    classes = runtime.class_tuple
    outputs = predictions.winners if classes else predictions.values
    return (runtime.name, runtime.version, classes, tuple(outputs))


def label_of(said: Said, row: int) -> str | float:
    """What the model said for `row`: a class name, or a regressor's value."""
    classes, output = said[2], said[3][row]
    return classes[int(output)] if classes else float(output)


@dataclass(frozen=True, slots=True)
class Stored:
    """A prediction as a store gives it back to a label."""

    said: Said
    at: float  # time.time() of the answer
    shadow: Said | None  # the shadow candidate's answer, once it scored the request
    labelled: frozenset[int]  # rows that already have their label


class StoreUnavailableError(Exception):
    """The store could not be asked (down, too slow): /feedback answers 503, never
    `unknown` for a label that could not be looked up."""

    def __init__(self, store: str, why: str) -> None:
        super().__init__(f"the prediction store {store} is unavailable: {why}")
        self.store = store


class PredictionStore(Sink):
    """Both stores' interface; `describe` names the store in logs and errors."""

    name = "prediction_store"

    @property
    def enabled(self) -> bool:
        """Whether answers are kept at all (a memory of 0 rows keeps none)."""
        return True

    def describe(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        """On the serving loop, at startup."""

    async def close(self) -> None:
        """At shutdown: what is waiting to be written, written (bounded)."""

    async def find(self, request_id: str) -> Stored | None:
        """The prediction `request_id` names, or None; StoreUnavailableError."""
        raise NotImplementedError

    async def claim(self, request_id: str, row: int) -> bool:
        """Label `row` of that prediction: True for the first label, False for any later
        one (a duplicate), atomically across workers; StoreUnavailableError."""
        raise NotImplementedError

    def shadow_ref(self, request_id: str) -> Any:
        """What identifies the prediction the shadow is about to score (None: none kept)."""
        raise NotImplementedError

    def add_shadow(self, request_id: str, ref: Any, shadow: Said) -> None:
        """The shadow's answer beside the prediction `ref` identifies."""
        raise NotImplementedError

    def publish(self) -> None:
        """This store's gauges, before /metrics renders."""
