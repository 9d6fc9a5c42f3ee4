"""One run of the poisoning sweep: what experiments/poisoning.py measures and
experiments/tracking.py logs to MLflow (its own module, so neither imports the other)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    poison_level: float
    c: float
    seed: int
    flipped_rows: int
    accuracy: float
    f1_macro: float
    confusion_matrix: list[list[int]]
