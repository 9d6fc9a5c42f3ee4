"""observe_all (a batch into a histogram in one go) records exactly what observe() does."""

import math

import numpy as np
from prometheus_client import CollectorRegistry, Histogram

from app.observability.metrics import observe_all


def _samples(histogram: Histogram) -> dict[str, float]:
    return {
        f"{s.name}{s.labels.get('le', '')}": s.value
        for family in histogram.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_a_batch_lands_in_the_buckets_one_by_one_would() -> None:
    registry = CollectorRegistry()
    buckets = (0.0, 0.5, 1.0, 2.5)
    one, many = (
        Histogram(name, "test", ["m"], buckets=buckets, registry=registry).labels("x")
        for name in ("one_by_one", "all_at_once")
    )
    values = np.array([-1.0, 0.0, 0.25, 0.5, 0.5000001, 1.0, 2.5, 3.0, math.inf, 0.75])
    for value in values.tolist():
        one.observe(value)
    observe_all(many, values)
    expected = {k.replace("one_by_one", "all_at_once"): v for k, v in _samples(one).items()}
    assert _samples(many) == expected
    assert _samples(many)["all_at_once_count"] == len(values)
