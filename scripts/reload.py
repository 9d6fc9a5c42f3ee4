"""`make reload`: make the service `make run` started serve artifacts/latest, and say truly
whether it does.

    python -m scripts.reload [PID_FILE] [--timeout SECONDS]

Sends SIGHUP to the pid in the pid file (never a search by name), then waits for the
service's own report of that reload beside it (app/core/lifecycle.py): exit 0 with the
version now serving, 1 with the reason the new model was refused (the old one keeps
serving), or 1 when no report came in time.
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from app.core.lifecycle import DEFAULT_PID_FILE, pid_in, reload_outcome_file


def _report(path: Path, after: float) -> dict[str, Any] | None:
    try:
        outcome: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return outcome if outcome.get("at", 0) >= after else None


def reload(pid_file: Path, timeout: float) -> int:
    pid = pid_in(pid_file)
    if pid is None:
        print(f"no {pid_file}: is `make run` serving from this checkout?")
        return 1
    outcome_file = reload_outcome_file(str(pid_file))
    assert outcome_file is not None  # a pid file always has one beside it
    sent = time.time()
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        print(f"pid {pid} from {pid_file} is gone: start it again with `make run`")
        return 1
    deadline = time.monotonic() + timeout
    while (outcome := _report(outcome_file, sent)) is None:
        if time.monotonic() > deadline:
            print(f"sent SIGHUP to {pid}; no outcome within {timeout:g} s (its log says why)")
            return 1
        time.sleep(0.1)
    if outcome["outcome"] == "reloaded":
        print(f"pid {pid} now serves {outcome['serving']} (before: {outcome.get('previous')})")
        return 0
    print(
        f"pid {pid} refused the new model ({outcome['reason']}): {outcome['message']}; "
        f"it keeps serving {outcome.get('serving')}"
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pid_file", nargs="?", type=Path, default=Path(DEFAULT_PID_FILE))
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    return reload(args.pid_file, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
