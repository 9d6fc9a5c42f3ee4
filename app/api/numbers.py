"""The one rule behind both codecs' fast paths: plain numbers a model whose inputs are all
numbers provably accepts.

The request bodies (app/api/native/bodies.py) give each number input a strict float field
with the contract's bounds (`item.bounds`: gt/ge/lt/le, and no inf or NaN). A value that
is an int or a float (never a bool: type(), not isinstance), finite and within those same
bounds passes that field; anything else is left to the body, which says exactly why not.
`NumberDomain` holds the bounds once per API, so the native row (app/api/native/codec.py)
and the Open Inference Protocol's [N, F] tensor (app/api/oip/codec.py) check them the
same way, without building a body per row.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.ml.contract import Contract

PLAIN_FLOAT = frozenset({int, float})  # what a float field takes (a float tensor too)
PLAIN_INT = frozenset({int})  # what an integer tensor's elements are


@dataclass(frozen=True)
class NumberDomain:
    """The bounds of a model whose inputs are all numbers, per input in order: gt/lt
    default to -inf/+inf, so checking them also refuses inf and NaN; ge/le to the same
    infinities."""

    names: frozenset[str]
    gt: tuple[float, ...]
    ge: tuple[float, ...]
    lt: tuple[float, ...]
    le: tuple[float, ...]
    order: tuple[str, ...] = ()  # the names in input order

    @property
    def width(self) -> int:
        return len(self.gt)

    def in_bounds(self, values: Sequence[float]) -> bool:
        """Whether `values` -- rows laid end to end, each `width` long, plain numbers --
        are within every input's bounds, element by element: on a few rows NumPy's
        per-call cost is more than this (cProfile, docs/performance.md)."""
        width, gt, ge, lt, le = self.width, self.gt, self.ge, self.lt, self.le
        for index, value in enumerate(values):
            column = index % width
            if not (gt[column] < value < lt[column] and ge[column] <= value <= le[column]):
                return False  # also NaN, which compares false, and the infinities
        return True

    def matrix_in_bounds(self, matrix: npt.NDArray[np.float64]) -> bool:
        """The same for a float64 matrix of many rows, in four vectorised comparisons."""
        ok = (matrix > self.gt) & (matrix < self.lt) & (matrix >= self.ge) & (matrix <= self.le)
        return bool(ok.all())


def plain(values: Sequence[Any], types: frozenset[type] = PLAIN_FLOAT) -> bool:
    """Whether every value is exactly of `types` (type(), not isinstance: a bool is an int)."""
    return set(map(type, values)) <= types


def number_domain(contract: Contract | None) -> NumberDomain | None:
    """The contract's NumberDomain; None unless every input is a number."""
    if contract is None or any(item.kind != "number" for item in contract.inputs):
        return None
    bounds = [item.bounds for item in contract.inputs]
    return NumberDomain(
        frozenset(contract.names),
        tuple(float(b.get("gt", -math.inf)) for b in bounds),
        tuple(float(b.get("ge", -math.inf)) for b in bounds),
        tuple(float(b.get("lt", math.inf)) for b in bounds),
        tuple(float(b.get("le", math.inf)) for b in bounds),
        tuple(contract.names),
    )
