"""ruff and mypy --strict are part of the suite, so CI enforces them on every change."""

import subprocess

import pytest

from tests.service import ROOT, VENV_BIN


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["mypy"],  # paths from [tool.mypy] files in pyproject.toml
    ],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_code_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [str(VENV_BIN / command[0]), *command[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_pre_commit_hooks_run_tools_the_venv_has() -> None:
    """Each local hook's command exists once `make install` has run, and the generator check
    it calls passes on the committed files."""
    import shlex

    import yaml

    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {hook["id"] for hook in hooks} >= {"ruff", "ruff-format", "mypy", "monitoring-generated"}
    for hook in hooks:
        executable = ROOT / shlex.split(hook["entry"])[0]
        assert executable.exists(), hook["entry"]
    generated = next(hook for hook in hooks if hook["id"] == "monitoring-generated")
    result = subprocess.run(
        shlex.split(generated["entry"]), cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
