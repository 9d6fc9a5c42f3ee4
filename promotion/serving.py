"""Whether `make reload` can serve a version: asked of the service `make run` runs from this
checkout, by the contract its API was built from (written beside its pid file,
app/core/lifecycle.py). A model of another shape is refused at reload (model_incompatible);
train.py, wrap.py, `make promote` and `make rollback` say so instead of "reload serves it"."""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from app.core.lifecycle import DEFAULT_PID_FILE, api_file, serving
from app.ml.contract import Contract, ContractError


@dataclass(frozen=True)
class NextStep:
    """What serves a model moved to `latest`, in one sentence, and whether a reload does."""

    message: str
    reload_serves_it: bool


def running_api(pid_file: str) -> tuple[int, Contract] | None:
    """The pid of the service `make run` runs from this checkout and its API's contract;
    None when none runs (no files, a pid that is gone, a file that does not parse)."""
    written, api = serving(pid_file), api_file(pid_file)
    if written is None or api is None:
        return None
    try:
        contract = Contract.from_metadata(json.loads(api.read_text()))
    except (OSError, ValueError, ContractError):
        return None
    return int(written["pid"]), contract


def next_step(candidate: Contract, pid_file: str | None = None) -> NextStep:
    """What happens to `candidate` once it is `latest`, said truly."""
    pid_file = pid_file or os.environ.get("PID_FILE") or DEFAULT_PID_FILE
    running = running_api(pid_file)
    if running is None:
        where = Path(pid_file).parent
        return NextStep(f"no `make run` serves from {where}: the next one serves it", False)
    pid, api = running
    if candidate.shape == api.shape:
        return NextStep(f"`make reload` serves it (pid {pid} has the same API)", True)
    return NextStep(
        f"another API than pid {pid} serves ({_difference(candidate, api)}): `make reload` "
        "would refuse it; restart `make run`, or roll it out, to serve it",
        False,
    )


def after_writing(candidate: Contract, output_dir: Path, version: str, promoted: bool) -> NextStep:
    """What train.py and wrap.py say of the version they have just written: `latest` now,
    or a candidate for `make promote`, and what then serves it."""
    step = next_step(candidate)
    if promoted:
        return NextStep(f"now {output_dir / 'latest'}; {step.message}", step.reload_serves_it)
    return NextStep(
        f"a candidate; `make promote VERSION={version}` makes it latest: {step.message}",
        step.reload_serves_it,
    )


def _difference(candidate: Contract, api: Contract) -> str:
    if candidate.task != api.task:
        return f"a {candidate.task} model, the service's API is for {api.task}"
    named = {item.name: item for item in api.inputs}
    new = [item.name for item in candidate.inputs if item.name not in named]
    gone = [name for name in named if name not in {item.name for item in candidate.inputs}]
    if new or gone:
        return f"inputs {', '.join(new) or 'none'} new, {', '.join(gone) or 'none'} gone"
    changed = [
        item.name
        for item in candidate.inputs
        if (item.kind, dict(item.bounds)) != (named[item.name].kind, dict(named[item.name].bounds))
    ]
    if changed:
        return f"inputs {', '.join(changed)} typed or bounded otherwise"
    return "the same inputs in another order"
