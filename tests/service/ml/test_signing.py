"""A model directory an attacker can write must not run their code or change answers:
with MODEL_PUBLIC_KEY set, nothing is unpickled unless metadata.json's signature holds."""

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest
import requests

from app.ml.signing import keygen
from tests.support.service import VALID_FLOWER, running_service, sample, train


class _Payload:
    """Unpickling this creates a file: proof that the pickle's code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    return keygen()


@pytest.fixture(scope="module")
def signed_dir(keys: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("signed")
    result = train(output, MODEL_SIGNING_KEY=keys[0])
    assert result.returncode == 0, result.stderr
    return output / "latest"


@pytest.fixture
def artifact(signed_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "model"
    shutil.copytree(signed_dir.resolve(), copy)
    return copy


def plant_malicious_pickle(artifact: Path, marker: Path) -> None:
    """What the attacker in issue 9 did: new pickle, checksum recomputed in metadata."""
    payload = pickle.dumps(_Payload(marker))
    (artifact / "model.joblib").write_bytes(payload)
    metadata = json.loads((artifact / "metadata.json").read_text())
    metadata["model_sha256"] = hashlib.sha256(payload).hexdigest()
    (artifact / "metadata.json").write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")


def refused(artifact: Path, tmp_path: Path, public_key: str, reason: str) -> None:
    with running_service(
        artifact, tmp_path / "logs", wait_ready=False, MODEL_PUBLIC_KEY=public_key
    ) as service:
        (failure,) = service.wait_for_log("model_load_failed")
        assert failure["reason"] == reason
        ready = requests.get(f"{service.url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["error"]["details"][0]["reason"] == reason
        assert sample(service.metrics(), "model_loaded") == 0
        assert service.post("/predict", VALID_FLOWER).status_code == 503


def test_a_signed_artifact_serves_with_its_public_key(
    artifact: Path, keys: tuple[str, str], tmp_path: Path
) -> None:
    with running_service(artifact, tmp_path, MODEL_PUBLIC_KEY=keys[1]) as service:
        (loaded,) = service.wait_for_log("model_loaded")
        assert loaded["signature_verified"] is True
        assert service.post("/predict", VALID_FLOWER).status_code == 200
        assert not [line for line in service.log_lines() if line["event"] == "model_unverified"]


def test_a_planted_pickle_with_a_forged_checksum_never_runs(
    artifact: Path, keys: tuple[str, str], tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    plant_malicious_pickle(artifact, marker)
    refused(artifact, tmp_path, keys[1], "signature_invalid")
    assert not marker.exists(), "the attacker's pickle ran"


def test_without_a_public_key_the_same_attack_runs_and_is_flagged_unverified(
    artifact: Path, tmp_path: Path
) -> None:
    """Why the key matters (and proof the test above could fail)."""
    marker = tmp_path / "pwned"
    plant_malicious_pickle(artifact, marker)
    with running_service(artifact, tmp_path / "logs", wait_ready=False) as service:
        service.wait_for_log("model_load_failed")  # our payload is no model
        assert marker.exists()


def test_edited_metadata_is_refused(artifact: Path, keys: tuple[str, str], tmp_path: Path) -> None:
    """Swapping two class names would silently serve 'virginica' for a setosa."""
    path = artifact / "metadata.json"
    metadata = json.loads(path.read_text())
    names = metadata["class_names"]
    metadata["class_names"] = [names[2], names[1], names[0]]
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n")
    refused(artifact, tmp_path, keys[1], "signature_invalid")


def test_a_missing_signature_is_refused(
    artifact: Path, keys: tuple[str, str], tmp_path: Path
) -> None:
    (artifact / "metadata.json.sig").unlink()
    refused(artifact, tmp_path, keys[1], "signature_missing")


def test_another_key_is_refused(artifact: Path, tmp_path: Path) -> None:
    refused(artifact, tmp_path, keygen()[1], "signature_invalid")


def test_unsigned_artifacts_load_with_a_warning(model_dir: Path, tmp_path: Path) -> None:
    with running_service(model_dir, tmp_path) as service:
        (warning,) = service.wait_for_log("model_unverified")
        assert warning["level"] == "warning"
        (loaded,) = service.wait_for_log("model_loaded")
        assert loaded["signature_verified"] is False


def test_a_malformed_public_key_stops_startup(model_dir: Path, tmp_path: Path) -> None:
    with (
        pytest.raises(AssertionError, match="exited with 2"),
        running_service(model_dir, tmp_path, MODEL_PUBLIC_KEY="not-a-key"),
    ):
        pass
