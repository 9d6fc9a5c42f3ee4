"""make promote / make rollback: checked artifacts, an atomic `latest`, a history."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from promotion.history import HISTORY_FILE
from tests.support.service import ROOT, free_port, train


def promotion(artifacts: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "promotion", *args, "--artifacts", str(artifacts)],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "GITHUB_ACTOR": "octocat", **env},
    )  # fmt: skip


def latest(artifacts: Path) -> str:
    return os.readlink(artifacts / "latest")


def events(result: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def assert_refused(artifacts: Path, version: str, why: str, still_latest: str) -> None:
    """`make promote VERSION=version` fails saying `why`, and latest has not moved."""
    result = promotion(artifacts, "promote", version)
    assert result.returncode == 1
    (event,) = events(result)
    assert event["event"] == "promote_refused"
    assert why in str(event["message"])
    assert latest(artifacts) == still_latest


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three trained versions; training promoted each in turn (a, b, then c)."""
    root = tmp_path_factory.mktemp("promotion")
    for version in ("a", "b", "c"):
        assert train(root, "--model-version", version).returncode == 0
    return root


def test_training_promotes_and_records_who_and_what(artifacts: Path) -> None:
    history = [json.loads(line) for line in (artifacts / HISTORY_FILE).read_text().splitlines()]
    assert [(h["action"], h["version"], h["previous"]) for h in history[:3]] == [
        ("promote", "a", None),
        ("promote", "b", "a"),
        ("promote", "c", "b"),
    ]
    assert all(h["who"] and h["at"].endswith("Z") for h in history)


def test_promote_checks_the_artifact_then_repoints_latest(artifacts: Path) -> None:
    result = promotion(artifacts, "promote", "a")
    assert result.returncode == 0, result.stdout + result.stderr
    assert latest(artifacts) == "a"
    gate, event = events(result)
    assert gate["event"] == "promotion_gate_not_asked"  # no PROMETHEUS_URL: said, not silent
    assert event["event"] == "model_promoted"
    assert (event["version"], event["previous"], event["who"]) == ("a", "c", "octocat")


def test_rollback_returns_to_the_version_promoted_before(artifacts: Path) -> None:
    assert promotion(artifacts, "promote", "b").returncode == 0
    assert promotion(artifacts, "promote", "c").returncode == 0
    first = promotion(artifacts, "rollback")
    assert first.returncode == 0, first.stdout
    assert latest(artifacts) == "b"
    second = promotion(artifacts, "rollback")
    assert latest(artifacts) == "a"  # each rollback undoes one more promotion
    (event,) = events(second)
    assert (event["event"], event["version"], event["previous"]) == ("model_rolled_back", "a", "b")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("missing", "no artifact"),
        ("tampered", "checksum_mismatch"),
        ("gate", "quality gate did not pass"),
    ],
)
def test_promote_refuses_what_the_service_would_refuse(
    tmp_path: Path, damage: str, reason: str
) -> None:
    assert train(tmp_path, "--model-version", "good").returncode == 0
    assert train(tmp_path, "--model-version", "bad").returncode == 0
    assert promotion(tmp_path, "promote", "good").returncode == 0
    bad = tmp_path / "bad"
    if damage == "tampered":
        with (bad / "model.joblib").open("ab") as model:
            model.write(b"\0")
    elif damage == "gate":
        metadata = json.loads((bad / "metadata.json").read_text())
        metadata["quality_gate"]["passed"] = False
        (bad / "metadata.json").write_text(json.dumps(metadata))
    version = "nothing-here" if damage == "missing" else "bad"
    assert_refused(tmp_path, version, reason, still_latest="good")


def test_rollback_with_one_promotion_is_refused(tmp_path: Path) -> None:
    assert train(tmp_path, "--model-version", "only").returncode == 0
    result = promotion(tmp_path, "rollback")
    assert result.returncode == 1
    assert latest(tmp_path) == "only"


@pytest.fixture
def two_versions(tmp_path: Path) -> Path:
    for version in ("one", "two"):
        assert train(tmp_path, "--model-version", version).returncode == 0
    return tmp_path


@pytest.mark.parametrize(
    ("version", "why"),
    [
        ("latest", "'latest' is the pointer, not a version"),
        ("alias", "is a symlink, not a version directory"),
        ("../outside", "is not a version name"),
        ("nothing-here", "no artifact 'nothing-here'"),
    ],
)
def test_promote_takes_only_a_real_version_directory(
    two_versions: Path, version: str, why: str
) -> None:
    """`make promote VERSION=latest` once pointed latest at itself and logged success."""
    (two_versions / "alias").symlink_to("one", target_is_directory=True)
    before = (two_versions / HISTORY_FILE).read_text()
    assert_refused(two_versions, version, why, still_latest="two")
    assert (two_versions / "latest" / "metadata.json").is_file()  # still resolves
    assert (two_versions / HISTORY_FILE).read_text() == before  # nothing written


def test_rollback_passes_over_entries_that_no_longer_check_out(two_versions: Path) -> None:
    """A history with the old loop (`latest`) and a version removed since: rollback says
    which it skipped and why, and lands on the newest one that still checks out."""
    assert train(two_versions, "--model-version", "three").returncode == 0
    with (two_versions / HISTORY_FILE).open("a") as history:
        for version in ("latest", "gone"):
            entry = {"at": "2026-01-01T00:00:00Z", "who": "old", "action": "promote"}
            history.write(json.dumps({**entry, "version": version, "previous": "x"}) + "\n")
    assert promotion(two_versions, "promote", "three").returncode == 0
    # stack: one, two, three, latest, gone, three

    result = promotion(two_versions, "rollback")

    assert result.returncode == 0, result.stdout
    assert latest(two_versions) == "two"
    lines = events(result)
    skipped = [
        (e["version"], e["message"]) for e in lines if e["event"] == "rollback_entry_skipped"
    ]
    assert [version for version, _ in skipped] == ["gone", "latest"]
    assert "no artifact 'gone'" in str(skipped[0][1])
    assert "is the pointer" in str(skipped[1][1])
    assert lines[-1]["event"] == "model_rolled_back"
    # The next rollback goes on from two, not back into the skipped entries.
    assert promotion(two_versions, "rollback").returncode == 0
    assert latest(two_versions) == "one"


def test_training_makes_a_candidate_unless_told_to_promote(tmp_path: Path) -> None:
    assert train(tmp_path, "--model-version", "served").returncode == 0
    result = train(tmp_path, "--model-version", "candidate", promote=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert latest(tmp_path) == "served"
    (trained,) = [e for e in events(result) if e["event"] == "model_trained"]
    assert trained["promoted"] is False
    assert "make promote VERSION=candidate" in str(trained["message"])
    assert [json.loads(line)["version"] for line in (tmp_path / HISTORY_FILE).open()] == ["served"]
    assert promotion(tmp_path, "promote", "candidate").returncode == 0
    assert latest(tmp_path) == "candidate"


def test_a_shadow_record_that_cannot_be_read_refuses_unless_forced(artifacts: Path) -> None:
    """PROMETHEUS_URL set but nothing answers there: no verdict is no pass."""
    unreachable = {"PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}"}
    before = latest(artifacts)
    refused = promotion(artifacts, "promote", "b", **unreachable)
    assert refused.returncode == 1
    assert "the shadow record could not be read" in refused.stdout
    assert latest(artifacts) == before
    forced = promotion(artifacts, "promote", "b", "--force", **unreachable)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    entry = json.loads((artifacts / HISTORY_FILE).read_text().splitlines()[-1])
    assert (entry["version"], entry["forced"]) == ("b", True)
    assert promotion(artifacts, "promote", before).returncode == 0  # as the next tests expect
