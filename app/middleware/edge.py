"""Everything Glassbox does around every request, in one ASGI layer.

From the outside in, as four middlewares did it before: the request id (bound to the logs,
returned in X-Request-ID) with the W3C trace context (trace and span ids), the access line
and metrics sample (written once, whatever answered), the JSON 500 for anything unhandled,
and the body limit (413). Each concern's
logic lives in its own module beside this one; this layer only orders them.

One layer, not four: each ASGI middleware costs a coroutine frame per request and a
wrapped `send` per message, and py-spy put the four of them, with their wrappers, at
~15 % of the worker's time under /predict (docs/performance.md). Here one `send` wrapper
does what four did.
"""

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import send_error
from app.middleware.body_limit import declared_length, limited, too_large_message
from app.middleware.request_id import bind_request_id, response_headers, unbind_request_id
from app.middleware.server_errors import log_unhandled, send_internal_error
from app.middleware.telemetry import route_template
from app.middleware.trace_context import bind_trace_context, unbind_trace_context
from app.observability.access import account
from app.observability.tracing import NEVER_TRACED


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, new_traces: bool = False) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.new_traces = new_traces  # spans on: a request without a trace starts one

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        request_id, token = bind_request_id(scope)
        traced = bind_trace_context(scope, self.new_traces and scope["path"] not in NEVER_TRACED)
        if traced is not None and self.new_traces:  # with spans: when it began, for them
            scope["state"]["trace_began"] = (time.time_ns(), started)
        status = 500  # what the access line says if the response never starts
        response_started = False

        async def send_at_edge(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = response_headers(message.get("headers", ()), request_id)
            await send(message)

        try:
            declared = declared_length(scope)
            if declared is not None and declared > self.max_body_bytes:
                # The body stays unread, so the connection cannot be reused: close it.
                message = too_large_message(self.max_body_bytes)
                await send_error(scope, send_at_edge, 413, "payload_too_large", message, close=True)
                return
            try:
                # A declared length is already within the limit; a streamed body is counted.
                bounded = receive if declared is not None else limited(receive, self.max_body_bytes)
                await self.app(scope, bounded, send_at_edge)
            except Exception:
                log_unhandled(scope)
                if response_started:
                    raise
                await send_internal_error(scope, send_at_edge)
        finally:
            account(scope, route_template(scope), status, time.perf_counter() - started)
            unbind_trace_context(traced)
            unbind_request_id(token)
