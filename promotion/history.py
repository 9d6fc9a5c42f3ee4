"""`artifacts/latest` and its history: the one pointer to what serves, and every move of it.

`repoint` points `latest` at a version atomically (one rename) and appends the move to
`artifacts/promotions.jsonl` -- who, when, what, from what: what a promotion, a rollback
and `train.py --promote` each do once their checks have passed. `promoted_stack` reads the
history back as the versions promotions left serving, for a rollback.
"""

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.ml.artifact import LATEST, point_latest

HISTORY_FILE = "promotions.jsonl"


def current_version(artifacts: Path) -> str | None:
    latest = artifacts / LATEST
    return os.readlink(latest) if latest.is_symlink() else None


def history(artifacts: Path) -> list[dict[str, Any]]:
    path = artifacts / HISTORY_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _who() -> str:
    # CI first (the workflow's actor), then the local account.
    return os.environ.get("GITHUB_ACTOR") or getpass.getuser()


def record(
    artifacts: Path, action: str, version: str, previous: str | None, **extra: Any
) -> dict[str, Any]:
    entry = {
        "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "who": _who(),
        "action": action,
        "version": version,
        "previous": previous,
        **extra,
    }
    with (artifacts / HISTORY_FILE).open("a") as out:  # one line per write: appends stay whole
        out.write(json.dumps(entry) + "\n")
    return entry


def repoint(artifacts: Path, version: str, action: str = "promote", **extra: Any) -> dict[str, Any]:
    """Point `latest` at `version` and append that to the history: what a promotion, a
    rollback and `train.py --promote` each do once their checks have passed."""
    previous = current_version(artifacts)
    point_latest(artifacts, version)
    return record(artifacts, action, version, previous, **extra)


def promoted_stack(entries: list[dict[str, Any]]) -> list[str]:
    """Versions in the order they were promoted; a rollback to V undoes everything
    promoted after V (entries it passed over included)."""
    stack: list[str] = []
    for entry in entries:
        if entry["action"] == "promote":
            stack.append(entry["version"])
        elif entry["action"] == "rollback" and stack:
            stack.pop()
            while stack and stack[-1] != entry["version"]:
                stack.pop()
    return stack
