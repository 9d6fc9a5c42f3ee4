"""The input policy: OUT_OF_RANGE=refuse answers 422 for values the model never saw in
training (numbers outside its range, categories it never saw); `accept` (the default)
serves them and drift counts them (model_feature_out_of_range_total).

Checked on the matrix the model is about to be given, against the model serving the
request, so a retrained model with wider ranges is swapped in without a restart, and every
protocol gets the same refusals; each codec says where they are in its own request.
"""

from dataclasses import dataclass
from typing import Any

from app.ml.contract import Contract, Input
from app.ml.serving.runtime import Matrix


@dataclass(frozen=True)
class Refusal:
    """One value outside training: its row, its input, the value, why."""

    row: int
    input: str
    value: Any
    type: str  # out_of_training_range or unknown_category
    message: str


class OutsideTrainingError(Exception):
    """Values outside the serving model's training data, with OUT_OF_RANGE=refuse."""

    def __init__(self, refusals: list[Refusal]) -> None:
        super().__init__(f"{len(refusals)} value(s) outside the training data")
        self.refusals = refusals


def outside_training(contract: Contract, rows: Matrix) -> list[Refusal]:
    """Every value of `rows` (in contract order) outside the training data."""
    refusals: list[Refusal] = []
    for index, row in enumerate(rows.tolist()):
        for item, value in zip(contract.inputs, row, strict=True):
            if item.kind == "category":
                if value not in item.categories:
                    refusals.append(
                        _refusal(
                            index, item, value, "unknown_category", "a category training never saw"
                        )
                    )
            elif _outside(item, value):
                refusals.append(
                    _refusal(
                        index,
                        item,
                        _as_given(item, value),
                        "out_of_training_range",
                        f"outside the training range {item.minimum:g} to {item.maximum:g}",
                    )
                )
    return refusals


def _outside(item: Input, value: Any) -> bool:
    if item.kind == "boolean" or item.minimum is None or item.maximum is None:
        return False
    return not item.minimum <= value <= item.maximum


def _as_given(item: Input, value: Any) -> Any:
    """A whole number as the client sent it: the matrix holds it as a float."""
    if item.kind == "integer" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _refusal(row: int, item: Input, value: Any, kind: str, why: str) -> Refusal:
    return Refusal(row, item.name, value, kind, f"Input is {why} (OUT_OF_RANGE=refuse)")
