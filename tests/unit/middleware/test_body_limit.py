"""What the edge takes for a body's declared length (app/middleware/body_limit.py): only a
declared length skips counting the body as it streams, so anything doubtful is undeclared.
The 413s themselves are held against the real service (tests/api/routes/test_predict.py)."""

import pytest

from app.middleware.body_limit import declared_length


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"content-length", b"42")], 42),
        ([(b"host", b"x"), (b"content-length", b"0")], 0),
        ([(b"content-length", b"7"), (b"content-length", b"9000")], None),
        ([], None),  # no body, or a chunked one
        ([(b"transfer-encoding", b"chunked")], None),
        ([(b"content-length", b"42"), (b"transfer-encoding", b"chunked")], None),
        ([(b"transfer-encoding", b"chunked"), (b"content-length", b"42")], None),
        ([(b"content-length", b"-1")], None),
        ([(b"content-length", b"4 2")], None),
        ([(b"content-length", b"")], None),
    ],
)
def test_declared_length(headers: list[tuple[bytes, bytes]], expected: int | None) -> None:
    assert declared_length({"headers": headers}) == expected
