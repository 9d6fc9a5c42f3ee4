"""Decile buckets: training's baseline and the service's counters agree on every value."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from app.ml.drift import bucket_of, buckets_of, feature_profile
from tests.observability.test_metrics import model_labels
from tests.service import Service, sample


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


def test_scalar_and_vector_bucketing_agree_on_edges_and_between() -> None:
    edges = [1.0, 2.0, 3.0]
    values = np.array([0.5, 1.0, 1.5, 2.0, 2.000001, 3.0, 3.5])
    assert buckets_of(edges, values).tolist() == [bucket_of(edges, v) for v in values.tolist()]
    assert buckets_of(edges, values).tolist() == [0, 0, 1, 1, 2, 2, 3]  # value <= edge: that bucket


@pytest.mark.service_process
def test_each_value_counts_once_in_its_training_bucket(service: Service, model_dir: Path) -> None:
    deciles = json.loads((model_dir / "metadata.json").read_text())["feature_deciles"]
    labels = model_labels(service)
    flowers = [
        {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
        {"sepal_length": 6.3, "sepal_width": 2.9, "petal_length": 5.6, "petal_width": 1.8},
        {"sepal_length": 5.8, "sepal_width": 2.7, "petal_length": 50.0, "petal_width": 1.2},
    ]
    before = service.metrics()
    assert service.post("/predict", flowers[0]).status_code == 200
    assert service.post("/predict/batch", {"instances": flowers[1:]}).status_code == 200
    after = service.metrics()

    def delta(name: str, **extra: str) -> float:
        return sample(after, name, **labels, **extra) - sample(before, name, **labels, **extra)

    for feature, profile in deciles.items():
        expected = Counter(str(bucket_of(profile["edges"], f[feature])) for f in flowers)
        for bucket in range(len(profile["edges"]) + 1):
            got = delta("model_feature_values_total", feature=feature, bucket=str(bucket))
            assert got == expected[str(bucket)], (feature, bucket)
        for bucket, share in enumerate(profile["expected_shares"]):
            gauge = sample(
                after, "model_feature_expected_share", **labels, feature=feature, bucket=str(bucket)
            )
            assert gauge == pytest.approx(share)
    # 50 cm is far above any training petal; everything else is inside the training range.
    for feature in deciles:
        for side in ("below", "above"):
            want = 1 if (feature, side) == ("petal_length", "above") else 0
            assert delta("model_feature_out_of_range_total", feature=feature, side=side) == want
