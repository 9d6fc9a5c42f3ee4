"""A candidate model scored beside the served one, off the response's path.

One of the dataplane's sinks: after the served model answers, its rows go into a bounded
queue (SHADOW_QUEUE_SIZE requests) and the response leaves; every DRAIN_SECONDS, and in
every flush_all (app/core/deferred.py, stage "shadow"), the event loop takes everything
queued, scores it with the candidate in one model call and counts, per row, whether the
two agreed. A full queue drops the request's rows (model_shadow_dropped_total) instead of
making anyone wait. The candidate's answers are kept with the served one's in the
prediction store (app/ml/quality/store.py), so ground truth sent later scores both
(app/ml/quality/feedback.py). The candidate is another model runtime, loaded and checked
by the registry like the served one; it reaches this sink through the registry's
`shadowing` hook. Its own model_predictions_total, drift and inference metrics are not
touched: those describe the traffic that was served; its estimated quality is counted with
role="shadow" (app/ml/quality/estimation.py), over model_shadow_rows_total's rows.

On the event loop, not a thread: per request instead (a thread woken by queue.Queue) the
shadow cost 0.76x /predict's req/s at 16 connections, p99 1.37x (`make bench`'s shadow
section, 2026-12-02): a wake-up, a GIL hand-over and a model call per request. One model
call every 10 ms for everything queued cost 0.94-0.95x (docs/performance.md#shadow).
"""

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.logging import get_logger
from app.ml.quality.estimation import EstimateSeries
from app.ml.quality.store import PredictionStore, Said, label_of, said_in
from app.ml.serving.answers import Answer, ModelHooks, Sink
from app.ml.serving.runtime import Matrix, ModelRuntime
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
# How often what was queued is scored (see above).
DRAIN_SECONDS = 0.01


@dataclass(frozen=True, slots=True)
class _Job:
    rows: Matrix
    primary: Said
    request_id: str
    ref: Any  # the stored prediction, to keep the shadow's answer beside (None: none)


class _Candidate:
    """One candidate runtime with its labelled children, made once per candidate."""

    def __init__(self, runtime: ModelRuntime) -> None:
        self.runtime = runtime
        self.classes = runtime.class_tuple
        self.dropped = MODEL_SHADOW_DROPPED.labels(runtime.name, runtime.version)
        self.duration = MODEL_SHADOW_INFERENCE_DURATION.labels(runtime.name, runtime.version)
        self.agreement: dict[tuple[str, bool], Any] = {}
        # Its estimated quality on the rows it scored, before any label (role "shadow").
        self.estimate = EstimateSeries.of(runtime, "shadow")

    def count(self, primary_version: str, agreed: bool, rows: int) -> None:
        if not rows:
            return
        child = self.agreement.get((primary_version, agreed))
        if child is None:
            child = MODEL_SHADOW_ROWS.labels(
                self.runtime.name,
                self.runtime.version,
                primary_version,
                "true" if agreed else "false",
            )
            self.agreement[(primary_version, agreed)] = child
        child.inc(rows)


class ShadowScorer(Sink, ModelHooks):
    """The shadow candidate's queue; `drain` scores it."""

    name = "shadow"

    def __init__(self, queue_size: int, store: PredictionStore | None) -> None:
        self._queue: deque[_Job] = deque()
        self._queue_size = queue_size
        self._store = store
        self._candidate: _Candidate | None = None

    @property
    def candidate(self) -> ModelRuntime | None:
        return self._candidate.runtime if self._candidate else None

    def shadowing(self, candidate: ModelRuntime | None) -> None:
        """Score what the old candidate had queued, then take the new one."""
        self.drain()
        self._candidate = _Candidate(candidate) if candidate is not None else None

    def record(self, answer: Answer) -> None:
        """Queue the rows the served model just answered; never blocks."""
        candidate = self._candidate
        if candidate is None:
            return
        if len(self._queue) >= self._queue_size:
            candidate.dropped.inc(len(answer.rows))
            return
        store = self._store
        ref = store.shadow_ref(answer.request_id) if store is not None else None
        self._queue.append(_Job(answer.rows, said_in(answer), answer.request_id, ref))

    def drain(self) -> None:
        """Score everything queued, MAX_ROWS_PER_CALL rows per model call."""
        candidate = self._candidate
        while self._queue:
            jobs: list[_Job] = []
            rows = 0
            while self._queue and rows < MAX_ROWS_PER_CALL:
                job = self._queue.popleft()
                jobs.append(job)
                rows += len(job.rows)
            if candidate is None:
                continue  # no candidate any more: nothing to score them with
            try:
                self._score(candidate, jobs)
            except Exception as exc:  # a candidate failing must never stop the served model
                logger.error(
                    "shadow_failed", model_version=candidate.runtime.version, message=repr(exc)
                )

    def _score(self, candidate: _Candidate, jobs: list[_Job]) -> None:
        matrix = jobs[0].rows if len(jobs) == 1 else np.concatenate([job.rows for job in jobs])
        started = time.perf_counter()
        output = candidate.runtime.inference.run(matrix)
        candidate.duration.observe(time.perf_counter() - started)
        classes = candidate.classes
        if candidate.estimate is not None:
            candidate.estimate.add(matrix, np.asarray(output, dtype=np.float64))
        values: list[Any] = output.argmax(axis=1).tolist() if classes else output.tolist()
        start = 0
        tallies: dict[str, list[int]] = {}  # per served version: [agreed, rows]
        name, version = candidate.runtime.name, candidate.runtime.version
        for job in jobs:
            end = start + len(job.rows)
            chunk = tuple(values[start:end])
            start = end
            mine: Said = (name, version, classes, chunk)
            if job.ref is not None and self._store is not None:
                self._store.add_shadow(job.request_id, job.ref, mine)
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
            candidate.count(served, True, agreed)
            candidate.count(served, False, rows - agreed)
        if self._store is not None:
            self._store.end_turn()  # the answers it kept go out together


def _agrees(candidate: str | float, served: str | float) -> bool:
    if isinstance(candidate, str) or isinstance(served, str):
        return candidate == served
    return abs(candidate - served) <= REGRESSION_AGREEMENT * max(abs(served), 1.0)
