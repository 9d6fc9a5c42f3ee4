"""The Dockerfile, parsed and partly run: no Docker engine runs here (CI's image job builds it).

dockerfile-parse reads it into instructions per stage (no regular expressions over the
text); the two commands that decide which model ships — training in the build, and the
check on an imported artifact — are taken from the file and run for real.
"""

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from dockerfile_parse import DockerfileParser

from app.core.config import Settings
from tests.support.service import ROOT, VENV_BIN, train

PARSED = DockerfileParser(str(ROOT / "Dockerfile"))


def stages() -> dict[str, list[dict[str, Any]]]:
    """Instructions by stage name (`FROM … AS name`)."""
    found: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []
    for instruction in PARSED.structure:
        if instruction["instruction"] == "FROM":
            current = found.setdefault(instruction["value"].split()[-1], [])
        current.append(instruction)
    return found


def values(stage: str, kind: str) -> list[str]:
    return [i["value"] for i in stages()[stage] if i["instruction"] == kind]


def test_hadolint_finds_nothing_at_warning_level() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "hadolint"), "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_stages_build_the_venv_pick_a_model_and_ship_a_slim_runtime() -> None:
    assert list(stages()) == ["builder", "model-train", "model-artifact", "model", "runtime"]
    assert PARSED.baseimage == "python:3.11-slim-bookworm"  # the runtime's, ARG resolved


def test_runtime_is_non_root_and_runs_python_m_app() -> None:
    assert values("runtime", "USER") == ["10001:10001"]
    (entrypoint,) = values("runtime", "ENTRYPOINT")
    assert json.loads(entrypoint) == ["python", "-m", "app"]
    assert values("runtime", "EXPOSE") == [str(Settings.model_fields["PORT"].default)]
    env = PARSED.envs  # the last stage's
    assert (env["PYTHONUNBUFFERED"], env["HOST"]) == ("1", "0.0.0.0")
    # Only the venv and the model come from the build stages: no compilers, no sources.
    assert values("runtime", "COPY") == [
        "--from=builder /opt/venv /opt/venv",
        "--from=model /out /app/artifacts",
    ]
    assert not any("apt-get" in run for run in values("runtime", "RUN"))


def test_labels_record_source_revision_version_and_model() -> None:
    """Labels resolved with the build args' defaults: each comes from its ARG."""
    labels = PARSED.labels
    assert labels["org.opencontainers.image.source"] == "https://github.com/glassbox-ml/glassbox"
    assert labels["org.opencontainers.image.revision"] == "unknown"
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["io.glassbox.model.version"] == "dev"  # MODEL_VERSION, set by the workflows


def test_healthcheck_asks_readiness() -> None:
    (healthcheck,) = values("runtime", "HEALTHCHECK")
    assert "/readyz" in healthcheck


def test_dependencies_come_from_the_hashed_lock() -> None:
    assert "pip install --require-hashes --no-deps -r requirements.lock" in values("builder", "RUN")


def _command(stage: str, program: str) -> list[str]:
    (run,) = [v for v in values(stage, "RUN") if v.startswith(program)]
    return shlex.split(run)


def test_training_in_the_build_runs_as_written(tmp_path: Path) -> None:
    """The model-train stage's RUN line, with /out moved here and a version set."""
    command = _command("model-train", "python train.py")
    command = [tmp_path.as_posix() if word == "/out" else word for word in command]
    command = [word.replace("${MODEL_VERSION}", "image-test") for word in command]
    result = subprocess.run(
        [sys.executable, *command[1:]], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    metadata = json.loads((tmp_path / "latest" / "metadata.json").read_text())
    assert metadata["model_version"] == "image-test"


def test_an_imported_artifact_is_checked_as_written(tmp_path: Path) -> None:
    """The model-artifact stage's check, run on a real artifact: the right version passes,
    a label that differs from the artifact's version stops the build."""
    assert train(tmp_path, "--model-version", "imported").returncode == 0
    words = _command("model-artifact", "python -c")
    code = words[2].replace("/out/imported/", f"{tmp_path / 'imported'}/")

    def check(version: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False,
            env={**os.environ, "MODEL_VERSION": version},
        )  # fmt: skip

    assert check("imported").returncode == 0
    wrong = check("something-else")
    assert wrong.returncode != 0
    assert "model_version" in wrong.stderr


def test_model_dir_in_the_image_is_the_charts() -> None:
    chart = yaml.safe_load((ROOT / "helm" / "glassbox" / "values.yaml").read_text())
    assert PARSED.envs["MODEL_DIR"] == chart["config"]["modelDir"]
    assert chart["securityContext"]["runAsUser"] == 10001


def test_dockerignore_sends_only_what_the_build_uses() -> None:
    rules = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert rules[0] == "*", "ignore everything, then allow what the build copies"
    allowed = {line[1:].rstrip("/") for line in rules if line.startswith("!")}
    sources = {
        source.rstrip("/")
        for instruction in PARSED.structure
        if instruction["instruction"] == "COPY" and not instruction["value"].startswith("--from")
        for source in instruction["value"].split()[:-1]  # the last word is the destination
    }
    assert sources <= allowed
    assert not {".venv", "artifacts", ".git", "node_modules", ".env"} & allowed
