"""Feature drift: where each input value falls among the training split's deciles.

Training stores, per feature, the deciles of the training split (`edges`) and the share of
training rows in each bucket they delimit (`expected_shares`). That share is 10 % for a
continuous feature, but ties are common (Iris is measured to 0.1 cm): equal deciles merge
into one edge and shares come out uneven, so the expected share is stored, never assumed.

The service counts every value into the same buckets (model_feature_values_total) and
Prometheus turns the counts into a population stability index per feature
(monitoring/mixin/rules.py), so drift is computed where the metrics already live. The
request path only keeps its rows; at most a second later (and at once when /metrics is
read) the event loop buckets every kept row in one vectorised pass and increments the
Prometheus counters (a counter increment with its lock, per feature and request, cost 1 %
of /predict; a bisect per feature and row, 0.79x the bare endpoint with 30 inputs).

Bucket `i` holds the values `edges[i-1] < v <= edges[i]` (Prometheus' `le` convention);
bucket 0 is everything up to the first edge, the last everything above the last edge.

A categorical input's buckets are its training categories in sorted order, plus one last
bucket for a category training never saw (expected share 0; the PSI rule floors shares,
so unseen values raise the index as a new bucket should). Unseen values are also counted
in model_feature_out_of_range_total{side="unseen"}, beside numbers below or above the
training range.
"""

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.ml.contract import Contract
from app.observability.metrics import (
    MODEL_FEATURE_EXPECTED_SHARE,
    MODEL_FEATURE_OUT_OF_RANGE,
    MODEL_FEATURE_VALUES,
)

DECILES = tuple(round(q / 10, 1) for q in range(1, 10))
FLUSH_INTERVAL_SECONDS = 1.0
# Rows kept between flushes at most (2.4 MB of values for 30 numeric inputs); more flush at once.
MAX_KEPT_ROWS = 10_000


def decile_edges(column: npt.NDArray[np.float64]) -> list[float]:
    """The distinct deciles of a training column, ascending."""
    return sorted({round(float(edge), 6) for edge in np.quantile(column, DECILES)})


def buckets_of(
    edges: Sequence[float] | npt.NDArray[np.float64], values: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """The bucket index of every value (vectorised bisect_left). Training's expected shares
    and the service's counts both go through this, so they cannot disagree."""
    return np.searchsorted(np.asarray(edges), values, side="left")


def feature_profile(column: npt.NDArray[np.float64]) -> dict[str, Any]:
    """What packaging stores per numeric input in metadata.json's `feature_deciles`."""
    edges = decile_edges(column)
    counts = np.bincount(buckets_of(edges, column), minlength=len(edges) + 1)
    return {
        "edges": edges,
        "expected_shares": [round(float(count) / len(column), 6) for count in counts],
    }


def category_profile(values: Sequence[str], categories: Sequence[str]) -> dict[str, Any]:
    """What packaging stores per categorical input: the share of each training category,
    and 0 for the unseen bucket after them."""
    index = {category: i for i, category in enumerate(categories)}
    counts = [0] * (len(categories) + 1)
    for value in values:
        counts[index.get(value, len(categories))] += 1
    return {
        "categories": list(categories),
        "expected_shares": [round(count / len(values), 6) for count in counts],
    }


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

    Built once per loaded model; an artifact trained before `feature_deciles` existed
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
        self._flush_scheduled = False
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
        if not self._flush_scheduled:
            self._schedule_flush()

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

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the service's loop (a script): count now
            self.flush()
            return
        self._flush_scheduled = True
        loop.call_later(FLUSH_INTERVAL_SECONDS, self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def flush(self) -> None:
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
