"""Process-wide lifecycle state the edge and the probes read: below the server, the
middleware and the routes, so none of them imports another to learn it; and where a reload's
outcome is reported to the `make reload` that asked for it."""

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class DrainState:
    """Set once SIGTERM arrives (app/server/drain.py): /readyz answers 503 and the request-id
    middleware adds Connection: close to every response."""

    draining = False


DEFAULT_PID_FILE = ".run/glassbox.pid"  # the Makefile's PID_FILE


def pid_in(path: Path) -> int | None:
    """The pid a pid file names; None without one (no file, not a number)."""
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Whether the process with this pid (one we wrote down, never a search by name) runs;
    another user's counts as running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serving(pid_file: str) -> dict[str, Any] | None:
    """What the `make run` of this pid file wrote of itself (`serving_file`: pid, ports) while
    that process runs; None when none does (no file, one half-written, a pid that is gone)."""
    path = serving_file(pid_file)
    try:
        written: dict[str, Any] = json.loads(path.read_text()) if path else {}
        pid = int(written["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return written if alive(pid) else None


def reload_outcome_file(pid_file: str) -> Path | None:
    """Where a `make run` service reports each SIGHUP reload's outcome, beside its pid file
    (`.run/glassbox.pid` -> `.run/glassbox.reload.json`), for `make reload` to wait on and
    report truthfully; None without a pid file (the chart's pods)."""
    return Path(pid_file).with_suffix(".reload.json") if pid_file else None


def serving_file(pid_file: str) -> Path | None:
    """Where a `make run` service says where it listens, beside its pid file
    (`.run/glassbox.pid` -> `.run/glassbox.serving.json`: its pid and ports), for
    `make monitor-up` to scrape the port it actually serves on; None without a pid file."""
    return Path(pid_file).with_suffix(".serving.json") if pid_file else None


def api_file(pid_file: str) -> Path | None:
    """Where a `make run` service writes the contract its HTTP API was built from, beside
    its pid file (`.run/glassbox.api.json`): `train.py`, `wrap.py` and `make promote` compare
    a new model with it and say whether `make reload` can serve it or it needs a restart."""
    return Path(pid_file).with_suffix(".api.json") if pid_file else None


def write_atomically(path: Path, document: dict[str, Any]) -> None:
    """`document` as JSON at `path`, replaced in one rename (readers never see half)."""
    staged = path.with_name(f".{path.name}.{os.getpid()}")
    staged.write_text(json.dumps(document))
    staged.replace(path)


def report_reload(path: Path) -> Callable[[dict[str, Any]], None]:
    """Write each reload outcome to `path` (replaced atomically, with this pid and a time)."""

    def write(outcome: dict[str, Any]) -> None:
        write_atomically(path, {**outcome, "pid": os.getpid(), "at": time.time()})

    return write
