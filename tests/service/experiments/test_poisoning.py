"""`make experiments`' command as a user runs it: tables, a plot and its progress bar."""

import subprocess
import sys
from pathlib import Path

from experiments.poisoning import RESULTS
from tests.support.service import ROOT
from tests.unit.experiments.test_poisoning import png_size


def test_the_command_writes_tables_and_a_plot_with_progress(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "experiments.poisoning", "--output-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "poisoning sweep" in result.stderr  # tqdm's bar
    assert "| poison level | C |" in result.stdout
    for name in ("poisoning.csv", "poisoning.md"):
        assert (tmp_path / name).read_text() == (RESULTS / name).read_text()
    assert png_size(tmp_path / "poisoning.png") == png_size(RESULTS / "poisoning.png") == (770, 495)
