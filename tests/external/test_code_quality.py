"""ruff and mypy --strict are part of the suite, so CI enforces them on every change."""

import re
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.service import ROOT, VENV_BIN


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


def test_one_yaml_extension() -> None:
    """`.yaml` everywhere; Dependabot documents only `.github/dependabot.yml`."""
    tracked = subprocess.run(
        ["git", "ls-files", "*.yml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked == [".github/dependabot.yml"]


def test_scripts_share_one_naming_style() -> None:
    names = [path.stem for path in (ROOT / "scripts").iterdir() if path.is_file()]
    assert names
    assert all(name == name.lower() and "-" not in name for name in names), names


def _pins(lock: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / lock).read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split("==")
            pins[str(canonicalize_name(name))] = version
    return pins


def test_the_dev_lock_pins_every_dev_tool_and_agrees_with_the_runtime_lock() -> None:
    """`make lock` writes requirements-dev.lock from pyproject's dev group; a tool added
    to the group without re-locking, or a runtime pin changed in one lock only, fails here."""
    group = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    dev, runtime = _pins("requirements-dev.lock"), _pins("requirements.lock")
    for text in group:
        requirement = Requirement(text)
        name = str(canonicalize_name(requirement.name))
        assert name in dev, f"{name} is not in requirements-dev.lock: run `make lock`"
        assert requirement.specifier.contains(dev[name], prereleases=True), (name, dev[name])
    for name in dev.keys() & runtime.keys():
        assert dev[name] == runtime[name], name


def test_make_help_lists_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (phony,) = [line for line in makefile.splitlines() if line.startswith(".PHONY:")]
    targets = phony.split(":", 1)[1].split()
    shown = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    plain = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    listed = {line.split()[0] for line in plain.splitlines() if line.strip()}
    assert [target for target in targets if target not in listed] == []


def test_make_help_lists_every_variable_a_user_sets() -> None:
    """Every variable a recipe reads that the Makefile does not fix itself (`:=`), and every
    port `make monitor` reads, is in `make help`."""
    makefile = (ROOT / "Makefile").read_text()
    fixed = set(re.findall(r"^([A-Z_0-9]+) :?= ", makefile, re.MULTILINE))
    read = set(re.findall(r"\$\(([A-Z][A-Z_0-9]*)\)|\$\$\{([A-Z][A-Z_0-9]*)", makefile))
    names = {name for pair in read for name in pair if name} - fixed - {"CURDIR", "MAKEFILE_LIST"}
    monitor = (ROOT / "scripts" / "monitor_local.py").read_text()
    names |= set(re.findall(r"_port\(\"([A-Z_]+)\"", monitor))
    names |= {"SERVICE_PORT", "MONITOR_DIR", "PROMETHEUS_URL"}
    shown = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    variables = shown.split("\nVariables:\n", 1)[1]
    assert sorted(n for n in names if not re.search(rf"\b{n}\b", variables)) == []
