"""Turn any unhandled exception into the JSON 500 envelope, inside the request-id scope.

Starlette's own ServerErrorMiddleware would answer outside the request id and the access
line (a plain-text 500 with no X-Request-ID); the edge (app/middleware/edge.py) answers
with these instead, with the request id bound and the access line still to be written.
"""

from starlette.types import Scope, Send

from app.core.errors import send_error
from app.core.logging import get_logger

logger = get_logger("glassbox.errors")


def log_unhandled(scope: Scope) -> None:
    """Call from an `except` block: the traceback, as one JSON line with the request id."""
    logger.exception("unhandled_exception", path=scope["path"][:256])


async def send_internal_error(scope: Scope, send: Send) -> None:
    """The 500 envelope; only while the response has not started (else the headers are
    gone: re-raise, and the server closes the connection)."""
    await send_error(scope, send, 500, "internal_error", "internal server error")
