"""Observing into labelled histogram and counter children on the request path.

prometheus_client's `observe()` checks on every call that the child is observable, scans
its buckets one by one and, like `inc()`, goes through two method layers before the locked
increment; every /predict observes four histograms and two counters, and py-spy put those
calls at ~7 % of the worker's time. prometheus_client has no cheaper public path, so these
use the child's own bucket bounds and values (`_upper_bounds`, `_buckets`, `_sum`,
`_value`: the same locked value objects, in one process or several) and the bucket
`observe()` would pick; a batch is bucketed in one vectorised step.
tests/observability/test_observe.py holds each equal to the library's own calls, exemplars
included.

On the event loop, the counts first add up in plain numbers and reach the child's values
at the start of the next loop turn, once for all of this turn's requests: ten locked
increments per /predict become list and float additions, and the locks are taken once
per child and turn. /metrics flushes first (app/api/routes/metrics.py)
and so does shutdown, so a scrape sees every request answered before it; with no loop
running (a script, a test), counts land at once.
"""

from bisect import bisect_left
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from prometheus_client import Counter, Histogram

from app.core.turns import at_next_turn


class _Flushable(Protocol):
    def flush(self) -> None: ...


class _PendingChildren:
    """The children with counts not yet in their values; used from the event loop only."""

    def __init__(self) -> None:
        self._children: list[_Flushable] = []

    def add(self, child: _Flushable) -> None:
        """`child` has counts to flush: at the next loop turn, or now with no loop running."""
        self._children.append(child)
        if len(self._children) == 1:
            at_next_turn(self.flush)

    def flush(self) -> None:
        children, self._children = self._children, []
        for child in children:
            child.flush()


_PENDING = _PendingChildren()


def flush_pending() -> None:
    """Every count observed so far into its child's value, now (before /metrics renders)."""
    _PENDING.flush()


class FastHistogram:
    """One labelled histogram child."""

    __slots__ = ("_bounds", "_buckets", "_counts", "_dirty", "_pending_sum", "_sum")

    def __init__(self, child: Histogram) -> None:
        self._bounds: list[float] = child._upper_bounds
        self._buckets: list[Any] = child._buckets
        self._sum: Any = child._sum
        self._counts = [0] * len(self._bounds)  # per bucket, since the last flush
        self._pending_sum = 0.0
        self._dirty = False

    def observe(self, value: float) -> int:
        """Count `value`; return its bucket's index (the first with value <= le), or -1 for
        NaN, which observe() adds to the sum and to no bucket."""
        self._pending_sum += value
        bucket = -1 if value != value else bisect_left(self._bounds, value)  # NaN: -1
        if bucket >= 0:
            self._counts[bucket] += 1
        if not self._dirty:
            self._dirty = True
            _PENDING.add(self)
        return bucket

    def observe_all(self, values: npt.NDArray[np.float64]) -> None:
        """Observe every value of a batch: one vectorised bucketing and one increment per
        bucket used, instead of a locked increment pair per value (100 observe() calls were
        5 % of a 100-row /predict/batch, py-spy)."""
        if len(values) == 0:
            return
        # NaN sorts past +Inf: counted in no bucket (but in the sum), as observe() does.
        where = np.searchsorted(self._bounds, values, side="left")
        counts = np.bincount(where, minlength=len(self._bounds))[: len(self._bounds)]
        self._pending_sum += float(values.sum())
        for index in np.flatnonzero(counts).tolist():
            self._counts[index] += int(counts[index])
        if not self._dirty:
            self._dirty = True
            _PENDING.add(self)

    def bucket_value(self, bucket: int) -> Any:
        """The bucket's value object (an exemplar is set on it)."""
        return self._buckets[bucket]

    def flush(self) -> None:
        self._dirty = False
        self._sum.inc(self._pending_sum)
        self._pending_sum = 0.0
        counts = self._counts
        for index, count in enumerate(counts):
            if count:
                self._buckets[index].inc(count)
                counts[index] = 0


class FastCounter:
    """One labelled counter child; amounts are counts the caller made, never negative."""

    __slots__ = ("_dirty", "_pending", "_value")

    def __init__(self, child: Counter) -> None:
        self._value: Any = child._value
        self._pending: float = 0
        self._dirty = False

    def inc(self, amount: float = 1) -> None:
        self._pending += amount
        if not self._dirty:
            self._dirty = True
            _PENDING.add(self)

    def flush(self) -> None:
        self._dirty = False
        self._value.inc(self._pending)
        self._pending = 0
