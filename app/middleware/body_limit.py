"""Refuse bodies over MAX_BODY_BYTES before reading them into memory.

A declared Content-Length over the limit is answered 413 at once, without reading the
body; a chunked body is counted as it streams and cut off at the limit, so neither can
make the process buffer more than MAX_BODY_BYTES. The edge (app/middleware/edge.py)
applies both to every request.
"""

from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope


def too_large_message(max_bytes: int) -> str:
    return f"request body exceeds the limit of {max_bytes} bytes"


def declared_too_large(scope: Scope, max_bytes: int) -> bool:
    """A Content-Length over the limit: answer 413 and close, the body left unread."""
    declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    return declared is not None and declared.isdigit() and int(declared) > max_bytes


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
