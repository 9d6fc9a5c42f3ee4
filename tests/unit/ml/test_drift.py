"""Decile buckets: training's baseline and the service's counters agree on every value."""

from collections import Counter

import numpy as np
import pytest

from app.ml.profile import buckets_of, feature_profile


def test_a_continuous_feature_gets_ten_equal_buckets() -> None:
    column = np.linspace(0.0, 1.0, 1001)
    profile = feature_profile(column)
    assert len(profile["edges"]) == 9
    assert profile["expected_shares"] == pytest.approx([0.1] * 10, abs=0.002)


def test_ties_merge_edges_and_the_stored_shares_say_so() -> None:
    column = np.array([0.2] * 60 + [1.3] * 30 + [2.0] * 10)
    profile = feature_profile(column)
    assert len(profile["edges"]) < 9
    counts = np.bincount(buckets_of(profile["edges"], column), minlength=len(profile["edges"]) + 1)
    assert profile["expected_shares"] == pytest.approx((counts / len(column)).tolist())
    assert sum(profile["expected_shares"]) == pytest.approx(1.0)


def test_a_value_on_an_edge_falls_in_that_edges_bucket() -> None:
    edges = [1.0, 2.0, 3.0]
    values = np.array([0.5, 1.0, 1.5, 2.0, 2.000001, 3.0, 3.5])
    assert buckets_of(edges, values).tolist() == [0, 0, 1, 1, 2, 2, 3]  # value <= edge: that bucket


def _counted(model_version: str) -> dict[tuple[str, str, str], float]:
    """This version's drift counters: (metric, feature, bucket or side) -> value."""
    from prometheus_client import REGISTRY

    found = {}
    for family in REGISTRY.collect():
        for s in family.samples:
            if s.labels.get("model_version") == model_version and s.name.endswith("_total"):
                found[
                    (s.name, s.labels["feature"], s.labels.get("bucket", s.labels.get("side", "")))
                ] = s.value
    return found


def test_a_batch_counts_exactly_what_its_rows_count_one_by_one() -> None:
    """The vectorised batch path and the per-row path agree, numbers and categories alike,
    out-of-range and unseen values included."""
    from app.ml.contract import Contract, Input
    from app.ml.profile import category_profile
    from app.ml.quality.drift import DriftCounters

    rng = np.random.default_rng(3)
    age = rng.integers(10, 90, 200).astype(float)
    fee = rng.normal(50, 10, 200)
    plan = rng.choice(["a", "b", "c"], 200).tolist()
    contract = Contract(
        "regression",
        (Input("age", "integer", 18.0, 80.0), Input("plan", "category", categories=("a", "b")),
         Input("fee", "number", 20.0, 80.0)),
    )  # fmt: skip
    metadata = {
        "feature_ranges": {"age": {"min": 18.0, "max": 80.0}, "fee": {"min": 20.0, "max": 80.0}},
        "feature_deciles": {
            "age": feature_profile(age), "fee": feature_profile(fee),
            "plan": category_profile(plan, ["a", "b"]),
        },
    }  # fmt: skip
    rows = np.array(list(zip(age.tolist(), plan, fee.tolist(), strict=True)), dtype=object)
    one_by_one = DriftCounters(metadata, contract, "drift-test", "rows")
    batched = DriftCounters(metadata, contract, "drift-test", "batch")
    for row in rows:
        one_by_one.observe(row.reshape(1, -1))
    batched.observe(rows[:150])
    batched.observe(rows[150:])
    one_by_one.flush()
    batched.flush()
    rows_counts, batch_counts = _counted("rows"), _counted("batch")
    assert rows_counts == batch_counts
    unseen = batch_counts[("model_feature_out_of_range_total", "plan", "unseen")]
    assert unseen == plan.count("c") > 0
    assert (
        batch_counts[("model_feature_out_of_range_total", "age", "below")] == (age < 18).sum() > 0
    )
    per_feature: Counter[str] = Counter()
    for (name, feature, _), value in batch_counts.items():
        if name == "model_feature_values_total":
            per_feature[feature] += int(value)
    assert per_feature == {"age": 200, "plan": 200, "fee": 200}
