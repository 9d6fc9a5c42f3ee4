"""The native fast path (app/api/native.py `plain_number_row`) takes a /predict row only as
its slow twin, the row body, takes it, and gives the same matrix."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.api.native import plain_number_row
from app.api.numbers import number_domain
from app.ml.contract import Contract
from tests.unit.api.test_oip_codec import BOUNDED, FREE, HALF_OPEN, api_of, elements


@pytest.mark.parametrize(
    "contract", [BOUNDED, HALF_OPEN, FREE], ids=["bounded", "half-open", "free"]
)
@settings(max_examples=800, deadline=None)
@given(data=st.data())
def test_a_plain_row_is_taken_only_as_the_row_body_takes_it(
    contract: Contract, data: st.DataObject
) -> None:
    """/predict's shortcut (`plain_number_row`) against the row body it skips."""
    names = list(contract.names)
    keys = data.draw(st.sampled_from([names] * 5 + [names[:-1], [*names, "extra"], names[::-1]]))
    plain = st.one_of(st.floats(0.01, 49), st.integers(1, 49))
    row = {key: data.draw(st.one_of(plain, plain, elements)) for key in keys}
    fast = plain_number_row(row, number_domain(contract))  # type: ignore[arg-type]
    api = api_of(contract)
    try:
        validated = api.row.model_validate(row)
    except ValidationError:
        validated = None
    if fast is not None:
        assert validated is not None, "the shortcut took a row the body refuses"
        np.testing.assert_array_equal(fast, [[getattr(validated, name) for name in names]])


def test_the_common_row_takes_the_shortcut() -> None:
    domain = number_domain(BOUNDED)
    assert domain is not None
    row = {"x2": 1, "x0": 5.1, "x1": 3.5}
    np.testing.assert_array_equal(plain_number_row(row, domain), [[5.1, 3.5, 1.0]])
    for odd in ({**row, "x1": True}, {**row, "x1": 0}, {**row, "x1": "3"}, {"x0": 1, "x1": 1}):
        assert plain_number_row(odd, domain) is None
