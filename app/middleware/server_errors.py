"""Turn any unhandled exception into the JSON 500 envelope, inside the request-id scope.

Starlette's own ServerErrorMiddleware sits outside every user middleware, so its
500 would carry no X-Request-ID and no request_id in the log; this one does.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import error_body, request_id_of
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
            state = scope.setdefault("state", {})
            state["error_code"] = "internal_error"
            body = error_body("internal_error", "internal server error", request_id_of(state))
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
