"""Turn any unhandled exception into the JSON 500 envelope, inside the request-id scope.

Starlette's own ServerErrorMiddleware sits outside every user middleware, so its
500 would carry no X-Request-ID and no request_id in the log; this one does.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import send_error
from app.core.logging import get_logger

logger = get_logger("glassbox.errors")


class ServerErrorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        response_started = False

        async def track(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, track)
        except Exception:
            logger.exception("unhandled_exception", path=scope["path"][:256])
            if response_started:
                # Headers are gone; the server will close the connection.
                raise
            await send_error(scope, send, 500, "internal_error", "internal server error")
