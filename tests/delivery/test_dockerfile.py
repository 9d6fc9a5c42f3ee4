"""The Dockerfile, checked statically: no Docker engine runs here (CI's image job builds it)."""

import re
import subprocess

from app.core.config import Settings
from tests.service import ROOT, VENV_BIN

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def stage(name: str) -> str:
    match = re.search(rf"^FROM .* AS {name}$(.*?)(?=^FROM |\Z)", DOCKERFILE, re.M | re.S)
    assert match, name
    return match.group(1)


def test_hadolint_finds_nothing_at_warning_level() -> None:
    result = subprocess.run(
        [str(VENV_BIN / "hadolint"), "--failure-threshold", "warning", str(ROOT / "Dockerfile")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_runtime_is_slim_non_root_and_runs_python_m_app() -> None:
    runtime = stage("runtime")
    assert "FROM ${PYTHON_IMAGE} AS runtime" in DOCKERFILE
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in DOCKERFILE
    assert "USER 10001:10001" in runtime
    assert re.search(r'^ENTRYPOINT \["python", "-m", "app"\]$', runtime, re.M)
    assert f"EXPOSE {Settings.model_fields['PORT'].default}" in runtime
    assert "PYTHONUNBUFFERED=1" in runtime
    assert "HOST=0.0.0.0" in runtime
    # Only the venv and the model come from the build stages: no compilers, no sources.
    copies = re.findall(r"^COPY (.*)$", runtime, re.M)
    assert copies == ["--from=builder /opt/venv /opt/venv", "--from=model /out /app/artifacts"]
    assert "apt-get" not in runtime


def test_labels_record_source_revision_version_and_model() -> None:
    for label in ("source", "revision", "version"):
        assert f"org.opencontainers.image.{label}=" in DOCKERFILE
    assert 'io.glassbox.model.version="${MODEL_VERSION}"' in DOCKERFILE


def test_healthcheck_asks_readiness() -> None:
    assert re.search(r"HEALTHCHECK .*\n\s+CMD .*/readyz", DOCKERFILE)


def test_dependencies_come_from_the_hashed_lock() -> None:
    builder = stage("builder")
    assert "pip install --require-hashes --no-deps -r requirements.lock" in builder


def test_model_is_trained_in_the_build_or_taken_from_the_artifact() -> None:
    assert "ARG MODEL_SOURCE=train" in DOCKERFILE
    assert "FROM model-${MODEL_SOURCE} AS model" in DOCKERFILE
    train = stage("model-train")
    assert (
        'python train.py --data data/iris.csv --output-dir /out --model-version "${MODEL_VERSION}"'
        in train
    )
    artifact = stage("model-artifact")
    assert "m['model_version'] == os.environ['MODEL_VERSION']" in artifact
    assert "m['versions']['sklearn'] == sklearn.__version__" in artifact


def test_model_dir_in_the_image_is_the_charts() -> None:
    import yaml

    values = yaml.safe_load((ROOT / "helm" / "glassbox" / "values.yaml").read_text())
    assert f"MODEL_DIR={values['config']['modelDir']}" in stage("runtime")
    assert values["securityContext"]["runAsUser"] == 10001


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
        for args in re.findall(r"^COPY (?!--from)(.+)$", DOCKERFILE, re.M)
        for source in args.split()[:-1]  # the last word is the destination
    }
    assert sources <= allowed
    assert not {".venv", "artifacts", ".git", "node_modules", ".env"} & allowed
