"""Promote a trained version to `latest`, or roll back to the one promoted before it.

    python -m promotion promote VERSION [--force] [--artifacts artifacts]
    python -m promotion gate VERSION
    python -m promotion rollback [--artifacts artifacts]
    python -m promotion history [--artifacts artifacts]

A version is promoted only after the checks the service itself makes at load (signature
when MODEL_PUBLIC_KEY is set, checksums, the scikit-learn version) and only if its
quality gate passed; then `latest` is repointed atomically (one rename). Every promotion
and rollback is appended to `artifacts/promotions.jsonl`: who, when, what, from what.
With PROMETHEUS_URL set, a promotion also needs the candidate's record in the shadow
(promotion/gate.py: agreement with the served model, live quality from ground truth); a
candidate below the gate is refused with the reasons unless `--force` (`make promote
FORCE=1`), and a forced promotion is written so in the history. Without PROMETHEUS_URL the
gate is not asked, and the log line says so. `gate VERSION` prints the verdict alone, for a
pipeline that promotes by other means (an MLflow alias). A running service picks the new
`latest` up on SIGHUP, without a restart (app/ml/serving/registry.py; `make reload` sends
it to the service `make run` started). The pointer and its history: promotion/history.py.

Only a real version directory can be promoted: never `latest` itself, a symlink, or a path
that leaves the artifacts directory (`make promote VERSION=latest` once left `latest`
pointing at itself and wrote that loop into the history). Rollback passes over history
entries that no longer check out, saying which and why.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from app.core.logging import configure_logging, get_logger
from app.ml.artifact import LATEST, METADATA_FILE, ModelLoadError, is_safe_version, load_artifact
from app.ml.contract import Contract
from promotion.gate import GateUnavailableError, ShadowGate, Verdict
from promotion.history import current_version, history, promoted_stack, repoint
from promotion.serving import next_step

EXIT_REFUSED = 1
EVENTS = {"promote": "model_promoted", "rollback": "model_rolled_back"}

logger = get_logger("glassbox.promotion")


class PromotionError(Exception):
    """A refusal, with the evidence behind it (logged beside the message)."""

    def __init__(self, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.evidence = evidence


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


def shadow_verdict(metadata: dict[str, Any], gate: ShadowGate) -> Verdict:
    try:
        return gate.judge(str(metadata["model_version"]), str(metadata.get("task", "")))
    except GateUnavailableError as exc:
        return Verdict(False, [f"the shadow record could not be read: {exc}"])


def promote(
    artifacts: Path,
    version: str,
    public_key: str = "",
    gate: ShadowGate | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """The load checks and the quality gate; then, with a gate, the shadow record."""
    metadata = check(artifacts, version, public_key)
    if gate is None:
        logger.warning(
            "promotion_gate_not_asked",
            version=version,
            message="PROMETHEUS_URL is not set: the candidate's shadow record was not checked",
        )
        return repoint(artifacts, version)
    verdict = shadow_verdict(metadata, gate)
    if verdict.passed:
        return repoint(artifacts, version, shadow=verdict.evidence)
    if not force:
        raise PromotionError(
            f"{version} refused by the shadow gate: {'; '.join(verdict.reasons)}"
            f"{_estimated(verdict.evidence)} (FORCE=1 promotes it anyway)",
            **verdict.evidence,
        )
    logger.warning(
        "promotion_gate_overridden", version=version, reasons=verdict.reasons, **verdict.evidence
    )
    return repoint(
        artifacts, version, forced=True, gate_reasons=verdict.reasons, shadow=verdict.evidence
    )


def _estimated(evidence: dict[str, Any]) -> str:
    """The shadow's estimated accuracy (or MAE) beside the served model's, when both were
    counted."""
    for metric, shown in (("accuracy", "{:.1%}"), ("mae", "{:.4g}")):
        mine = evidence.get(f"shadow_estimated_{metric}")
        theirs = evidence.get(f"served_estimated_{metric}")
        if mine is not None and theirs is not None:
            name = "accuracy" if metric == "accuracy" else "MAE"
            return (
                f"; before any label its {name} was estimated at {shown.format(mine)} "
                f"(served: {shown.format(theirs)})"
            )
    return ""


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
    parser.add_argument("command", choices=["promote", "rollback", "history", "gate"])
    parser.add_argument("version", nargs="?")
    parser.add_argument(
        "--force", action="store_true", help="promote even if the shadow gate refuses"
    )
    parser.add_argument("--artifacts", type=Path, default=Path("artifacts"))
    args = parser.parse_args(argv)
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), os.environ.get("LOG_FORMAT", "json"))
    public_key = os.environ.get("MODEL_PUBLIC_KEY", "")
    try:
        if args.command in ("promote", "gate") and not args.version:
            parser.error(f"{args.command} needs a VERSION")
        gate = ShadowGate.from_env()
        if args.command == "gate":
            return _print_verdict(args.artifacts, args.version, public_key, gate)
        if args.command == "promote":
            entry = promote(args.artifacts, args.version, public_key, gate, args.force)
        elif args.command == "rollback":
            entry = rollback(args.artifacts, public_key)
        else:
            for line in history(args.artifacts):
                print(json.dumps(line))
            return 0
    except (PromotionError, GateUnavailableError) as exc:
        evidence = exc.evidence if isinstance(exc, PromotionError) else {}
        logger.error(f"{args.command}_refused", message=str(exc), **evidence)
        return EXIT_REFUSED
    latest = json.loads((args.artifacts / LATEST / METADATA_FILE).read_text())
    step = next_step(Contract.from_metadata(latest))  # what the running service makes of it
    logger.info(
        EVENTS[args.command],
        message=step.message,
        reload_serves_it=step.reload_serves_it,
        **entry,
    )
    return 0


def _print_verdict(artifacts: Path, version: str, public_key: str, gate: ShadowGate | None) -> int:
    if gate is None:
        raise PromotionError("gate needs PROMETHEUS_URL (the Prometheus scraping the shadow)")
    verdict = shadow_verdict(check(artifacts, version, public_key), gate)
    print(json.dumps({"version": version, "passed": verdict.passed, "reasons": verdict.reasons,
                      **verdict.evidence}))  # fmt: skip
    return 0 if verdict.passed else EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
