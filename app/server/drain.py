"""Graceful drain on SIGTERM: stop being ready at once, keep serving, then exit 0.

Kubernetes sends SIGTERM and removes the pod from the Service's endpoints at about the same
time, so for a while requests still arrive. uvicorn's own handling stops listening and
closes idle keep-alive connections at once (measured: all 32 of 32 client connections
reset, exit code 143). Here, for DRAIN_SECONDS after SIGTERM: /readyz answers 503, every
response carries `Connection: close` (so clients reconnect, by then to another pod), and
the socket keeps accepting; then uvicorn's graceful shutdown runs and the worker exits 0.
Each worker drains itself: with WEB_CONCURRENCY > 1, uvicorn's supervisor forwards SIGTERM.
"""

import asyncio
import signal
import threading
from types import FrameType
from typing import Any

from app.core.lifecycle import DrainState
from app.core.logging import get_logger

logger = get_logger("glassbox.drain")


def install(drain_seconds: float) -> None:
    """Take over SIGTERM from uvicorn (call from the app's startup, in the serving loop)."""
    loop = asyncio.get_running_loop()
    uvicorn_handler: Any = signal.getsignal(signal.SIGTERM)
    server = getattr(uvicorn_handler, "__self__", None)  # uvicorn.Server.handle_exit

    def finish() -> None:
        logger.info("drain_finished", drain_seconds=drain_seconds)
        if server is not None and hasattr(server, "should_exit"):
            # should_exit, not handle_exit: uvicorn re-raises a captured SIGTERM on the way
            # out, which would end the process with 143 instead of 0.
            server.should_exit = True
        elif callable(uvicorn_handler):
            uvicorn_handler(signal.SIGTERM, None)

    def start() -> None:
        logger.info("drain_started", drain_seconds=drain_seconds)
        loop.call_later(drain_seconds, finish)

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        # Nothing here that takes a lock (the log writer's): the signal may have
        # interrupted the very line that holds it. The loop does the rest.
        if not DrainState.draining:
            DrainState.draining = True
            loop.call_soon_threadsafe(start)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)
