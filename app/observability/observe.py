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
in the deferred pass after the request (app/core/deferred.py, stage "counts"), once for all
of a turn's requests: ten locked increments per /predict become list and float additions,
and the locks are taken once per child and turn. A child's pending counts are taken before
they are applied, so one that fails to apply loses only those counts (logged): the child is
due again at its next count, and the others of the turn are applied regardless.
"""

from bisect import bisect_left
from typing import Any

import numpy as np
import numpy.typing as npt
from prometheus_client import Counter, Histogram

from app.core.deferred import TurnBuffer


class _Due:
    """A child with counts not yet in its values is due in this turn's "counts" stage,
    once however many counts it took."""

    __slots__ = ("_due",)

    def __init__(self) -> None:
        self._due = False

    def _mark_due(self) -> None:
        """Callers test `_due` first: the call is for a child's first count of a turn."""
        self._due = True
        _COUNTS.add(self)

    def _apply(self) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        """The pending counts into the child's values, now."""
        self._due = False  # first: counts from now on make it due again, whatever follows
        self._apply()


_COUNTS: TurnBuffer[_Due] = TurnBuffer("counts", _Due.flush)


class FastHistogram(_Due):
    """One labelled histogram child."""

    __slots__ = ("_bounds", "_buckets", "_counts", "_pending_sum", "_sum")

    def __init__(self, child: Histogram) -> None:
        super().__init__()
        self._bounds: list[float] = child._upper_bounds
        self._buckets: list[Any] = child._buckets
        self._sum: Any = child._sum
        self._counts = [0] * len(self._bounds)  # per bucket, since the last flush
        self._pending_sum = 0.0

    def observe(self, value: float) -> int:
        """Count `value`; return its bucket's index (the first with value <= le), or -1 for
        NaN, which observe() adds to the sum and to no bucket."""
        self._pending_sum += value
        bucket = -1 if value != value else bisect_left(self._bounds, value)  # NaN: -1
        if bucket >= 0:
            self._counts[bucket] += 1
        if not self._due:
            self._mark_due()
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
        if not self._due:
            self._mark_due()

    def bucket_value(self, bucket: int) -> Any:
        """The bucket's value object (an exemplar is set on it)."""
        return self._buckets[bucket]

    def _apply(self) -> None:
        total, self._pending_sum = self._pending_sum, 0.0
        counts, self._counts = self._counts, [0] * len(self._counts)
        self._sum.inc(total)
        for index, count in enumerate(counts):
            if count:
                self._buckets[index].inc(count)


class FastCounter(_Due):
    """One labelled counter child; amounts are counts the caller made, never negative."""

    __slots__ = ("_pending", "_value")

    def __init__(self, child: Counter) -> None:
        super().__init__()
        self._value: Any = child._value
        self._pending: float = 0

    def inc(self, amount: float = 1) -> None:
        self._pending += amount
        if not self._due:
            self._mark_due()

    def _apply(self) -> None:
        amount, self._pending = self._pending, 0
        self._value.inc(amount)
