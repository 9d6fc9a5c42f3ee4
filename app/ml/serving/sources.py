"""Where a model to serve comes from: a directory on disk, or an MLflow Model Registry.

The registry (app/ml/serving/registry.py) asks its source the same questions whatever it
is: what to call it in logs, the contract the API can be built from at startup, where the
artifact to load is now, and -- for a source that can move without us (an alias promoted
in MLflow) -- which revision it names now, so a poll can tell a move from no change.
"""

from pathlib import Path
from typing import Any, Protocol

from app.ml.artifact import ModelLoadError, contract_of, read_metadata
from app.ml.contract import Contract
from app.ml.serving.runtime import ModelRuntime


class ModelSource(Protocol):
    # Fetched over the network: startup opens the port at once and fetches in the
    # background (/readyz says why not yet ready); False: loaded before serving starts.
    remote: bool

    def describe(self) -> dict[str, str]:
        """Where the model comes from, for log lines and /readyz."""
        ...

    def startup_contract(self) -> tuple[Contract | None, dict[str, Any]]:
        """The contract (and metadata) the API is built from at startup; None: from the
        first model that loads."""
        ...

    def locate(self) -> Path:
        """The artifact directory to load now (fetched first if need be). Raises
        ModelLoadError."""
        ...

    def revision(self) -> str | None:
        """What the source names now (a registry version), for a poll; None: a source
        that only moves on SIGHUP. Raises ModelLoadError."""
        ...

    def revision_of(self, runtime: ModelRuntime) -> str | None:
        """The revision `runtime` was loaded from, to compare with `revision()`."""
        ...


class LocalDirectory:
    """MODEL_DIR: an artifact on disk (`artifacts/latest`, a volume). It moves when someone
    repoints it (`make promote`), and SIGHUP loads what it holds then."""

    remote = False

    def __init__(self, path: Path, public_key: str = "") -> None:
        self.path = path
        self._public_key = public_key

    def describe(self) -> dict[str, str]:
        return {"model_dir": str(self.path)}

    def startup_contract(self) -> tuple[Contract | None, dict[str, Any]]:
        """The contract in metadata.json (signature checked), when it reads; the load
        itself checks the rest."""
        try:
            metadata = read_metadata(self.path, self._public_key)
            return contract_of(metadata, self.path), metadata
        except ModelLoadError:
            return None, {}

    def locate(self) -> Path:
        return self.path

    def revision(self) -> str | None:
        return None

    def revision_of(self, runtime: ModelRuntime) -> str | None:  # noqa: ARG002
        return None
