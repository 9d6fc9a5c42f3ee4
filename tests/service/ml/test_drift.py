"""Drift counted by the real service: each value once, in its training bucket."""

import json
from bisect import bisect_left
from collections import Counter
from pathlib import Path

import pytest

from tests.service.observability.test_metrics import model_labels
from tests.support.service import Service, sample


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
        expected = Counter(str(bisect_left(profile["edges"], f[feature])) for f in flowers)
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
