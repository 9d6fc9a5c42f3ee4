"""GitHub workflows: actionlint, zizmor (offline), the workflow schema, and our own rules."""

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.service import ROOT, VENV_BIN

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yaml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yaml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    return document


def test_the_four_workflows_exist() -> None:
    assert {p.stem for p in WORKFLOWS} == {"train", "ci", "deploy", "e2e"}


def test_actionlint() -> None:
    result = run(str(VENV_BIN / "actionlint"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing_of_medium_severity_or_above() -> None:
    result = run(str(VENV_BIN / "zizmor"), "--offline", "--min-severity", "medium", ".github")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("paths", "schema"),
    [
        (WORKFLOWS, "vendor.github-workflows"),
        (ACTIONS, "vendor.github-actions"),
        ([ROOT / ".github" / "dependabot.yml"], "vendor.dependabot"),
    ],
    ids=["workflows", "actions", "dependabot"],
)
def test_schemas(paths: list[Path], schema: str) -> None:
    result = run(str(VENV_BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, paths))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_least_privilege_timeouts_and_no_persisted_credentials(path: Path) -> None:
    workflow = load(path)
    assert workflow["permissions"] == {}, "deny everything at the top, grant per job"
    text = path.read_text()
    for name, job in workflow["jobs"].items():
        assert "timeout-minutes" in job, name
        assert "permissions" in job, name
        for scope in job["permissions"]:
            # Every grant says why, in a comment on its line.
            assert re.search(rf"^\s+{scope}: \w+ # .+$", text, re.M), (
                f"{name}: {scope} needs a reason"
            )
        for step in job.get("steps", []):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, name


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: p.parent.name + "/" + p.stem)
def test_actions_are_pinned_by_sha_with_a_version_comment(path: Path) -> None:
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*(?:- )?uses: (\S+)(.*)$", line)
        if not match or match.group(1).startswith("./"):
            continue
        assert PINNED.match(match.group(1)), line
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", match.group(2)), f"version comment: {line}"


def test_one_sha_per_action() -> None:
    shas: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for action, sha in re.findall(r"uses: ([\w./-]+)@([0-9a-f]{40})", path.read_text()):
            shas.setdefault(action, set()).add(sha)
    assert {action: len(found) for action, found in shas.items() if len(found) > 1} == {}


def test_ci_has_a_gate_that_needs_every_job() -> None:
    jobs = load(ROOT / ".github" / "workflows" / "ci.yaml")["jobs"]
    gate = jobs["gate"]
    assert set(gate["needs"]) == set(jobs) - {"gate"}
    assert gate["if"] == "always()"
    ci = load(ROOT / ".github" / "workflows" / "ci.yaml")
    assert ci["concurrency"]["cancel-in-progress"] is True


def test_deploy_promotes_one_digest_through_protected_environments() -> None:
    jobs = load(ROOT / ".github" / "workflows" / "deploy.yaml")["jobs"]
    assert [jobs[name]["environment"] for name in ("dev", "staging", "production")] == [
        "dev", "staging", "production",
    ]  # fmt: skip
    assert "dev" in jobs["staging"]["needs"]
    assert "staging" in jobs["production"]["needs"]
    action = (ROOT / ".github" / "actions" / "helm-deploy" / "action.yaml").read_text()
    assert "--atomic" in action
    assert 'helm" test glassbox' in action
    assert 'helm" rollback glassbox' in action
    assert "helm/environments/$ENVIRONMENT.yaml" in action
    build = jobs["build"]
    assert build["permissions"]["packages"] == "write"
    assert any("attest-build-provenance" in s.get("uses", "") for s in build["steps"])


def test_environment_values_exist_for_every_deploy_stage() -> None:
    for name in ("dev", "staging", "production"):
        assert (ROOT / "helm" / "environments" / f"{name}.yaml").exists()


def test_dependabot_watches_pip_actions_docker() -> None:
    config = load(ROOT / ".github" / "dependabot.yml")
    assert {"pip", "github-actions", "docker"} <= {
        u["package-ecosystem"] for u in config["updates"]
    }


# The binaries tests/external/monitoring/servers.py starts, by the helper a test imports.
SERVER_BINARIES = {"alertmanager": "prometheus-alertmanager", "prometheus": "prometheus"}


def test_the_real_logs_job_installs_exactly_what_its_tests_start() -> None:
    """The e2e `real-logs` job is the one place the Loki/Promtail tests run: it downloads
    those two, and `make test-logs` must install every other binary they start and nothing
    they do not (each extra install is one more way for that job to fail on its own)."""
    job = load(ROOT / ".github" / "workflows" / "e2e.yaml")["jobs"]["real-logs"]
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[0].startswith("python3 scripts/fetch_e2e_binaries.py")
    assert runs[-1] == "make test-logs"

    started = set()
    for module in (ROOT / "tests" / "external" / "logs").glob("*.py"):
        source = module.read_text()
        imported = re.search(r"from tests\.external\.monitoring\.servers import ([\w, ]+)", source)
        names = {name.strip() for name in imported.group(1).split(",")} if imported else set()
        started |= {SERVER_BINARIES[name] for name in names & SERVER_BINARIES.keys()}
    assert started == {"prometheus-alertmanager"}

    dry_run = run("make", "--dry-run", "--always-make", "test-logs").stdout
    (install,) = [line for line in dry_run.splitlines() if "install_tools.py" in line]
    assert install.split("--commands", 1)[1].split() == sorted(started)
    for extra in ("npm", "checkov", "--only helm", "node_modules"):
        assert extra not in dry_run, extra


def test_every_deploy_passes_the_environments_model_public_key() -> None:
    """The chart refuses staging and production without a key; each deploy job hands the
    environment's vars.MODEL_PUBLIC_KEY to the action, which sets config.modelPublicKey."""
    jobs = load(ROOT / ".github" / "workflows" / "deploy.yaml")["jobs"]
    for name in ("dev", "staging", "production"):
        (deploy,) = [
            s for s in jobs[name]["steps"] if s.get("uses") == "./.github/actions/helm-deploy"
        ]
        assert deploy["with"]["model-public-key"] == "${{ vars.MODEL_PUBLIC_KEY }}"
    action = (ROOT / ".github" / "actions" / "helm-deploy" / "action.yaml").read_text()
    assert 'config.modelPublicKey=$MODEL_PUBLIC_KEY"' in action


def test_the_train_workflow_signs_outside_pull_requests() -> None:
    (job,) = load(ROOT / ".github" / "workflows" / "train.yaml")["jobs"].values()
    steps = {step.get("name", ""): step for step in job["steps"]}
    gate = steps["Refuse to train an unsigned model outside pull requests"]
    assert gate["if"] == "github.event_name != 'pull_request'"
    assert "exit 1" in gate["run"]
    train = steps["Train (quality gate enforced)"]
    assert train["env"]["MODEL_SIGNING_KEY"] == "${{ secrets.MODEL_SIGNING_KEY }}"
    assert "--promote" in train["run"]
