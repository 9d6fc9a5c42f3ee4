"""uvicorn's httptools protocol with the limits httptools itself does not have.

Measured before this existed (issue 9): a 100 MB request header was accepted, ten 50 MB
headers took a pod past its memory limit, idle and one-byte-per-second connections were
held forever, and requests the parser refused got a plain-text 400 with no request id, no
access line and no metric. Here:

- MAX_HEADER_BYTES bounds the request head while it streams in (an incomplete head is
  counted chunk by chunk, so memory stays bounded) and once parsed -> 431;
- HEADER_TIMEOUT_SECONDS bounds how long a connection may take to send a whole head,
  counted from the connection's start or from the first read that left a head incomplete
  -> 408 (or a silent close if it never sent a byte);
- MAX_CONNECTIONS per worker -> a fast 503 with Retry-After instead of running out of
  file descriptors;
- requests the parser rejects -> 400 `malformed_request`.

Every refusal carries the JSON error envelope and a fresh X-Request-ID, closes the
connection, and is accounted like any request: one access line, one metrics sample.
uvicorn loads this class by its `http` setting (app/__main__.py), in every worker.
"""

import asyncio
import socket
from functools import lru_cache
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.core.config import get_settings
from app.core.errors import error_body
from app.observability.access import account_refused, new_request_id


class _HeadTooLargeError(Exception):
    pass


@lru_cache
def _limits() -> tuple[int, float, int]:
    settings = get_settings()
    return settings.MAX_HEADER_BYTES, settings.HEADER_TIMEOUT_SECONDS, settings.MAX_CONNECTIONS


def _no_delay(transport: asyncio.Transport) -> None:
    """TCP_NODELAY on every connection. asyncio sets it only on sockets created with
    proto=IPPROTO_TCP, and the listening sockets uvicorn binds for workers (and we bind
    for METRICS_PORT) have proto 0: uvicorn's two writes per response (head, then body)
    then met the client's delayed ACK, 40 ms per request on a keep-alive connection."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url = b""  # uvicorn sets these per message; a refusal may come before one
        self.headers: list[tuple[bytes, bytes]] = []
        self._max_head, self._head_timeout, self._max_connections = _limits()
        self._in_head = True
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._refused = False
        self._head_too_large = False
        self._over_capacity = False

    # -- connection lifecycle ------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        # Answered when the request arrives, not now: closing before the client has sent
        # it would make the client's send meet a reset instead of our 503.
        self._over_capacity = len(self.connections) > self._max_connections
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._over_capacity:
            self._refuse(
                503,
                "too_many_connections",
                f"this worker holds its limit of {self._max_connections} connections; retry",
                retry_after=1,
            )
            return
        super().data_received(data)
        if self._in_head and not self._refused:  # the head is still incomplete
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head:
                self._refuse_head_too_large()
            else:
                # Only now: a head that arrives whole (the usual case) never costs a timer.
                self._start_head_timer()

    # -- parser callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        parsed = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if parsed > self._max_head:  # a whole head that arrived in one read
            self._head_too_large = True
            raise _HeadTooLargeError  # httptools stops parsing; uvicorn calls send_400_response
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:  # noqa: ARG002 (uvicorn's text is replaced)
        """uvicorn's answer to anything httptools refuses (and to our _HeadTooLargeError)."""
        if self._head_too_large:
            self._refuse_head_too_large()
            return
        self._refuse(400, "malformed_request", "the request is not valid HTTP/1.1")

    # -- refusals ------------------------------------------------------------------------

    def _refuse_head_too_large(self) -> None:
        self._refuse(
            431,
            "request_header_fields_too_large",
            f"the request line and headers exceed {self._max_head} bytes",
        )

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._refused or not self._in_head or self.transport.is_closing():
            return
        if self._head_bytes == 0 and not self.url and not self.headers:
            self.transport.close()  # never sent a byte of this request: nothing to answer
            return
        self._refuse(
            408,
            "request_timeout",
            f"the request head did not arrive within {self._head_timeout:g} s",
        )

    def _refuse(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        self._refused = True
        self._stop_head_timer()
        request_id = new_request_id()
        body = error_body(code, message, request_id)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-request-id", request_id.encode()),
        ]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        if not self.transport.is_closing():
            self.transport.write(STATUS_LINE[status] + head + b"\r\n" + body)
            self.transport.close()
        account_refused(self._method(), self._path(), self.client, status, code, request_id)

    def _method(self) -> str:
        try:
            return str(self.parser.get_method().decode("ascii"))
        except Exception:  # no request line parsed yet
            return "UNKNOWN"

    def _path(self) -> str:
        return self.url[:256].decode("latin-1") if self.url else ""

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self._head_timeout, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
