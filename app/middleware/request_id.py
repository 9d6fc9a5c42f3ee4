"""Give every request an id, bind it to the logs, and return it to the client.

Pure ASGI (not BaseHTTPMiddleware) so the contextvars binding is visible in the
route, in exception handlers and in the access log, and streaming is untouched.

Why not asgi-correlation-id, which does the core of this (read or generate, validate,
echo the header, a contextvar): it would sit beside, not instead of, this middleware. Its
contextvar is its own, so structlog's binding, `scope["state"]` (the access line, the
exemplars) and `Connection: close` while draining still need a layer here; and on a
rejected header it logs the newly generated id, where the tests hold that we log only the
received length and header count. Two ASGI layers per request for the same job measured
about 1 % of /predict each in this project's profiles (docs/performance.md), so we keep one.
"""

import re

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.lifecycle import DrainState
from app.core.logging import get_logger
from app.observability.access import new_request_id

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
# Anything outside this set could forge log fields or break header parsing.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

logger = get_logger("glassbox.request_id")


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        incoming = [value for key, value in scope["headers"] if key == _HEADER_KEY]
        request_id = _accepted(incoming[0]) if incoming else None
        if request_id is None:
            request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        # uvicorn runs each request in a task with its own copy of the context, so binding
        # here and resetting on the way out cannot leak an id into another request.
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        if incoming and request_id != incoming[0].decode("latin-1"):
            # Say why, never what: the raw value may be an injection attempt.
            logger.warning(
                "request_id_rejected",
                reason="invalid format",
                received_length=len(incoming[0]),
                header_count=len(incoming),
            )

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                headers = MutableHeaders(scope=message)
                headers[HEADER] = request_id  # replaces one the app may have set
                if DrainState.draining:  # uvicorn closes the connection after this response
                    headers["connection"] = "close"
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)


def _accepted(raw: bytes) -> str | None:
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return value if VALID_REQUEST_ID.fullmatch(value) else None
