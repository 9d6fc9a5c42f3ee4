"""The training split's profile per input: the baseline feature drift is measured against.

Training stores, per feature, the deciles of the training split (`edges`) and the share of
training rows in each bucket they delimit (`expected_shares`). That share is 10 % for a
continuous feature, but ties are common (Iris is measured to 0.1 cm): equal deciles merge
into one edge and shares come out uneven, so the expected share is stored, never assumed.
A categorical input's buckets are its training categories in sorted order, plus one last
bucket for a category training never saw (expected share 0).

Bucket `i` holds the values `edges[i-1] < v <= edges[i]` (Prometheus' `le` convention);
bucket 0 is everything up to the first edge, the last everything above the last edge.
Packaging writes the profile (app/ml/building/packaging.py) and the service counts into the
same buckets (app/ml/quality/drift.py): both go through `buckets_of`, so they cannot
disagree.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

DECILES = tuple(round(q / 10, 1) for q in range(1, 10))


def decile_edges(column: npt.NDArray[np.float64]) -> list[float]:
    """The distinct deciles of a training column, ascending."""
    return sorted({round(float(edge), 6) for edge in np.quantile(column, DECILES)})


def buckets_of(
    edges: Sequence[float] | npt.NDArray[np.float64], values: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """The bucket index of every value (vectorised bisect_left). Training's expected shares
    and the service's counts both go through this, so they cannot disagree."""
    return np.searchsorted(np.asarray(edges), values, side="left")


def feature_profile(column: npt.NDArray[np.float64]) -> dict[str, Any]:
    """What packaging stores per numeric input in metadata.json's `feature_deciles`."""
    edges = decile_edges(column)
    counts = np.bincount(buckets_of(edges, column), minlength=len(edges) + 1)
    return {
        "edges": edges,
        "expected_shares": [round(float(count) / len(column), 6) for count in counts],
    }


def category_profile(values: Sequence[str], categories: Sequence[str]) -> dict[str, Any]:
    """What packaging stores per categorical input: the share of each training category,
    and 0 for the unseen bucket after them."""
    index = {category: i for i, category in enumerate(categories)}
    counts = [0] * (len(categories) + 1)
    for value in values:
        counts[index.get(value, len(categories))] += 1
    return {
        "categories": list(categories),
        "expected_shares": [round(count / len(values), 6) for count in counts],
    }
