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

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.logging import get_logger
from app.ml.memory import Answer, PredictionMemory, Remembered, label_of
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
# How often what was queued is scored. Per request instead (a thread woken by queue.Queue),
# the shadow cost 0.76x /predict's req/s at 16 connections, p99 1.37x (`make bench`'s
# shadow section, 2026-12-02): a wake-up, a GIL hand-over and a model call per request.
DRAIN_SECONDS = 0.01


@dataclass(frozen=True, slots=True)
class _Job:
    rows: npt.NDArray[Any]
    primary: Answer
    request_id: str
    entry: Remembered | None  # in the memory, to keep the shadow's answer beside


class ShadowScorer:
    """The candidate, its queue and the timer on the serving loop that empties it."""

    def __init__(self, candidate: Predictor, queue_size: int, memory: PredictionMemory) -> None:
        self.candidate = candidate
        self._memory = memory
        self.version = candidate.version
        self._classes = tuple(candidate.class_names)
        self._queue: deque[_Job] = deque()
        self._queue_size = queue_size
        self._dropped = MODEL_SHADOW_DROPPED.labels(candidate.name, candidate.version)
        self._duration = MODEL_SHADOW_INFERENCE_DURATION.labels(candidate.name, candidate.version)
        self._agreement: dict[tuple[str, bool], Any] = {}
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(DRAIN_SECONDS, self._tick)

    def submit(
        self, rows: npt.NDArray[Any], primary: Answer, request_id: str, entry: Remembered | None
    ) -> None:
        """Queue the rows the served model just answered; never blocks."""
        if len(self._queue) >= self._queue_size:
            self._dropped.inc(len(rows))
            return
        self._queue.append(_Job(rows, primary, request_id, entry))

    def stop(self) -> None:
        """Score what is queued, then stop (a swap or shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._drain()

    def _tick(self) -> None:
        self._drain()
        if self._timer is not None:
            self._timer = self._loop.call_later(DRAIN_SECONDS, self._tick)

    def _drain(self) -> None:
        while self._queue:
            jobs: list[_Job] = []
            rows = 0
            while self._queue and rows < MAX_ROWS_PER_CALL:
                job = self._queue.popleft()
                jobs.append(job)
                rows += len(job.rows)
            try:
                self._score(jobs)
            except Exception as exc:  # a candidate failing must never stop the served model
                logger.error("shadow_failed", model_version=self.version, message=repr(exc))

    def _score(self, jobs: list[_Job]) -> None:
        matrix = jobs[0].rows if len(jobs) == 1 else np.concatenate([job.rows for job in jobs])
        started = time.perf_counter()
        output = self.candidate.inference.run(matrix)
        self._duration.observe(time.perf_counter() - started)
        values: list[Any] = output.argmax(axis=1).tolist() if self._classes else output.tolist()
        start = 0
        tallies: dict[str, list[int]] = {}  # per served version: [agreed, rows]
        name, version, classes = self.candidate.name, self.version, self._classes
        for job in jobs:
            end = start + len(job.rows)
            chunk = tuple(values[start:end])
            start = end
            mine: Answer = (name, version, classes, chunk)
            if job.entry is not None:
                self._memory.add_shadow(job.request_id, job.entry, mine)
            primary = job.primary
            if classes and primary[2] == classes:  # the same classes: compared by index
                agreed = sum(a == b for a, b in zip(chunk, primary[3], strict=True))
            else:
                agreed = sum(
                    _agrees(label_of(mine, row), label_of(primary, row))
                    for row in range(len(chunk))
                )
            tally = tallies.setdefault(primary[1], [0, 0])
            tally[0] += agreed
            tally[1] += len(chunk)
        for served, (agreed, rows) in tallies.items():  # one increment per drain, not per job
            self._count(served, True, agreed)
            self._count(served, False, rows - agreed)

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
