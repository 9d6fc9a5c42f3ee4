"""Refuse bodies over MAX_BODY_BYTES before reading them into memory.

A declared Content-Length over the limit is answered 413 at once, without reading the
body (the connection is closed); a chunked body is counted as it streams and cut off at
the limit, so neither can make the process buffer more than MAX_BODY_BYTES. The edge
(app/middleware/edge.py) applies both to every request.
"""

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope


def too_large_message(max_bytes: int) -> str:
    return f"request body exceeds the limit of {max_bytes} bytes"


def declared_length(scope: Scope) -> int | None:
    """The body's length when the request declares it, else None (chunked, or no body).

    A declared length bounds the body by itself: the HTTP parser hands over exactly that
    many bytes and refuses a Content-Length beside Transfer-Encoding, so only a body
    without one is counted as it streams (`limited`). A Transfer-Encoding header, or a
    second Content-Length, makes the length undeclared here whatever the parser made of it."""
    length = None
    for key, value in scope["headers"]:
        if key == b"content-length":
            if length is not None:
                return None
            length = value
        elif key == b"transfer-encoding":
            return None
    return int(length) if length is not None and length.isdigit() else None


def limited(receive: Receive, max_bytes: int) -> Receive:
    """`receive` that raises a 413 HTTPException once the streamed body outgrows the limit
    (FastAPI re-raises it from body reading; app/core/errors.py renders it)."""
    received = 0

    async def counting_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > max_bytes:
                raise HTTPException(413, too_large_message(max_bytes))
        return message

    return counting_receive
