"""Feature drift: where each input value falls among the training split's deciles.

Training stores each input's profile (app/ml/profile.py: decile edges and expected shares,
or the categories); the service counts every value into the same buckets
(model_feature_values_total) and Prometheus turns the counts into a population stability
index per feature (monitoring/mixin/rules/), so drift is computed where the metrics
already live.

`FeatureDrift` is one of the dataplane's sinks: for each answer it only keeps the rows (by
reference); every second, and whenever everything is flushed (app/core/deferred.py, stage
"drift"), it buckets every kept row in one vectorised pass and increments the counters (a
counter increment with its lock, per feature and request, cost 1 % of /predict; a bisect
per feature and row, 0.79x the bare endpoint with 30 inputs). Its counters per model are
made when the model starts serving and flushed when it retires (registry hooks).

A categorical input's last bucket is a category training never saw (expected share 0; the
PSI rule floors shares, so unseen values raise the index as a new bucket should); unseen
values are also counted in model_feature_out_of_range_total{side="unseen"}, beside
numbers below or above the training range.
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.logging import get_logger
from app.ml.contract import Contract
from app.ml.profile import buckets_of
from app.ml.serving.answers import Answer, ModelHooks, Sink
from app.ml.serving.runtime import ModelRuntime
from app.observability.metrics import (
    MODEL_FEATURE_EXPECTED_SHARE,
    MODEL_FEATURE_OUT_OF_RANGE,
    MODEL_FEATURE_VALUES,
)

logger = get_logger("glassbox.model")

FLUSH_INTERVAL_SECONDS = 1.0
# Rows kept between flushes at most (2.4 MB of values for 30 numeric inputs); more flush at once.
MAX_KEPT_ROWS = 10_000


@dataclass(frozen=True)
class _Feature:
    name: str
    edges: list[float]
    edges_array: npt.NDArray[np.float64]
    expected_shares: list[float]
    low: float
    high: float
    buckets: list[Any]  # labelled counter children, resolved once
    below: Any
    above: Any
    # A categorical input: category -> bucket; anything else is the last (unseen) bucket.
    categories: dict[str, int] | None = None


class DriftCounters:
    """Counts each row's values into its feature's training buckets and range.

    Built once per served model; an artifact trained before `feature_deciles` existed
    has no baseline, so nothing is counted for it (`enabled` is False). Counts are kept as
    plain integers and flushed on the event loop, the thread every request runs on, so no
    lock is needed and none is lost."""

    def __init__(
        self, metadata: dict[str, Any], contract: Contract, name: str, version: str
    ) -> None:
        profiles: dict[str, Any] = metadata.get("feature_deciles") or {}
        ranges: dict[str, Any] = metadata.get("feature_ranges") or {}
        self.enabled = all(
            item.name in profiles and (item.kind == "category" or item.name in ranges)
            for item in contract.inputs
        )
        self._features: list[_Feature] = []
        self._batches = _NumericBatches([])
        self._kept = 0  # rows in _kept_blocks since the last flush
        self._kept_blocks: list[npt.NDArray[Any]] = []
        if not self.enabled:
            return
        for item in contract.inputs:
            profile = profiles[item.name]
            labels = (name, version, item.name)
            categories = None
            if item.kind == "category":
                categories = {str(c): i for i, c in enumerate(profile["categories"])}
                edges: list[float] = []
                low, high = -math.inf, math.inf
                n_buckets = len(categories) + 1
            else:
                edges = [float(edge) for edge in profile["edges"]]
                low, high = float(ranges[item.name]["min"]), float(ranges[item.name]["max"])
                n_buckets = len(edges) + 1
            self._features.append(
                _Feature(
                    name=item.name,
                    edges=edges,
                    edges_array=np.asarray(edges, dtype=np.float64),
                    expected_shares=[float(x) for x in profile["expected_shares"]],
                    low=low,
                    high=high,
                    # Every child exists from the start, so the drift rules see zeros.
                    buckets=[
                        MODEL_FEATURE_VALUES.labels(*labels, str(i)) for i in range(n_buckets)
                    ],
                    below=MODEL_FEATURE_OUT_OF_RANGE.labels(*labels, "below"),
                    above=MODEL_FEATURE_OUT_OF_RANGE.labels(
                        *labels, "unseen" if categories is not None else "above"
                    ),
                    categories=categories,
                )
            )
        self._labels = (name, version)
        self._pending = [[0] * len(f.buckets) for f in self._features]
        self._outside = [[0, 0] for _ in self._features]  # below, above (or unseen)
        self._batches = _NumericBatches(self._features)

    def publish_baseline(self) -> None:
        for feature in self._features:
            for bucket, share in enumerate(feature.expected_shares):
                MODEL_FEATURE_EXPECTED_SHARE.labels(*self._labels, feature.name, str(bucket)).set(
                    share
                )

    def observe(self, rows: npt.NDArray[Any]) -> None:
        """Keep a call's rows (float64, or object with categories, in contract order) for
        the next flush, which buckets everything kept at once. Counting at once cost a
        bisect per input per row: with 30 inputs, /predict served 0.79x the bare endpoint
        on the same model path (make bench). The matrix itself is kept, by reference
        (nothing writes to a request's matrix once it is predicted, and NumPy arrays are
        not tracked by the collector): a copy into a preallocated block was ~2.5 % of
        /predict's worker time (py-spy), the reference an append."""
        if not self.enabled:
            return
        count = len(rows)
        if self._kept + count > MAX_KEPT_ROWS:
            self.flush()  # bounded memory, even if the loop has no time for the timer
        self._kept_blocks.append(rows)
        self._kept += count

    def _count(self, rows: npt.NDArray[Any]) -> None:
        """Every kept row into its buckets: numbers in one go, categories by lookup."""
        self._batches.observe(rows)
        for index in self._batches.categorical:
            pending, categories = self._pending[index], self._features[index].categories or {}
            unseen = len(categories)
            for value in rows[:, index].tolist():
                bucket = categories.get(value, unseen)
                pending[bucket] += 1
                self._outside[index][1] += bucket == unseen

    def flush(self) -> None:
        """Every kept row into the counters, now."""
        if self._kept:
            blocks, self._kept_blocks, self._kept = self._kept_blocks, [], 0
            self._count(blocks[0] if len(blocks) == 1 else np.concatenate(blocks))
        self._batches.flush()
        for index, feature in enumerate(self._features):
            pending = self._pending[index]
            for bucket, count in enumerate(pending):
                if count:
                    feature.buckets[bucket].inc(count)
                    pending[bucket] = 0
            below, above = self._outside[index]
            if below:
                feature.below.inc(below)
            if above:
                feature.above.inc(above)
            self._outside[index] = [0, 0]


class _NumericBatches:
    """A batch's numeric inputs counted all at once: one searchsorted per input, then one
    bincount over every input's buckets laid end to end and one comparison per side for
    the whole block. Per input in a Python loop, this was 10 % of a 100-row batch of a
    30-input model (py-spy); counts wait in NumPy arrays until the flush."""

    def __init__(self, features: list[_Feature]) -> None:
        numeric = [i for i, f in enumerate(features) if f.categories is None]
        self.categorical = [i for i, f in enumerate(features) if f.categories is not None]
        self._columns = numeric
        self._edges = [features[i].edges_array for i in numeric]
        sizes = [len(features[i].buckets) for i in numeric]
        self._offsets = np.cumsum([0, *sizes[:-1]]).astype(np.intp)
        self._buckets = [bucket for i in numeric for bucket in features[i].buckets]
        self._sides = [(features[i].below, features[i].above) for i in numeric]
        self._low = np.array([features[i].low for i in numeric], dtype=np.float64)
        self._high = np.array([features[i].high for i in numeric], dtype=np.float64)
        self._all_columns = len(numeric) == len(features)
        self._counts = np.zeros(sum(sizes), dtype=np.int64)
        self._below = np.zeros(len(numeric), dtype=np.int64)
        self._above = np.zeros(len(numeric), dtype=np.int64)

    def observe(self, rows: npt.NDArray[Any]) -> None:
        if not self._columns:
            return
        block = rows if self._all_columns else rows[:, self._columns]
        block = block.astype(np.float64, copy=False)
        buckets = np.empty(block.shape, dtype=np.intp)
        for j, edges in enumerate(self._edges):
            buckets[:, j] = buckets_of(edges, block[:, j])
        buckets += self._offsets
        self._counts += np.bincount(buckets.ravel(), minlength=len(self._counts))
        self._below += (block < self._low).sum(axis=0)
        self._above += (block > self._high).sum(axis=0)

    def flush(self) -> None:
        for k in np.flatnonzero(self._counts).tolist():
            self._buckets[k].inc(int(self._counts[k]))
        for j in np.flatnonzero(self._below | self._above).tolist():
            below, above = int(self._below[j]), int(self._above[j])
            if below:
                self._sides[j][0].inc(below)
            if above:
                self._sides[j][1].inc(above)
        self._counts[:] = 0
        self._below[:] = 0
        self._above[:] = 0


class FeatureDrift(Sink, ModelHooks):
    """The dataplane's drift sink: each answer's rows kept for the counters of the model
    that answered; `flush` (every FLUSH_INTERVAL_SECONDS, and in every flush_all) counts
    them."""

    name = "drift"

    def __init__(self) -> None:
        self._counters: dict[ModelRuntime, DriftCounters] = {}
        self._serving: tuple[ModelRuntime | None, DriftCounters | None] = (None, None)

    def serving(self, runtime: ModelRuntime) -> None:
        counters = self._of(runtime)
        counters.publish_baseline()
        self._serving = (runtime, counters)
        if not counters.enabled:
            logger.warning(
                "drift_baseline_missing",
                model_version=runtime.version,
                message="metadata.json has no feature_deciles (trained before they existed): "
                "feature drift is not measured for this model; retrain to get it",
            )

    def retired(self, runtime: ModelRuntime) -> None:
        counters = self._counters.pop(runtime, None)
        if counters is not None:
            counters.flush()
        if self._serving[0] is runtime:
            self._serving = (None, None)

    def record(self, answer: Answer) -> None:
        runtime, counters = self._serving
        if answer.runtime is not runtime or counters is None:
            counters = self._of(answer.runtime)
        counters.observe(answer.rows)

    def flush(self) -> None:
        for counters in list(self._counters.values()):
            counters.flush()

    def _of(self, runtime: ModelRuntime) -> DriftCounters:
        counters = self._counters.get(runtime)
        if counters is None:
            counters = DriftCounters(
                runtime.metadata, runtime.contract, runtime.name, runtime.version
            )
            self._counters[runtime] = counters
        return counters
