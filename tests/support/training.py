"""train.py's own main(), called in this process: the same artifact `python train.py` writes,
without a process (the unit tier starts none; a Python start and train.py's imports were
~2 s of every training the suite did). Its log lines go to stdout, which pytest captures."""

from pathlib import Path

import train


def train_here(output_dir: Path, *args: str, promote: bool = True) -> int:
    """train.main with these arguments; its exit code."""
    flags = ["--promote"] if promote else []
    return train.main(["--output-dir", str(output_dir), *flags, *args])
