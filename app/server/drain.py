"""Graceful drain on SIGTERM: stop being ready at once, keep serving, then exit 0.

Kubernetes sends SIGTERM and removes the pod from the Service's endpoints at about the same
time, so for a while requests still arrive. uvicorn's own handling stops listening and
closes idle keep-alive connections at once (measured: all 32 of 32 client connections
reset, exit code 143). Here, for DRAIN_SECONDS after SIGTERM: /readyz answers 503, every
response carries `Connection: close` (so clients reconnect, by then to another pod), and
the socket keeps accepting; then uvicorn's graceful shutdown runs and the worker exits 0.
Each worker drains itself: with WEB_CONCURRENCY > 1, uvicorn's supervisor forwards SIGTERM.
With DRAIN_ENDS_WHEN_IDLE (`make run`), the drain also ends once no connection is open: on a
laptop nothing routes new requests to it, so an idle stop waited 10 s for nothing.
"""

import asyncio
import signal
import threading
from types import FrameType
from typing import Any

from app.core.lifecycle import DrainState
from app.core.logging import get_logger

logger = get_logger("glassbox.drain")


IDLE_CHECK_SECONDS = 0.05


def install(drain_seconds: float, *, ends_when_idle: bool = False) -> None:
    """Take over SIGTERM from uvicorn (call from the app's startup, in the serving loop)."""
    loop = asyncio.get_running_loop()
    uvicorn_handler: Any = signal.getsignal(signal.SIGTERM)
    server = getattr(uvicorn_handler, "__self__", None)  # uvicorn.Server.handle_exit

    finished = False

    def finish(ended: str = "drain_seconds") -> None:
        nonlocal finished
        if finished:
            return
        finished = True
        logger.info("drain_finished", drain_seconds=drain_seconds, ended=ended)
        if server is not None and hasattr(server, "should_exit"):
            # should_exit, not handle_exit: uvicorn re-raises a captured SIGTERM on the way
            # out, which would end the process with 143 instead of 0.
            server.should_exit = True
        elif callable(uvicorn_handler):
            uvicorn_handler(signal.SIGTERM, None)

    def open_connections() -> int | None:
        state = getattr(server, "server_state", None)
        return len(state.connections) if state is not None else None

    def finish_when_idle() -> None:
        if finished:
            return
        if open_connections() == 0:
            finish("idle")
        else:
            loop.call_later(IDLE_CHECK_SECONDS, finish_when_idle)

    def start() -> None:
        logger.info("drain_started", drain_seconds=drain_seconds, ends_when_idle=ends_when_idle)
        loop.call_later(drain_seconds, finish)
        if ends_when_idle:
            finish_when_idle()

    def on_sigterm(_signum: int, _frame: FrameType | None) -> None:
        # Nothing here that takes a lock (the log writer's): the signal may have
        # interrupted the very line that holds it. The loop does the rest.
        if not DrainState.draining:
            DrainState.draining = True
            loop.call_soon_threadsafe(start)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_sigterm)
