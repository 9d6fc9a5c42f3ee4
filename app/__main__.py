"""`python -m app`: validate settings, prepare multiprocess metrics, run uvicorn.

This is the one entrypoint (make run, the container, the chart), so every way
of starting the service gets the same logging, workers and metrics setup.
"""

import atexit
import contextlib
import json
import logging
import os
import resource
import signal
import socket
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from app.core.lifecycle import alive, api_file, pid_in, serving_file

if TYPE_CHECKING:
    from app.core.config import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # duplicated: prometheus_client must not load yet
# In-flight requests get this long after the drain; the chart's grace period adds both.
GRACEFUL_SHUTDOWN_SECONDS = 20
# asyncio, not uvloop: under 64 keep-alive connections uvloop left some connections waiting
# 1-2 s (p99 0.4-1.3 s in 4 of 6 runs, 0 of 6 with asyncio, which was as fast). Measured
# again with uvloop 0.23 (2026-12-06): the same CPU per request, p99 82-130 ms in 3 of 4
# fresh 64-connection runs against 26-52 ms for the bare endpoint. `make bench` runs its
# raw-ASGI floor with these two settings too.
EVENT_LOOP = "asyncio"
HTTP_PROTOCOL = "app.server.protocol:GuardedHttpToolsProtocol"


def _fail(event: str, **fields: object) -> None:
    line = {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "level": "critical",
        "logger": "glassbox.startup",
        "event": event,
        **fields,
    }
    print(json.dumps(line), flush=True)
    sys.exit(2)


def _prepare_multiprocess_dir(workers: int) -> None:
    """Workers share metrics through files; start each run from an empty directory."""
    if workers <= 1 and not os.environ.get(MULTIPROC_ENV):
        return
    path = Path(os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="glassbox-metrics-"))
    path.mkdir(parents=True, exist_ok=True)
    # A previous run's counters and exemplars (app/observability/exemplars.py) would
    # otherwise resurface.
    for stale in [*path.glob("*.db"), *path.glob("exemplars_*.json")]:
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)


def _raise_open_files_limit() -> None:
    """Soft limit up to the hard one: each connection is a file descriptor (the usual
    soft 1,024 made /predict fail with resets at 1,100 idle connections)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _serving_pid(name: str) -> int | None:
    """The pid in the pid file when that process is alive (another `make run` of this
    checkout), else None (no file, or one a stopped service left behind)."""
    pid = pid_in(Path(name)) if name else None
    if pid is None or pid == os.getpid():
        return None
    return pid if alive(pid) else None


def _write_pid_file(settings: "Settings") -> None:
    """This process's pid, for `make reload` to signal this checkout's service and no other
    (never a search by name), and beside it the ports it listens on (`make monitor-up`
    scrapes those); written once its sockets are bound (a run that cannot serve leaves the
    files alone) and removed at exit only while the pid file still names this process. The
    supervisor's pid with several workers: it forwards SIGHUP to each of them."""
    if not settings.PID_FILE:
        return
    path, pid = Path(settings.PID_FILE), os.getpid()
    ports, api = serving_file(settings.PID_FILE), api_file(settings.PID_FILE)
    assert ports is not None  # a pid file always has both beside it
    assert api is not None
    path.parent.mkdir(parents=True, exist_ok=True)
    ports.write_text(
        json.dumps(
            {
                "pid": pid,
                "host": settings.HOST,
                "port": settings.PORT,
                "metrics_port": settings.METRICS_PORT or settings.PORT,
                "feedback_port": settings.FEEDBACK_PORT or settings.PORT,
            }
        )
    )
    path.write_text(f"{pid}\n")

    def remove() -> None:
        # Forked workers inherit atexit handlers; only the writer removes the files, and
        # only while the pid file is still the writer's.
        if os.getpid() == pid and pid_in(path) == pid:
            for written in (api, ports, path):  # the API's: written by the app (app/main.py)
                with contextlib.suppress(FileNotFoundError):
                    written.unlink()

    atexit.register(remove)


class _NotYetRunning(logging.Filter):
    """Drop uvicorn's "Uvicorn running on ..." from bind_socket(): it is logged before the
    app is imported and the model loaded, while connections are still refused (~1-4 s)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Uvicorn running on")


def main() -> None:
    from app.core.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        _fail(
            "invalid_settings",
            message="fix these environment variables and restart",
            errors=[
                {"setting": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in exc.errors()
            ],
        )
        return
    serving = _serving_pid(settings.PID_FILE)  # before anything it uses is touched
    if serving is not None:
        _fail(
            "already_serving",
            message=f"pid {serving} ({settings.PID_FILE}) already serves from this checkout; "
            f"stop it first (kill {serving}), or `make reload` to make it serve a new model",
            pid=serving,
            pid_file=settings.PID_FILE,
        )
    _prepare_multiprocess_dir(settings.WEB_CONCURRENCY)
    _raise_open_files_limit()
    _serve(settings)


def _serve(settings: "Settings") -> None:
    """uvicorn.run, but listening on PORT and, when set, METRICS_PORT and FEEDBACK_PORT too
    (uvicorn binds one socket itself; every worker accepts on all the sockets it is handed)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from app.core.logging import build_log_config

    config = uvicorn.Config(
        "app.main:app",
        host=settings.HOST,
        port=settings.PORT,
        workers=settings.WEB_CONCURRENCY,
        log_config=build_log_config(settings.LOG_LEVEL, settings.LOG_FORMAT),
        loop=EVENT_LOOP,
        http=HTTP_PROTOCOL,
        access_log=False,
        server_header=False,
        # Forwarded headers only from the proxies named in FORWARDED_ALLOW_IPS (default none):
        # trusted from anyone, X-Forwarded-For lets a client write any address in the logs.
        proxy_headers=bool(settings.FORWARDED_ALLOW_IPS),
        forwarded_allow_ips=settings.FORWARDED_ALLOW_IPS or None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    startup_logger = logging.getLogger("uvicorn.error")
    premature = _NotYetRunning()
    startup_logger.addFilter(premature)
    sockets = []
    for port in (settings.PORT, settings.METRICS_PORT, settings.FEEDBACK_PORT):
        if port:
            try:  # uvicorn logs the OSError and exits
                sockets.append(uvicorn.Config(config.app, settings.HOST, port).bind_socket())
            except SystemExit:
                _fail(
                    "port_in_use",
                    message=f"{settings.HOST}:{port} is taken by another process: stop it, "
                    "or serve on another port (PORT=8001 make run)",
                    port=port,
                )
    startup_logger.removeFilter(premature)
    _write_pid_file(settings)  # only now: this process serves
    url = f"http://{settings.HOST}:{settings.PORT}"

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            """Say where the service is once its sockets accept, not before."""
            await super().startup(sockets)
            if self.started:
                startup_logger.info(
                    f"Glassbox accepting on {url}; /readyz says whether the model serves"
                )

    server = AnnouncingServer(config)
    if settings.WEB_CONCURRENCY > 1:
        startup_logger.info(
            f"Glassbox starting {settings.WEB_CONCURRENCY} workers on {url}; "
            "each accepts once its model is loaded (/readyz)"
        )

        class ReloadingMultiprocess(Multiprocess):
            def handle_hup(self) -> None:
                """uvicorn restarts every worker on SIGHUP; forward it instead, so each
                worker swaps its model in place (app/ml/serving/registry.py) and none stops
                serving."""
                for process in self.processes:
                    if process.pid is not None:
                        os.kill(process.pid, signal.SIGHUP)

        ReloadingMultiprocess(config, sockets=sockets).run()
    else:
        server.run(sockets=sockets)
        if not server.started:
            sys.exit(3)  # uvicorn's STARTUP_FAILURE: the app's startup failed


if __name__ == "__main__":
    main()
