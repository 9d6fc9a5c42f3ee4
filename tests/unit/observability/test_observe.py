"""The request path's observations (app/observability/observe.py) record exactly what
prometheus_client's own observe() and inc() do: samples and exemplars, at once with no
event loop running, at the next loop turn (or a flush) on one."""

import asyncio
import math
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from app.core.config import Settings
from app.core.deferred import flush_all
from app.main import create_app
from app.observability.access import HTTP_METRICS
from app.observability.exemplars import ExemplarHistogram
from app.observability.observe import FastCounter, FastHistogram
from tests.support.service import VALID_FLOWER


def _samples(histogram: Histogram) -> dict[str, float]:
    return {
        f"{s.name}{s.labels.get('le', '')}": s.value
        for family in histogram.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


BUCKETS = (0.0, 0.5, 1.0, 2.5)


def _children(*names: str) -> tuple[Histogram, ...]:
    """One labelled child of a histogram per name, same buckets, a registry of their own."""
    registry = CollectorRegistry()
    return tuple(
        Histogram(name, "test", ["m"], buckets=BUCKETS, registry=registry).labels("x")
        for name in names
    )


def test_a_batch_lands_in_the_buckets_one_by_one_would() -> None:
    one, many = _children("one_by_one", "all_at_once")
    values = np.array([-1.0, 0.0, 0.25, 0.5, 0.5000001, 1.0, 2.5, 3.0, math.inf, 0.75])
    for value in values.tolist():
        one.observe(value)
    FastHistogram(many).observe_all(values)
    expected = {k.replace("one_by_one", "all_at_once"): v for k, v in _samples(one).items()}
    assert _samples(many) == expected
    assert _samples(many)["all_at_once_count"] == len(values)


VALUES = [-1.0, 0.0, 0.25, 0.5, 0.5000001, 1.0, 2.5, 3.0, math.inf, math.nan, 0.75, 1e-12]


def test_one_value_lands_in_the_bucket_observe_would_pick() -> None:
    one, fast = _children("library", "fast")
    observed = FastHistogram(fast)
    for value in VALUES:
        one.observe(value)
        bucket = observed.observe(value)
        assert bucket == (
            -1
            if math.isnan(value)
            else next(i for i, b in enumerate((*BUCKETS, math.inf)) if value <= b)
        )
    library = {k.replace("library", "fast"): v for k, v in _samples(one).items()}
    assert {k: v for k, v in _samples(fast).items() if "sum" not in k} == {
        k: v for k, v in library.items() if "sum" not in k
    }
    assert math.isnan(_samples(fast)["fast_sum"])  # NaN is in the sum, as observe() has it
    assert math.isnan(library["fast_sum"])


def test_a_counter_counts_as_inc_does() -> None:
    registry = CollectorRegistry()
    library, fast = (
        Counter(name, "test", ["m"], registry=registry).labels("x") for name in ("a", "b")
    )
    counter = FastCounter(fast)
    for amount in (1, 1, 7, 0.5):
        library.inc(amount)
        counter.inc(amount)
    assert library._value.get() == fast._value.get() == 9.5


def test_an_exemplar_histogram_keeps_what_observe_with_an_exemplar_keeps() -> None:
    """One process (no worker files): the bucket's exemplar is the request id, as
    `observe(value, {"request_id": ...})` would store it; the count and sum as observe()."""
    registry = CollectorRegistry()
    buckets = (0.001, 0.01, 0.1)
    library = Histogram("lib", "test", ["h"], buckets=buckets, registry=registry)
    ours = Histogram("ours", "test", ["h"], buckets=buckets, registry=registry)
    exemplars = ExemplarHistogram(ours, {"h": "x"}, worker=None)
    for number, value in enumerate((0.0005, 0.005, 0.05, 0.5)):
        library.labels("x").observe(value, {"request_id": f"id-{number}"})
        exemplars.observe(value, f"id-{number}")
    exemplars.observe(0.0006, "too-soon")  # the same bucket within 100 ms keeps the first
    library.labels("x").observe(0.0006)

    def by_bucket(histogram: Histogram) -> dict[str, tuple[float, str | None]]:
        (family,) = histogram.collect()
        return {
            f"{s.name.split('_', 1)[1]}{s.labels.get('le', '')}": (
                s.value,
                s.exemplar.labels["request_id"] if s.exemplar else None,
            )
            for s in family.samples
            if not s.name.endswith("_created")
        }

    assert by_bucket(ours) == by_bucket(library)
    assert by_bucket(ours)["bucket0.001"][1] == "id-0"


def test_on_the_event_loop_counts_reach_the_child_at_the_next_turn() -> None:
    """Observed on the loop, counts wait in plain numbers until the turn ends (or a scrape
    flushes them), then land as the library's own calls would have put them."""
    library, fast = _children("library_turn", "fast_turn")
    registry = CollectorRegistry()
    lib_counter, fast_counter = (
        Counter(name, "test", ["m"], registry=registry).labels("x") for name in ("lc", "fc")
    )
    histogram, counter = FastHistogram(fast), FastCounter(fast_counter)

    async def one_turn() -> tuple[float, float]:
        for value in (0.25, 0.75, 3.0):
            library.observe(value)
            histogram.observe(value)
        histogram.observe_all(np.array([0.0, 2.0]))
        library.observe(0.0)
        library.observe(2.0)
        lib_counter.inc(3)
        counter.inc(3)
        waiting = (_samples(fast)["fast_turn_count"], fast_counter._value.get())
        await asyncio.sleep(0)  # the next turn: the pending counts flush
        return waiting

    assert asyncio.run(one_turn()) == (0.0, 0.0)
    expected = {k.replace("library_turn", "fast_turn"): v for k, v in _samples(library).items()}
    assert _samples(fast) == expected
    assert fast_counter._value.get() == lib_counter._value.get() == 3

    async def scraped_in_the_same_turn() -> float:
        histogram.observe(0.5)
        flush_all()  # what /metrics does before it renders
        return _samples(fast)["fast_turn_count"]

    assert asyncio.run(scraped_in_the_same_turn()) == 6.0


class _FailsOnce:
    """A counter value whose next increment raises, once; then it counts again."""

    def __init__(self, value: Any) -> None:
        self._value, self.failed = value, False

    def inc(self, amount: float) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("a value that cannot be written, once")
        self._value.inc(amount)


def test_a_counter_failing_to_flush_costs_later_counts_and_the_others_nothing(
    model_dir: Path,
) -> None:
    """One child's flush raises in a turn's pass: the turn's other counts still reach
    /metrics, and so do that child's own later counts (it is due again, not stuck)."""
    app = create_app(Settings(MODEL_DIR=model_dir, DRAIN_SECONDS=0))
    with TestClient(app) as client:

        def scraped() -> dict[str, float]:
            text = client.get("/metrics").text
            return {
                name: value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                for name, value in [(_key(sample.name, sample.labels), sample.value)]
            }

        def predict() -> None:
            assert client.post("/predict", json=VALID_FLOWER).status_code == 200

        predict()  # every child of a /predict exists from here on
        counter = HTTP_METRICS._counters[("/predict", "POST", 200)]
        flaky = _FailsOnce(counter._value)
        counter._value = flaky
        before = scraped()
        predict()  # its pass: the HTTP counter's flush raises, once
        middle = scraped()
        predict()
        predict()
        after = scraped()
    http = "http_requests_total{handler=/predict,method=POST,status=200}"
    served = next(k for k in before if k.startswith("model_predictions_total{") and "setosa" in k)
    assert flaky.failed
    assert middle[http] - before[http] == 0  # the one count that failed to apply
    assert middle[served] - before[served] == 1  # the same pass's other counts arrived
    assert after[http] - middle[http] == 2  # and this counter's later counts do too


def _key(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}"
