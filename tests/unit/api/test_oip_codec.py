"""The V2 fast path (app/api/oip_codec.py `plain_number_matrix`) takes only what its slow
twin accepts, and gives the same matrix: checked against rows_of + the batch body on
generated tensors."""

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.api.model_api import ModelApi, build_model_api
from app.api.numbers import number_domain
from app.api.oip import InferenceRequest
from app.api.oip_codec import (
    TensorError,
    plain_number_matrix,
    rows_of,
)
from app.ml.contract import Contract, Input

BOUNDED = Contract(  # Iris's declared domain, 0 < cm <= 100
    "classification",
    tuple(Input(f"x{i}", "number", 0.1, 8.0, bounds={"gt": 0, "le": 100}) for i in range(3)),
    ("a", "b"),
)
HALF_OPEN = Contract(
    "regression",
    tuple(Input(f"x{i}", "number", 0, 9, bounds={"ge": 0, "lt": 50}) for i in range(2)),
)
FREE = Contract("regression", tuple(Input(f"x{i}", "number", -5, 5) for i in range(2)))
MIXED = Contract("regression", (Input("x0", "number", 0, 1), Input("n", "integer", 0, 9)), ())
MAX_ROWS = 12  # beyond _PYTHON_CHECK_ROWS: both ways of checking the bounds run
# The generated-request tests run on each kind of domain: both bounds, half-open, none, mixed.
EVERY_CONTRACT = pytest.mark.parametrize(
    "contract", [BOUNDED, HALF_OPEN, FREE, MIXED], ids=["bounded", "half-open", "free", "mixed"]
)

# The values a too-lax fast path would let through: out of bounds, not a number, a bool,
# beyond float64, not finite (not JSON, but a Python caller can send them).
SPECIAL = [0, 100, 100.0000001, -1e-300, True, False, "1", 2**1030, float("inf"),
           float("-inf"), float("nan"), None]  # fmt: skip
elements = st.one_of(
    st.sampled_from(SPECIAL),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-200, max_value=200),
    st.integers(-200, 200),
)


@st.composite
def requests(draw: st.DrawFn, contract: Contract) -> dict[str, Any]:
    width = len(contract.inputs)
    rows = draw(st.integers(0, MAX_ROWS + 1))
    # Each choice mostly the valid one, so that the generated requests reach the checks.
    columns = draw(st.sampled_from([width] * 4 + [width + 1, 1]))
    # Mostly plain in-domain numbers with at most one odd element, so that many requests
    # are valid or nearly: the cases where a too-lax fast path would show.
    plain = st.one_of(st.floats(0.01, 49), st.integers(1, 49))  # inside every domain here
    flat: list[Any] = draw(st.lists(plain, min_size=rows * columns, max_size=rows * columns))
    if draw(st.booleans()) and flat:
        flat[draw(st.integers(0, len(flat) - 1))] = draw(elements)
    data: list[Any] = flat
    if draw(st.booleans()) and columns:
        data = [flat[i : i + columns] for i in range(0, len(flat), columns)]
    if draw(st.integers(0, 3)) == 0 and flat:
        data = [*flat, draw(elements)]  # one element too many
    return {
        "inputs": [
            {
                "name": draw(st.sampled_from(["input-0"] * 3 + [contract.names[0]])),
                "shape": draw(
                    st.sampled_from([[rows, columns]] * 4 + [[rows], [rows, columns, 1]])
                ),
                "datatype": draw(
                    st.sampled_from(["FP64", "FP64", "FP32", "INT64", "BOOL", "BYTES"])
                ),
                "data": data,
            }
        ]
    }


_APIS: dict[int, ModelApi] = {}


def api_of(contract: Contract) -> ModelApi:
    """The bodies of `contract` (one of the constants above), made once: pydantic builds a
    model per call, most of a generated example's time."""
    if id(contract) not in _APIS:
        _APIS[id(contract)] = build_model_api(contract, {"model_name": "m"})
    return _APIS[id(contract)]


def full_path(body: InferenceRequest, contract: Contract) -> np.ndarray | None:
    """What the route does without the fast path: rows_of, then the batch body."""
    api = api_of(contract)
    try:
        rows = rows_of(body, contract, MAX_ROWS)
        batch = api.batch.model_validate({"instances": rows}, context={"max_batch_size": MAX_ROWS})
    except (TensorError, ValidationError):
        return None
    return np.array(
        [[getattr(row, name) for name in contract.field_names] for row in batch.instances],  # type: ignore[attr-defined]
        dtype=np.float64,
    )


@EVERY_CONTRACT
@settings(max_examples=600, deadline=None)
@given(data=st.data())
def test_the_fast_path_accepts_only_what_the_full_path_accepts(
    contract: Contract, data: st.DataObject
) -> None:
    body = InferenceRequest.model_validate(data.draw(requests(contract)))
    fast = plain_number_matrix(body, number_domain(contract), MAX_ROWS)
    if fast is not None:
        full = full_path(body, contract)
        assert full is not None, "the fast path took a request the batch body refuses"
        np.testing.assert_array_equal(fast, full)


def test_the_common_request_takes_the_fast_path() -> None:
    body = InferenceRequest.model_validate(
        {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [2, 3],
                    "datatype": "FP64",
                    "data": [[5.1, 3.5, 1], [6.0, 2.2, 4.0]],
                }
            ]
        }
    )
    fast = plain_number_matrix(body, number_domain(BOUNDED), MAX_ROWS)
    assert fast is not None
    np.testing.assert_array_equal(fast, [[5.1, 3.5, 1.0], [6.0, 2.2, 4.0]])
    # An integer input, a bound broken, a bool: the full path, for its exact error.
    assert plain_number_matrix(body, number_domain(MIXED), MAX_ROWS) is None
    zero = body.model_copy(
        update={"inputs": [body.inputs[0].model_copy(update={"data": [0, 1, 1, 1, 1, 1]})]}
    )
    assert plain_number_matrix(zero, number_domain(BOUNDED), MAX_ROWS) is None
    flag = body.model_copy(
        update={"inputs": [body.inputs[0].model_copy(update={"data": [True, 1, 1, 1, 1, 1]})]}
    )
    assert plain_number_matrix(flag, number_domain(BOUNDED), MAX_ROWS) is None
    for odd in (float("inf"), float("-inf"), float("nan")):  # not JSON: a Python caller's
        for rows in (1, MAX_ROWS):  # checked in Python, and with numpy
            data = [odd, *[1.0] * (2 * rows - 1)]
            tensor = {"name": "input-0", "shape": [rows, 2], "datatype": "FP64", "data": data}
            odd_body = InferenceRequest.model_validate({"inputs": [tensor]})
            assert full_path(odd_body, FREE) is None
            assert plain_number_matrix(odd_body, number_domain(FREE), MAX_ROWS) is None, odd
