from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter

from tests.support.service import ROOT, Service, running_service
from tests.support.training import train_here


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model trained by train.py's own main() for the whole session."""
    output = tmp_path_factory.mktemp("artifacts")
    assert train_here(output) == 0
    return output


@pytest.fixture(scope="session")
def model_dir(artifacts_dir: Path) -> Path:
    return artifacts_dir / "latest"


@pytest.fixture(scope="session")
def candidate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shadow candidate: Iris with half its training labels flipped (its gate lowered so
    it is written at all), trained once for the session."""
    output = tmp_path_factory.mktemp("candidate")
    assert train_here(output, "--poison-level", "0.5", "--min-accuracy", "0") == 0
    return output / "latest"


@pytest.fixture(scope="module")
def service(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The real service, shared by the tests of one module."""
    with running_service(model_dir, tmp_path_factory.mktemp("logs")) as running:
        yield running


REAL_LOGS_MARKER = "logs"
# The tiers, by folder: a test's marker is the folder it lives in, never a list kept by hand.
#   unit      starts no process (the app in process through Starlette's TestClient);
#   service   starts this project's own processes: `python -m app`, train.py, make, ...;
#   external  starts a real third-party program: Prometheus, Alertmanager, promtool, helm,
#             mlflow, hadolint, ruff, ...; tests/external/logs/ needs Loki, Promtail and Tempo.
TIERS = ("unit", "service", "external")
_DESELECTED_LOGS = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier (and `logs` under tests/external/logs/). Without `-m`,
    leave out the tests that need Loki, Promtail and Tempo binaries (none ship from a
    registry CI can reach); the summary says so in one line, never a silent skip."""
    for item in items:
        parts = item.path.relative_to(ROOT / "tests").parts
        if parts[0] not in TIERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in tests/{{{','.join(TIERS)}}}/")
        item.add_marker(parts[0])
        if parts[:2] == ("external", "logs"):
            item.add_marker(REAL_LOGS_MARKER)
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
            f"NOT RUN HERE: {count} real Loki/Promtail/Tempo tests (marker `{REAL_LOGS_MARKER}`) "
            "need the binaries; `make test-logs` runs them with LOKI_BIN/PROMTAIL_BIN/TEMPO_BIN, "
            "and so does the e2e workflow",
            yellow=True,
            bold=True,
        )
