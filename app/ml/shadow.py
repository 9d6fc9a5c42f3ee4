"""A candidate model scored beside the served one, off the response's path.

After the served model answers, its rows go into a bounded queue (SHADOW_QUEUE_SIZE
requests) and the response leaves; a thread takes everything queued, scores it with the
candidate in one model call and counts, per row, whether the two agreed. A full queue
drops the request's rows (model_shadow_dropped_total) instead of making the request wait.
The candidate's answers are kept with the served one's (app/ml/memory.py), so ground truth
sent later scores both (app/ml/quality.py). The candidate's own model_predictions_total,
drift and inference metrics are not touched: those describe the traffic that was served.

A thread, not the event loop: ONNX Runtime and scikit-learn release the GIL inside the model
call, so the candidate's inference runs beside the serving loop on the other core; what
`make bench` measures with a shadow on and off is in docs/performance.md.
"""

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.logging import get_logger
from app.ml.memory import Answer, Remembered
from app.ml.predictor import Predictor
from app.observability.metrics import (
    MODEL_SHADOW_DROPPED,
    MODEL_SHADOW_INFERENCE_DURATION,
    MODEL_SHADOW_ROWS,
)

logger = get_logger("glassbox.shadow")

# A regressor's candidate agrees when within this share of the served value (or this
# absolute distance of a value near 0).
REGRESSION_AGREEMENT = 0.05
# Rows scored per candidate call at most: more queued waits for the next call.
MAX_ROWS_PER_CALL = 4096


@dataclass(frozen=True, slots=True)
class _Job:
    rows: npt.NDArray[Any]
    primary: Answer
    entry: Remembered | None


class ShadowScorer:
    """The candidate, its queue and the thread that empties it."""

    def __init__(self, candidate: Predictor, queue_size: int) -> None:
        self.candidate = candidate
        self.version = candidate.version
        self._classes = tuple(candidate.class_names)
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=queue_size)
        self._dropped = MODEL_SHADOW_DROPPED.labels(candidate.name, candidate.version)
        self._duration = MODEL_SHADOW_INFERENCE_DURATION.labels(candidate.name, candidate.version)
        self._agreement: dict[tuple[str, bool], Any] = {}
        self._thread = threading.Thread(target=self._run, name="glassbox-shadow", daemon=True)
        self._thread.start()

    def submit(self, rows: npt.NDArray[Any], primary: Answer, entry: Remembered | None) -> None:
        """Queue the rows the served model just answered; never blocks."""
        try:
            self._queue.put_nowait(_Job(rows, primary, entry))
        except queue.Full:
            self._dropped.inc(len(rows))

    def stop(self, timeout: float = 5.0) -> None:
        """Score what is queued, then end the thread (a swap or shutdown)."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            jobs: list[_Job] = []
            job = self._queue.get()
            stopping = job is None
            rows = 0
            while job is not None:
                jobs.append(job)
                rows += len(job.rows)
                if rows >= MAX_ROWS_PER_CALL:
                    break
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                stopping = stopping or job is None
            if jobs:
                try:
                    self._score(jobs)
                except Exception as exc:  # a candidate failing must never stop the served model
                    logger.error("shadow_failed", model_version=self.version, message=repr(exc))
            if stopping:
                return

    def _score(self, jobs: list[_Job]) -> None:
        matrix = jobs[0].rows if len(jobs) == 1 else np.concatenate([job.rows for job in jobs])
        started = time.perf_counter()
        output = self.candidate.inference.run(matrix)
        self._duration.observe(time.perf_counter() - started)
        values: list[Any] = output.argmax(axis=1).tolist() if self._classes else output.tolist()
        start = 0
        for job in jobs:
            end = start + len(job.rows)
            answer = Answer(self.candidate.name, self.version, self._classes, values[start:end])
            start = end
            if job.entry is not None:
                job.entry.shadow = answer
            agreed = sum(
                _agrees(answer.label_of(row), job.primary.label_of(row))
                for row in range(len(job.rows))
            )
            self._count(job.primary.model_version, True, agreed)
            self._count(job.primary.model_version, False, len(job.rows) - agreed)

    def _count(self, primary_version: str, agreed: bool, rows: int) -> None:
        if not rows:
            return
        child = self._agreement.get((primary_version, agreed))
        if child is None:
            child = MODEL_SHADOW_ROWS.labels(
                self.candidate.name, self.version, primary_version, "true" if agreed else "false"
            )
            self._agreement[(primary_version, agreed)] = child
        child.inc(rows)


def _agrees(candidate: str | float, served: str | float) -> bool:
    if isinstance(candidate, str) or isinstance(served, str):
        return candidate == served
    return abs(candidate - served) <= REGRESSION_AGREEMENT * max(abs(served), 1.0)
