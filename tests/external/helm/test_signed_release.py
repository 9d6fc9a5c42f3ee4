"""The production values, as a deploy renders them, refuse an altered model: the service
started with the rendered container's MODEL_PUBLIC_KEY is never ready and says why."""

import json
import shutil
from pathlib import Path

import pytest

from tests.external.helm.chart import TEST_SIGNING_KEY, container, env_of, render
from tests.service.ml.test_signing import plant_malicious_pickle, refused
from tests.support.service import ROOT, running_service, train

PRODUCTION = ROOT / "helm" / "environments" / "production.yaml"


def production_key() -> str:
    key = env_of(container(render(PRODUCTION)))["MODEL_PUBLIC_KEY"]
    assert key
    return key


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("release")
    result = train(output, MODEL_SIGNING_KEY=TEST_SIGNING_KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    return (output / "latest").resolve()


def test_the_production_release_serves_the_signed_model(signed: Path, tmp_path: Path) -> None:
    with running_service(signed, tmp_path, MODEL_PUBLIC_KEY=production_key()) as service:
        (loaded,) = service.wait_for_log("model_loaded")[:1]
        assert loaded["signature_verified"] is True


@pytest.mark.parametrize("alteration", ["malicious pickle", "class names swapped"])
def test_the_production_release_refuses_an_altered_model(
    signed: Path, tmp_path: Path, alteration: str
) -> None:
    artifact = tmp_path / "model"
    shutil.copytree(signed, artifact)
    marker = tmp_path / "pwned"
    if alteration == "malicious pickle":
        plant_malicious_pickle(artifact, marker)
    else:
        metadata = json.loads((artifact / "metadata.json").read_text())
        names = metadata["class_names"]
        names[0], names[1] = names[1], names[0]
        (artifact / "metadata.json").write_text(json.dumps(metadata))
    refused(artifact, tmp_path, production_key(), "signature_invalid")
    assert not marker.exists()  # nothing was unpickled
