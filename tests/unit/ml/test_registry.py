"""The registry serves only models of the shape the API was built for: another task or
other inputs is a rollout (restart), never a hot swap into a mismatched API."""

import asyncio
from pathlib import Path

from app.ml.serving.registry import ModelRegistry
from app.ml.serving.sources import LocalDirectory
from scripts.example_data import bundled
from tests.support.training import train_here


def test_a_candidate_of_another_shape_is_refused_and_the_old_one_serves(
    model_dir: Path, tmp_path: Path
) -> None:
    diabetes = bundled("diabetes", tmp_path)
    assert train_here(tmp_path / "other", "--data", str(diabetes.path), "--target", "target") == 0
    serving = tmp_path / "serving"
    serving.symlink_to(model_dir.resolve())
    registry = ModelRegistry(LocalDirectory(serving))
    assert registry.load().runtime is not None
    iris_version = registry.runtime.version if registry.runtime else None

    serving.unlink()
    serving.symlink_to((tmp_path / "other" / "latest").resolve())
    assert asyncio.run(registry.reload()) is False
    assert registry.runtime is not None
    assert registry.runtime.version == iris_version
    assert ModelRegistry(LocalDirectory(serving)).contract is not None  # a fresh process would
