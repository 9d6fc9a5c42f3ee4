"""Promote a trained version to `latest`, or roll back to the one promoted before it.

    python -m app.ml.promotion promote VERSION [--artifacts artifacts]
    python -m app.ml.promotion rollback [--artifacts artifacts]
    python -m app.ml.promotion history [--artifacts artifacts]

A version is promoted only after the checks the service itself makes at load (signature
when MODEL_PUBLIC_KEY is set, checksums, the scikit-learn version) and only if its
quality gate passed; then `latest` is repointed atomically (one rename). Every promotion
and rollback is appended to `artifacts/promotions.jsonl`: who, when, what, from what.
A running service picks the new `latest` up on SIGHUP, without a restart (app/ml/registry.py;
`make reload` sends it to the service `make run` started).

Only a real version directory can be promoted: never `latest` itself, a symlink, or a path
that leaves the artifacts directory (`make promote VERSION=latest` once left `latest`
pointing at itself and wrote that loop into the history). Rollback passes over history
entries that no longer check out, saying which and why.
"""

import argparse
import getpass
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.logging import configure_logging, get_logger
from app.ml.artifact import LATEST, ModelLoadError, is_safe_version, load_artifact, point_latest

HISTORY_FILE = "promotions.jsonl"
EXIT_REFUSED = 1
EVENTS = {"promote": "model_promoted", "rollback": "model_rolled_back"}

logger = get_logger("glassbox.promotion")


class PromotionError(Exception):
    pass


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


def record(artifacts: Path, action: str, version: str, previous: str | None) -> dict[str, Any]:
    entry = {
        "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "who": _who(),
        "action": action,
        "version": version,
        "previous": previous,
    }
    with (artifacts / HISTORY_FILE).open("a") as out:  # one line per write: appends stay whole
        out.write(json.dumps(entry) + "\n")
    return entry


def version_directory(artifacts: Path, version: str) -> Path:
    """The directory of a promotable version: a real folder directly in `artifacts`."""
    directory = artifacts / version
    if version == LATEST:
        raise PromotionError(f"{LATEST!r} is the pointer, not a version: name the version")
    if not is_safe_version(version):
        raise PromotionError(f"{version!r} is not a version name ([A-Za-z0-9._-], 1-64)")
    if directory.is_symlink():
        raise PromotionError(f"{directory} is a symlink, not a version directory")
    if not directory.is_dir():
        raise PromotionError(f"no artifact {version!r} in {artifacts}")
    return directory


def check(artifacts: Path, version: str, public_key: str = "") -> dict[str, Any]:
    """The service's own load checks, plus the quality gate; the metadata when all pass."""
    directory = version_directory(artifacts, version)
    try:
        metadata = load_artifact(directory, public_key).metadata
    except ModelLoadError as exc:
        raise PromotionError(f"{version}: {exc.reason}: {exc.message}") from exc
    if not metadata.get("quality_gate", {}).get("passed"):
        raise PromotionError(f"{version}: its quality gate did not pass")
    return metadata


def repoint(artifacts: Path, version: str, action: str = "promote") -> dict[str, Any]:
    """Point `latest` at `version` and append that to the history: what a promotion, a
    rollback and `train.py --promote` each do once their checks have passed."""
    previous = current_version(artifacts)
    point_latest(artifacts, version)
    return record(artifacts, action, version, previous)


def promote(artifacts: Path, version: str, public_key: str = "") -> dict[str, Any]:
    check(artifacts, version, public_key)
    return repoint(artifacts, version)


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


def rollback(artifacts: Path, public_key: str = "") -> dict[str, Any]:
    """Back to the newest earlier promotion that still passes every check."""
    stack = promoted_stack(history(artifacts))
    current = current_version(artifacts)
    for target in reversed(stack[:-1]):
        if target == current:
            continue
        try:
            check(artifacts, target, public_key)  # it may have been altered or removed since
        except PromotionError as exc:
            logger.warning("rollback_entry_skipped", version=target, message=str(exc))
            continue
        return repoint(artifacts, target, "rollback")
    raise PromotionError("nothing to roll back to: no earlier promotion passes its checks")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["promote", "rollback", "history"])
    parser.add_argument("version", nargs="?")
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    public_key = os.environ.get("MODEL_PUBLIC_KEY", "")
    try:
        if args.command == "promote":
            if not args.version:
                parser.error("promote needs a VERSION")
            entry = promote(args.artifacts, args.version, public_key)
        elif args.command == "rollback":
            entry = rollback(args.artifacts, public_key)
        else:
            for line in history(args.artifacts):
                print(json.dumps(line))
            return 0
    except PromotionError as exc:
        logger.error(f"{args.command}_refused", message=str(exc))
        return EXIT_REFUSED
    logger.info(
        EVENTS[args.command],
        message="send SIGHUP to running services to serve it without a restart",
        **entry,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
