from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service import Service, running_service, train


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model trained by the real train.py for the whole session."""
    output = tmp_path_factory.mktemp("artifacts")
    result = train(output)
    assert result.returncode == 0, result.stdout + result.stderr
    return output


@pytest.fixture(scope="session")
def model_dir(artifacts_dir: Path) -> Path:
    return artifacts_dir / "latest"


@pytest.fixture(scope="module")
def service(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The real service, shared by the tests of one module."""
    with running_service(model_dir, tmp_path_factory.mktemp("logs")) as running:
        yield running
