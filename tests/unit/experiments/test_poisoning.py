"""The poisoning sweep: train.py's own poisoning, the committed results, the plot."""

import struct
from pathlib import Path

import numpy as np

from app.ml.building.dataset import load_dataset
from experiments.poisoning import RESULTS, outputs, run_one, summarise, sweep
from tests.support.service import ROOT
from train import poison_labels

DATA = ROOT / "data" / "iris.csv"


def test_committed_results_are_what_the_sweep_writes() -> None:
    """Seeded end to end: a stale or hand-edited table fails here (`make experiments`)."""
    for name, text in outputs(summarise(sweep(DATA))).items():
        assert (RESULTS / name).read_text() == text, f"{name} is stale: run `make experiments`"


def test_poisoning_flips_exactly_the_requested_share_to_other_classes() -> None:
    labels = np.array([0, 1, 2] * 40, dtype=np.int64)
    flipped, count = poison_labels(labels, 0.25, 3, seed=7)
    assert count == 30
    assert int((flipped != labels).sum()) == 30  # every chosen row changed class
    assert set(flipped.tolist()) <= {0, 1, 2}
    again, _ = poison_labels(labels, 0.25, 3, seed=7)
    assert (again == flipped).all()
    assert (poison_labels(labels, 0.0, 3, seed=7)[0] == labels).all()


def test_heavy_poisoning_costs_accuracy_on_the_clean_split() -> None:
    data = load_dataset(DATA)
    features, target, names = data.features, data.target, data.class_names
    clean, _ = run_one(features, target, names, 0.0, 1.0, seed=0)
    poisoned, _ = run_one(features, target, names, 0.5, 1.0, seed=0)
    assert (clean.flipped_rows, poisoned.flipped_rows) == (0, 60)  # half of 120 training rows
    assert poisoned.accuracy < clean.accuracy
    assert sum(map(sum, poisoned.confusion_matrix)) == 30  # always the clean 30-row test split


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    return width, height
