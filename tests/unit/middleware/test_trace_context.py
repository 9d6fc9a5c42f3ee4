"""W3C Trace Context's traceparent, as the spec's own examples and rules say: a valid header
gives the caller's trace, span and sampled flag; anything malformed is ignored."""

import pytest

from app.core.traceparent import parse_traceparent
from app.middleware.trace_context import bind_trace_context
from app.observability.access import resolve_trace

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (f"00-{TRACE}-{PARENT}-01", (TRACE, PARENT, True)),  # the spec's example
        (f"00-{TRACE}-{PARENT}-00", (TRACE, PARENT, False)),
        (f"00-{TRACE}-{PARENT}-09", (TRACE, PARENT, True)),  # other flags: only bit 0 counts
        (f"cc-{TRACE}-{PARENT}-01-what-the-future-adds", (TRACE, PARENT, True)),
        (f"cc-{TRACE}-{PARENT}-01", (TRACE, PARENT, True)),
    ],
)
def test_a_valid_traceparent_is_read(header: str, expected: tuple[str, str, bool]) -> None:
    assert parse_traceparent(header.encode()) == expected


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"ff-{TRACE}-{PARENT}-01",  # version ff is invalid
        f"00-{'0' * 32}-{PARENT}-01",  # an all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # an all-zero parent id
        f"00-{TRACE.upper()}-{PARENT}-01",  # uppercase hex
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 is exactly 55 characters
        f"cc-{TRACE}-{PARENT}-01extra",  # a later version goes on only after "-"
        f"00-{TRACE[:-1]}-{PARENT}-01",
        f"00_{TRACE}_{PARENT}_01",
        f"00-{TRACE}-{PARENT}-0x",
    ],
)
def test_a_malformed_traceparent_is_ignored(header: str) -> None:
    assert parse_traceparent(header.encode()) is None


def test_non_ascii_is_ignored() -> None:
    assert parse_traceparent("00-é".encode()) is None


def scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
    return {"headers": list(headers)}


def test_the_callers_trace_gets_a_new_span_id_for_this_server() -> None:
    request = scope((b"traceparent", f"00-{TRACE}-{PARENT}-01".encode()), (b"tracestate", b"a=1"))
    token = bind_trace_context(request, new_traces=False)
    assert token is not None
    state = request["state"]
    assert isinstance(state, dict)
    assert "trace_id" not in state  # read after the response, not on the request's path
    resolve_trace(state)
    resolve_trace(state)  # once: the second pass finds nothing left to read
    assert state["trace_id"] == TRACE
    assert state["span_id"] != PARENT
    assert len(state["span_id"]) == 16
    assert state["trace_parent"] == (PARENT, True, "a=1")


def test_two_traceparents_are_ignored_and_no_trace_is_made_without_spans() -> None:
    header = (b"traceparent", f"00-{TRACE}-{PARENT}-01".encode())
    request = scope(header, header)
    assert bind_trace_context(request, new_traces=False) is None
    resolve_trace(request["state"])  # type: ignore[arg-type]
    assert "trace_id" not in request["state"]  # type: ignore[operator]
    started = scope(header, header)
    assert bind_trace_context(started, new_traces=True) is not None
    state = started["state"]
    assert isinstance(state, dict)
    assert state["trace_id"] != TRACE
    assert "trace_parent" not in state


@pytest.mark.parametrize("new_traces", [False, True])
def test_a_malformed_header_is_no_trace_without_spans_and_a_new_one_with(
    new_traces: bool,
) -> None:
    request = scope((b"traceparent", f"00-{TRACE.upper()}-{PARENT}-01".encode()))
    assert bind_trace_context(request, new_traces=new_traces) is not None
    state = request["state"]
    assert isinstance(state, dict)
    resolve_trace(state)
    assert ("trace_id" in state) is new_traces
    assert "trace_parent" not in state
    if new_traces:
        assert state["trace_id"] != TRACE.lower()
        assert len(state["trace_id"]) == 32
