"""What follows an answer: the record every sink receives, and the two interfaces a sink and
a model-lifecycle listener implement.

The dataplane (app/dataplane/dataplane.py) answers a request with one model call, keeps an
`Answer`, and after the response hands it to each sink of its ordered list (`Sink.record`),
then tells each the turn is over (`Sink.end_turn`: a sink that batches sends here). The
registry (app/ml/serving/registry.py) tells its `ModelHooks` when a model starts serving,
stops serving, or the shadow candidate changes: per-model state (labelled metric children,
drift counters, the candidate) is made and dropped there, never on a request.
"""

from dataclasses import dataclass
from typing import Any

from app.ml.serving.runtime import Matrix, ModelRuntime, Predictions


@dataclass(slots=True)
class Answer:
    """One model call for one request, as the sinks receive it after the response."""

    runtime: ModelRuntime  # the model that answered (a swap may have happened since)
    rows: Matrix  # what it was given; nothing writes to it once predicted
    predictions: Predictions
    request_id: str
    fields: dict[str, Any]  # the request's access-line fields (its ASGI state)


class Sink:
    """One thing the dataplane does with every answer, after the response. A new signal is
    one more Sink in the dataplane's list (app/dataplane/__init__.py); no route changes."""

    name = "sink"

    def record(self, answer: Answer) -> None:
        """One answer; raising costs only this answer this sink's record (logged)."""
        raise NotImplementedError

    def end_turn(self) -> None:
        """After a loop turn's answers were recorded: send what was batched."""


class ModelHooks:
    """What happens when the served model or the shadow candidate changes (each call on
    the event loop, in the registry's swap)."""

    def serving(self, runtime: ModelRuntime) -> None:
        """`runtime` answers from now on (startup, or a swap)."""

    def retired(self, runtime: ModelRuntime) -> None:
        """`runtime` no longer answers; answers it made may still be recorded."""

    def shadowing(self, candidate: ModelRuntime | None) -> None:
        """The shadow candidate from now on (None: no shadow)."""

    def unavailable(self, reason: str) -> None:
        """No model serves, and why (a startup load that failed)."""
