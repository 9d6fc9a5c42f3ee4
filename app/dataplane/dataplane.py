"""The dataplane: every prediction, whichever protocol asked for it.

MLServer's idea, in plain calls a reader can follow. A route (app/api/routes/) is a codec:
it reads its wire format, asks the dataplane for the model, turns the body into the
model's matrix, and writes the answer back. The dataplane owns what is the same for every
protocol:

    model()  lookup and readiness: the serving runtime (503 while none; 404 for another)
    infer()  input policy (OUT_OF_RANGE) -> the model call -> the answer, kept for the sinks

After the response, in the deferred pass (app/core/deferred.py, stage "answers"), each
answer goes to every sink of the ordered list, each call on its own (one failing is
logged with the request id and costs nothing else), then each sink hears the turn is
over. Which sinks, in which order: app/dataplane/__init__.py.
"""

from collections.abc import Callable, Sequence
from typing import Any

from app.core.deferred import DEFERRED, Periodic, TurnBuffer, flush_all
from app.core.errors import ApiError
from app.core.logging import get_logger
from app.dataplane.policy import OutsideTrainingError, outside_training
from app.ml.quality.feedback import QualityBook
from app.ml.serving.answers import Answer, Sink
from app.ml.serving.registry import ModelRegistry
from app.ml.serving.runtime import Matrix, ModelRuntime, Predictions
from app.observability.access import resolve_trace

logger = get_logger("glassbox.dataplane")

# A stage the deferred owner runs while the app serves: (stage, every N seconds or None for
# only in flush_all, what to run).
Stage = tuple[str, float | None, Callable[[], None]]


class ModelNotReadyError(ApiError):
    """No model serves yet, or it failed to load: 503 naming why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(
            503, "model_not_ready", f"model not loaded: {message}", [{"reason": reason}]
        )


class ModelNotFoundError(ApiError):
    """The request names a model or version this server does not serve: 404."""

    def __init__(self, asked: str, served: str) -> None:
        super().__init__(404, "model_not_found", f"no model {asked}; this server serves {served}")


class DataPlane:
    def __init__(
        self,
        registry: ModelRegistry,
        sinks: Sequence[Sink],
        *,
        refuse_outside_training: bool,
        feedback: QualityBook,
        stages: Sequence[Stage] = (),
    ) -> None:
        self.registry = registry
        self.sinks = tuple(sinks)  # in the order each answer reaches them
        self.feedback = feedback  # what /feedback joins labels with: the sinks' memory
        self._refuse = refuse_outside_training
        self._answers: TurnBuffer[Answer] = TurnBuffer(
            "answers", self._record, done=self._end_turn, request_id=_request_id
        )
        self._stages = tuple(stages)
        self._running: list[Periodic] = []

    def start(self) -> None:
        """The sinks' timed stages and the prediction store, on the serving loop (the app's
        startup)."""
        self._running = [
            DEFERRED.schedule(stage, seconds, run) for stage, seconds, run in self._stages
        ]
        self.feedback.store.start()

    async def stop(self) -> None:
        """Shutdown: each timed stage runs once more and stops; the store writes what it
        still holds (bounded) and closes."""
        running, self._running = self._running, []
        for periodic in running:
            DEFERRED.cancel(periodic)
        flush_all()  # what those last runs handed the store
        await self.feedback.store.close()

    def model(self, name: str | None = None, version: str | None = None) -> ModelRuntime:
        """The serving runtime; named (a protocol path), it must be that one."""
        state = self.registry.state
        runtime = state.runtime
        if runtime is None:
            raise ModelNotReadyError(state.reason, state.message)
        if name is not None and (name != runtime.name or version not in (None, runtime.version)):
            asked = name + (f" version {version}" if version else "")
            raise ModelNotFoundError(asked, f"{runtime.name} version {runtime.version}")
        return runtime

    def infer(self, runtime: ModelRuntime, rows: Matrix, fields: dict[str, Any]) -> Predictions:
        """The policy, the model call, and the answer kept for the sinks. `fields` is the
        request's state: its request id, and the access line's fields the sinks fill."""
        if self._refuse:
            refusals = outside_training(runtime.contract, rows)
            if refusals:
                raise OutsideTrainingError(refusals)
        predictions = runtime.predict(rows)
        self._answers.add(Answer(runtime, rows, predictions, fields["request_id"], fields))
        return predictions

    def _record(self, answer: Answer) -> None:
        resolve_trace(answer.fields)  # the caller's trace, read after the response
        for sink in self.sinks:
            try:
                sink.record(answer)
            except Exception:  # one sink's failure costs this answer nothing else
                logger.exception("sink_failed", sink=sink.name, request_id=answer.request_id)

    def _end_turn(self) -> None:
        for sink in self.sinks:
            try:
                sink.end_turn()
            except Exception:
                logger.exception("sink_failed", sink=sink.name, request_id=None)


def _request_id(answer: Answer) -> str:
    return answer.request_id
