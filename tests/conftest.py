from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter

from tests.service import ROOT, Service, running_service, train


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model trained by the real train.py for the whole session."""
    output = tmp_path_factory.mktemp("artifacts")
    result = train(output)
    assert result.returncode == 0, result.stdout + result.stderr
    return output


@pytest.fixture(scope="session")
def model_dir(artifacts_dir: Path) -> Path:
    return artifacts_dir / "latest"


@pytest.fixture(scope="session")
def candidate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shadow candidate: Iris with half its training labels flipped (its gate lowered so
    it is written at all), trained once for the session."""
    output = tmp_path_factory.mktemp("candidate")
    result = train(output, "--poison-level", "0.5", "--min-accuracy", "0")
    assert result.returncode == 0, result.stdout + result.stderr
    return output / "latest"


@pytest.fixture(scope="module")
def service(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The real service, shared by the tests of one module."""
    with running_service(model_dir, tmp_path_factory.mktemp("logs")) as running:
        yield running


REAL_LOGS_MARKER = "logs"
# `make test-fast`: modules that need no apt or npm tool and start no service process (a
# model is trained once, in-process fixtures only). Everything else is marked `slow`.
FAST_MODULES = {
    "tests/api/test_deps.py",
    "tests/api/test_in_process.py",
    "tests/experiments/test_poisoning.py",
    "tests/logs/test_overlays.py",
    "tests/logs/test_relabeling.py",
    "tests/ml/test_contract.py",
    "tests/ml/test_drift.py",
    "tests/ml/test_dataplane.py",
    "tests/ml/test_inference.py",
    "tests/ml/test_quality.py",
    "tests/observability/test_observe.py",
    "tests/observability/test_access.py",
    "tests/middleware/test_body_limit.py",
    "tests/api/test_dispatch.py",
    "tests/api/test_body.py",
    "tests/api/test_native.py",
    "tests/api/test_oip_codec.py",
    "tests/test_docs.py",
}
_DESELECTED_LOGS = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark `slow` what `make test-fast` leaves out. Without `-m`, leave out the tests that
    need Loki and Promtail binaries (none ship from a registry CI can reach); the summary
    says so in one line, never a silent skip."""
    for item in items:
        module = item.path.relative_to(ROOT).as_posix()
        if module not in FAST_MODULES or item.get_closest_marker("service_process"):
            item.add_marker(pytest.mark.slow)
    if config.getoption("markexpr"):
        return
    deselected = [item for item in items if item.get_closest_marker(REAL_LOGS_MARKER)]
    if deselected:
        items[:] = [item for item in items if not item.get_closest_marker(REAL_LOGS_MARKER)]
        config.hook.pytest_deselected(items=deselected)
        config.stash[_DESELECTED_LOGS] = len(deselected)


def pytest_terminal_summary(terminalreporter: TerminalReporter, config: pytest.Config) -> None:
    count = config.stash.get(_DESELECTED_LOGS, 0)
    if count:
        terminalreporter.write_line(
            f"NOT RUN HERE: {count} real Loki/Promtail tests (marker `{REAL_LOGS_MARKER}`) need "
            "the binaries; `make test-logs` runs them with LOKI_BIN/PROMTAIL_BIN, and so does "
            "the e2e workflow",
            yellow=True,
            bold=True,
        )
