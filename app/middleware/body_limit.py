"""Refuse bodies over MAX_BODY_BYTES before reading them into memory.

A declared Content-Length over the limit is answered 413 at once, without
reading the body; a chunked body is counted as it streams and cut off at the
limit, so neither can make the process buffer more than MAX_BODY_BYTES.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import send_error


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large_message(self) -> str:
        return f"request body exceeds the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            # The body stays unread, so the connection cannot be reused: close it.
            await send_error(
                scope, send, 413, "payload_too_large", self._too_large_message(), close=True
            )
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises HTTPException from body reading; our handler renders it.
                    raise HTTPException(413, self._too_large_message())
            return message

        await self.app(scope, counting_receive, send)
