"""The body parse's fast path (app/api/body.py `_parse_fast`) answers only where its slow
twin, the strict parse, would answer the same: never for a repeated key, at any depth."""

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.api.body import _SLOW, _parse_fast, _unique_keys, parse_json
from app.core.errors import ApiError

KEYS = st.sampled_from(["a", "b", "petal_width", "x:y", "é", ""])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "setosa", "a:b", "::", '"{"']),
)


def _text(value: Any) -> str:
    """JSON text; an object is a list of pairs, so keys may repeat."""
    if isinstance(value, tuple):  # ("object", pairs)
        return "{" + ", ".join(f"{json.dumps(k)}: {_text(v)}" for k, v in value[1]) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return json.dumps(value)


def _objects(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.tuples(st.just("object"), st.lists(st.tuples(KEYS, children), max_size=5)),
    )


DOCUMENTS = st.recursive(SCALARS, _objects, max_leaves=12)


def _strict(text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError:
        return _SLOW


@settings(max_examples=1500, deadline=None)
@given(DOCUMENTS)
def test_the_fast_parse_answers_only_what_the_strict_parse_answers(document: Any) -> None:
    text = _text(document)
    fast = _parse_fast(text.encode())
    if fast is not _SLOW:
        assert _strict(text) == fast, text


def test_a_repeated_key_takes_the_strict_path_flat_or_nested() -> None:
    for text in (
        '{"a": 1, "a": 2}',
        '{"a": {"x": 1}, "a": 2}',
        '{"a": {}, "a": 1}',
        '{"instances": [{"a": 1, "a": 1}]}',
        '{"a": {"x": 1, "x": 1}}',
        '{"inputs": [{"name": "x", "name": "y", "data": [1]}]}',
        '{"instances": [{"a": 1}, {"a": 1, "b": {"c": 1, "c": 2}}]}',
    ):
        assert _parse_fast(text.encode()) is _SLOW, text
    assert _parse_fast(b'{"a": 1, "b": 2.5}') == {"a": 1, "b": 2.5}
    assert _parse_fast(b'{"a:b": "c:d"}') == {"a:b": "c:d"}
    v2 = b'{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [[1, 2]]}]}'
    assert _parse_fast(v2) == json.loads(v2)


def test_with_the_fast_path_off_every_body_takes_the_strict_parse() -> None:
    """FAST_PATHS_OFF=fast-json: the same answers (here, a repeated key's refusal)."""
    assert parse_json(b'{"a": 1, "b": [1, 2]}', fast=False) == {"a": 1, "b": [1, 2]}
    for fast in (True, False):
        with pytest.raises(ApiError, match="repeats the key 'a'"):
            parse_json(b'{"a": 1, "a": 2}', fast=fast)
