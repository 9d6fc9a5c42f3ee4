"""Give every request an id, bind it to the logs, and return it to the client.

The edge (app/middleware/edge.py) calls these around every request, so the contextvars
binding is visible in the route, in exception handlers and in the access log.

Why not asgi-correlation-id, which does the core of this (read or generate, validate,
echo the header, a contextvar): it would sit beside, not instead of, this module. Its
contextvar is its own, so structlog's binding, `scope["state"]` (the access line, the
exemplars) and `Connection: close` while draining still need code here; and on a
rejected header it logs the newly generated id, where the tests hold that we log only the
received length and header count. It would also be one more ASGI layer per request, and
each layer measured 1-3 % of /predict in this project's profiles (docs/performance.md).
"""

import re
from collections.abc import Iterable
from contextvars import ContextVar, Token
from typing import Any

import structlog
from starlette.types import Scope

from app.core.lifecycle import DrainState
from app.core.logging import get_logger
from app.observability.access import new_request_id

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
_CONNECTION_KEY = b"connection"
# Anything outside this set could forge log fields or break header parsing.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

logger = get_logger("glassbox.request_id")


def structlog_variable(key: str) -> ContextVar[Any]:
    """The context variable structlog keeps `key` in, from the token binding it returns
    (Token.var), so each request sets and resets that one variable directly:
    bind_contextvars/reset_contextvars look it up by a formatted name on every call
    (~1.5 % of /predict, py-spy). merge_contextvars reads it as before."""
    token = structlog.contextvars.bind_contextvars(**{key: None})[key]
    token.var.reset(token)
    return token.var


_REQUEST_ID = structlog_variable("request_id")


def bind_request_id(scope: Scope) -> tuple[str, Token[Any]]:
    """The client's X-Request-ID when it is safe, else a new one: kept in `scope["state"]`
    and bound to every log line of this request. Reset the returned tokens when it ends."""
    incoming = [value for key, value in scope["headers"] if key == _HEADER_KEY]
    request_id = _accepted(incoming[0]) if incoming else None
    if request_id is None:
        request_id = new_request_id()
    scope.setdefault("state", {})["request_id"] = request_id

    # uvicorn runs each request in a task with its own copy of the context, so binding
    # here and resetting on the way out cannot leak an id into another request.
    token = _REQUEST_ID.set(request_id)
    if incoming and request_id != incoming[0].decode("latin-1"):
        # Say why, never what: the raw value may be an injection attempt.
        logger.warning(
            "request_id_rejected",
            reason="invalid format",
            received_length=len(incoming[0]),
            header_count=len(incoming),
        )
    return request_id, token


def unbind_request_id(token: Token[Any]) -> None:
    _REQUEST_ID.reset(token)


def response_headers(
    headers: Iterable[tuple[bytes, bytes]], request_id: str
) -> list[tuple[bytes, bytes]]:
    """The response's headers with our X-Request-ID (replacing one the app may have set) and,
    while draining, `Connection: close` (uvicorn then closes the connection after it)."""
    draining = DrainState.draining
    replaced = (_HEADER_KEY, _CONNECTION_KEY) if draining else (_HEADER_KEY,)
    kept = [(key, value) for key, value in headers if key.lower() not in replaced]
    kept.append((_HEADER_KEY, request_id.encode("latin-1")))
    if draining:
        kept.append((_CONNECTION_KEY, b"close"))
    return kept


def _accepted(raw: bytes) -> str | None:
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    return value if VALID_REQUEST_ID.fullmatch(value) else None
