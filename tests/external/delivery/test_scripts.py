"""The helper scripts the workflows and Makefile run, exercised for real where they can be."""

import hashlib
import importlib.util
import io
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from scripts.example_data import bundled, churn
from tests.external.monitoring.queries import logql_errors, promql_error
from tests.support.service import ROOT, Service, running_service, train


def run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / name), *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_train_summary_shows_metrics_and_flags_a_drop(tmp_path: Path) -> None:
    good = train(tmp_path / "good", "--model-version", "good")
    assert good.returncode == 0
    worse = train(
        tmp_path / "worse", "--model-version", "worse", "--c", "0.001", "--min-accuracy", "0"
    )
    assert worse.returncode == 0
    log = tmp_path / "train.log"
    log.write_text(worse.stdout)

    result = run_script(
        "train_summary.py", "--log", str(log),
        "--metadata", str(tmp_path / "worse/latest/metadata.json"),
        "--baseline", str(tmp_path / "good/latest/metadata.json"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = result.stdout
    worse_meta = json.loads((tmp_path / "worse/latest/metadata.json").read_text())
    assert f"| accuracy | {worse_meta['metrics']['accuracy']:.4f}" in summary
    assert "lower than the base branch" in summary
    assert "| **setosa** |" in summary
    assert "`good`" in summary


def test_train_summary_reports_a_failed_quality_gate(tmp_path: Path) -> None:
    failed = train(tmp_path, "--min-accuracy", "0.999")
    assert failed.returncode == 1
    log = tmp_path / "train.log"
    log.write_text(failed.stdout)
    result = run_script("train_summary.py", "--log", str(log))
    assert "Quality gate failed" in result.stdout
    assert "< 0.999" in result.stdout


def test_traffic_sends_a_mix_and_stops_by_itself(service: Service) -> None:
    result = run_script("traffic.py", "--url", service.url, "--seconds", "2", "--rate", "40")
    assert result.returncode == 0, result.stderr
    counts = dict(pair.split(":") for pair in result.stdout.split())
    assert int(counts["200"]) > 10
    assert set(counts) <= {"200", "404", "422"}


def test_traffic_refuses_other_hosts() -> None:
    result = run_script("traffic.py", "--url", "http://10.0.0.1:8000", "--seconds", "1")
    assert result.returncode == 2
    assert "must point at this machine" in result.stderr


def test_e2e_queries_parse() -> None:
    source = (ROOT / "scripts" / "e2e_check.py").read_text()
    (promql,) = re.findall(r"query = '(.+)'", source)
    assert promql_error(promql) is None
    (logql,) = re.findall(r"logql = f'(.+)'", source)
    assert (
        logql_errors([logql.replace("{{", "{").replace("}}", "}").replace("{request_id}", "e2e-1")])
        == []
    )


def test_runtime_dependencies_are_installed_at_their_locked_versions() -> None:
    import tomllib

    lock = (ROOT / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([a-z0-9-]+)==([^\s\\]+)", lock, re.M))
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=\[ ]", requirement, maxsplit=1)[0].lower()
        assert name in pins, f"{name} is not in requirements.lock: run `make lock`"
        assert version(name) == pins[name], (
            f"{name}: installed {version(name)}, locked {pins[name]}"
        )
    assert all(re.search(r"--hash=sha256:[0-9a-f]{64}", block) for block in lock.split("==")[1:])


def fake_release(root: Path, versions: dict[str, str], tamper: str = "") -> str:
    """Directories laid out like GitHub's release downloads (one per repository), with real
    archives in each release's format (Loki's zips, Tempo's tarball) and their sums."""
    repos = {"loki": "loki", "promtail": "loki", "tempo": "tempo"}
    for name, pinned in versions.items():
        folder = root / repos[name] / f"v{pinned}"
        folder.mkdir(parents=True, exist_ok=True)
        script = f"#!/bin/sh\necho {name} {pinned}\n".encode()
        if name == "tempo":
            archive = folder / f"tempo_{pinned}_linux_amd64.tar.gz"
            with tarfile.open(archive, "w:gz") as tarred:
                for member in ("tempo", "tempo-cli", "LICENSE"):
                    info = tarfile.TarInfo(member)
                    info.size = len(script)
                    tarred.addfile(info, io.BytesIO(script))
        else:
            archive = folder / f"{name}-linux-amd64.zip"
            with zipfile.ZipFile(archive, "w") as zipped:
                zipped.writestr(f"{name}-linux-amd64", script)
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if name == tamper:
            digest = "0" * 64
        with (folder / "SHA256SUMS").open("a") as sums:
            sums.write(f"{digest}  {archive.name}\n")
    return f"file://{root}/{{repo}}/v{{version}}/{{asset}}"


def fetch_e2e_binaries(dest: Path, releases: str) -> subprocess.CompletedProcess[str]:
    return run_script("fetch_e2e_binaries.py", str(dest), "--releases", releases)


def pinned_e2e_versions() -> dict[str, str]:
    """What the fetch script itself reads from helm/stack/versions.env (loaded as a module:
    scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "fetch_e2e_binaries", ROOT / "scripts" / "fetch_e2e_binaries.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pinned: dict[str, str] = module.pinned_versions()
    return pinned


@pytest.mark.parametrize("tamper", ["promtail", "tempo"])
def test_e2e_binaries_are_unpacked_only_with_their_published_checksums(
    tmp_path: Path, tamper: str
) -> None:
    versions = pinned_e2e_versions()
    good = fetch_e2e_binaries(tmp_path / "bin", fake_release(tmp_path / "good", versions))
    assert good.returncode == 0, good.stderr
    paths = dict(line.split("=", 1) for line in good.stdout.splitlines())
    assert set(paths) == {"LOKI_BIN", "PROMTAIL_BIN", "TEMPO_BIN"}
    for name in ("loki", "tempo"):
        ran = subprocess.run([paths[f"{name.upper()}_BIN"]], capture_output=True, text=True)
        assert ran.stdout.strip() == f"{name} {versions[name]}"

    tampered = fetch_e2e_binaries(
        tmp_path / "bad-bin", fake_release(tmp_path / "bad", versions, tamper=tamper)
    )
    assert tampered.returncode != 0
    assert "differs from the published" in tampered.stderr
    assert not (tmp_path / "bad-bin" / tamper).exists()


def test_e2e_binaries_pin_the_versions_compose_runs() -> None:
    compose = (ROOT / "compose.yaml").read_text()
    for name, pinned in pinned_e2e_versions().items():
        assert f"image: grafana/{name}:{pinned}\n" in compose


def test_traffic_and_the_train_summary_fit_a_model_with_other_inputs(tmp_path: Path) -> None:
    """A churn classifier (categories, integers, a boolean) gets only 200s from traffic's
    good bodies and 422s from its bad ones; a diabetes regressor's summary shows R²."""
    written = churn(tmp_path)
    assert (
        train(tmp_path / "churn", "--data", str(written.path), "--target", "churned").returncode
        == 0
    )
    with running_service(tmp_path / "churn" / "latest", tmp_path / "logs") as service:
        result = run_script("traffic.py", "--url", service.url, "--seconds", "2", "--rate", "40")
        assert result.returncode == 0, result.stderr
        counts = dict(pair.split(":") for pair in result.stdout.split())
        assert int(counts["200"]) > 10
        assert set(counts) <= {"200", "404", "422"}
        refused = [
            line for line in service.log_lines()
            if line.get("event") == "http_request" and line["status"] == 422
        ]  # fmt: skip
        assert all(line["path"] == "/predict" for line in refused)  # no good batch refused
    diabetes = bundled("diabetes", tmp_path)
    trained = train(tmp_path / "reg", "--data", str(diabetes.path), "--target", "target")
    assert trained.returncode == 0
    log = tmp_path / "reg.log"
    log.write_text(trained.stdout)
    summary = run_script(
        "train_summary.py", "--log", str(log),
        "--metadata", str(tmp_path / "reg" / "latest" / "metadata.json"),
    )  # fmt: skip
    assert "| R² |" in summary.stdout
    assert "| quality gate | R² ≥ 0.0 |" in summary.stdout
    assert "confusion" not in summary.stdout.lower()
