"""Each way an artifact can be unservable keeps the process alive but never ready."""

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.service import VALID_FLOWER, running_service, sample


def copy_artifact(model_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(model_dir.resolve(), target)
    return target


def rewrite_metadata(artifact: Path, change: Callable[[dict[str, object]], None]) -> None:
    path = artifact / "metadata.json"
    metadata = json.loads(path.read_text())
    change(metadata)
    path.write_text(json.dumps(metadata))


def break_checksum(artifact: Path) -> None:
    with (artifact / "model.joblib").open("ab") as handle:
        handle.write(b"tampered")


def break_pickle(artifact: Path) -> None:
    import hashlib

    garbage = b"this is not a pickle"
    (artifact / "model.joblib").write_bytes(garbage)
    # Keep the checksum right so the unpickling itself is what fails.
    rewrite_metadata(artifact, lambda m: m.update(model_sha256=hashlib.sha256(garbage).hexdigest()))


def old_sklearn(artifact: Path) -> None:
    def change(metadata: dict[str, object]) -> None:
        versions = metadata["versions"]
        assert isinstance(versions, dict)
        versions["sklearn"] = "0.24.2"

    rewrite_metadata(artifact, change)


def remove_model_file(artifact: Path) -> None:
    (artifact / "model.joblib").unlink()


def wrong_features(artifact: Path) -> None:
    """A contract with one input fewer than the model takes."""

    def drop_last_input(metadata: dict[str, Any]) -> None:
        metadata.update(inputs=metadata["inputs"][:3], feature_names=metadata["feature_names"][:3])

    rewrite_metadata(artifact, drop_last_input)


def inconsistent_features(artifact: Path) -> None:
    """feature_names that disagree with the contract's inputs."""
    rewrite_metadata(artifact, lambda m: m.update(feature_names=["a", "b", "c", "d"]))


@pytest.mark.parametrize(
    ("breakage", "reason", "evidence"),
    [
        (remove_model_file, "artifact_missing", {"model_dir"}),
        (break_checksum, "checksum_mismatch", {"expected_sha256", "actual_sha256"}),
        (break_pickle, "unpickle_failed", {"model_dir"}),
        (old_sklearn, "sklearn_version_mismatch", {
            "trained_sklearn_version", "installed_sklearn_version",
        }),
        (wrong_features, "model_incompatible", {"model_features", "expected_features"}),
        (inconsistent_features, "metadata_invalid", {"contract_inputs", "feature_names"}),
    ],
)  # fmt: skip
def test_unservable_artifact_is_never_ready(
    model_dir: Path,
    tmp_path: Path,
    breakage: Callable[[Path], None],
    reason: str,
    evidence: set[str],
) -> None:
    artifact = copy_artifact(model_dir, tmp_path)
    breakage(artifact)

    with running_service(artifact, tmp_path / "logs", wait_ready=False) as service:
        ready = requests.get(f"{service.url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "model_not_ready"
        assert ready.json()["error"]["details"][0]["reason"] == reason
        assert requests.get(f"{service.url}/healthz", timeout=5).status_code == 200
        predict = service.post("/predict", VALID_FLOWER)
        assert predict.status_code == 503
        assert predict.json()["error"]["code"] == "model_not_ready"
        assert sample(service.metrics(), "model_loaded") == 0

        failures = [line for line in service.log_lines() if line["event"] == "model_load_failed"]
        assert len(failures) == 1
        assert failures[0]["level"] == "error"
        assert failures[0]["reason"] == reason
        assert evidence <= failures[0].keys()
        if reason == "sklearn_version_mismatch":
            assert failures[0]["trained_sklearn_version"] == "0.24.2"


def test_missing_model_dir_is_never_ready(tmp_path: Path) -> None:
    with running_service(tmp_path / "absent", tmp_path / "logs", wait_ready=False) as service:
        ready = requests.get(f"{service.url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["error"]["details"][0]["reason"] == "artifact_missing"
        assert "make train" in service.wait_for_log("model_load_failed")[0]["message"]
