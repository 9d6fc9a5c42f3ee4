"""Settings come from the environment; invalid ones stop startup with one clear line."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.service import ROOT, service_env


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("MAX_BATCH_SIZE", "0"),
        ("MAX_BODY_BYTES", "10"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("WEB_CONCURRENCY", "0"),
    ],
)
def test_invalid_setting_fails_startup_naming_it(model_dir: Path, name: str, value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app"],
        cwd=ROOT,
        env=service_env(model_dir, **{name: value}),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    (line,) = result.stdout.splitlines()
    record = json.loads(line)
    assert record["event"] == "invalid_settings"
    assert record["level"] == "critical"
    assert [error["setting"] for error in record["errors"]] == [name]
    assert result.stderr == ""
