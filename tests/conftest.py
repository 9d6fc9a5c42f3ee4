from collections.abc import Iterator
from pathlib import Path

import pytest
from _pytest.terminal import TerminalReporter

from tests.service import Service, running_service, train


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


@pytest.fixture(scope="module")
def service(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The real service, shared by the tests of one module."""
    with running_service(model_dir, tmp_path_factory.mktemp("logs")) as running:
        yield running


REAL_LOGS_MARKER = "logs"
_DESELECTED_LOGS = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without `-m`, leave out the tests that need Loki and Promtail binaries (none ship
    from a registry CI can reach); the summary says so in one line, never a silent skip."""
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
