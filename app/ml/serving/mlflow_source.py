"""Serve from an MLflow Model Registry: MODEL_URI names a registered model version.

    MODEL_URI=models:/<name>@<alias>     the version an alias points at (`champion`)
    MODEL_URI=models:/<name>/<version>   one version, pinned
    MODEL_URI=models:/<name>/latest      the highest version number

`resolve()` asks the tracking server (MLFLOW_TRACKING_URI; credentials from MLflow's own
MLFLOW_TRACKING_TOKEN / _USERNAME / _PASSWORD) which version that is: one small REST call,
what a poll repeats. `fetch()` turns a version into a Glassbox artifact under
MODEL_CACHE_DIR/<name>/<version>/ once: it downloads the MLflow model, refuses one from
another scikit-learn major.minor before unpickling it, reads the contract (input names and
types from the MLflow signature when there is one; ranges, categories, reference rows and
the drift baseline from the logged input example, which is therefore required), and hands
both to app/ml/building/wrapping.py for the checks every artifact gets (ONNX export check,
checksums, the signature with MODEL_SIGNING_KEY, the load checks). A version already in the cache is
not downloaded again (another worker, or the same pod after a restart).

MLflow's client, not hand-written REST calls: it knows every artifact store (the server's
proxy, S3, GCS, Azure, local) and every model format (skops, cloudpickle, pickle).
"""

import os
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
import sklearn

from app.core.logging import get_logger
from app.core.model_uri import ModelUri, parse_model_uri
from app.ml.artifact import METADATA_FILE, ModelLoadError, is_safe_version
from app.ml.building.wrapping import WrapError, check_sklearn_version, wrap_estimator
from app.ml.contract import Contract, ContractError, Input, Kind, infer_inputs, training_value
from app.ml.serving.runtime import ModelRuntime

logger = get_logger("glassbox.registry")

# MLflow retries a failed call 7 times with exponential backoff and waits 120 s per try: a
# lookup against a stopped server took 247 s to fail here, against 0.07 s with one retry.
# A registry that is down must be reported in seconds (the pod stays unready, or the
# serving model stays), so these defaults apply unless the environment sets them.
_CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    # A download's progress bar is written to stderr, beside the JSON log lines.
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
# An MLflow column type as a Glassbox input type; anything else (binary, datetime, arrays)
# has no request field to give it.
_KINDS: dict[str, Kind] = {
    "double": "number",
    "float": "number",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": "category",
}
# Fewer example rows than this still serve, with a warning: deciles of 5 rows make a
# coarse drift baseline (log a few hundred rows as the input example).
SMALL_EXAMPLE = 100


@dataclass(frozen=True)
class RegistryVersion:
    """One registered model version, as the registry describes it."""

    name: str
    version: str
    run_id: str
    source: str  # where MLflow keeps its files (models:/m-…, runs:/…, s3://…)

    def to_metadata(self, uri: ModelUri, tracking_uri: str) -> dict[str, Any]:
        return {
            "uri": str(uri),
            "alias": uri.alias,
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "source": self.source,
            "tracking_uri": without_credentials(tracking_uri),
        }


def without_credentials(uri: str) -> str:
    """A tracking URI fit for logs and /model: user:password@ removed."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class MlflowSource:
    """Where MODEL_URI's versions come from, and the cache they are converted into: a
    ModelSource (app/ml/serving/sources.py) fetched in the background, that can move."""

    remote = True

    def __init__(self, uri: str, tracking_uri: str, cache_dir: Path, signing_key: str = "") -> None:
        self.uri = parse_model_uri(uri)
        self.tracking_uri = tracking_uri
        self._cache = cache_dir / self.uri.name
        self._signing_key = signing_key
        for key, value in _CLIENT_DEFAULTS.items():
            os.environ.setdefault(key, value)

    def describe(self) -> dict[str, str]:
        return {"model_uri": str(self.uri), "tracking_uri": without_credentials(self.tracking_uri)}

    def startup_contract(self) -> tuple[Contract | None, dict[str, Any]]:
        return None, {}  # known once the first version is fetched

    def locate(self) -> Path:
        return self.fetch(self.resolve())

    def revision(self) -> str | None:
        return self.resolve().version

    def revision_of(self, runtime: ModelRuntime) -> str | None:
        version = runtime.registry.get("version")
        return None if version is None else str(version)

    def resolve(self) -> RegistryVersion:
        """The version MODEL_URI names now. Raises ModelLoadError (registry_unavailable,
        registry_model_not_found, registry_access_denied)."""
        client = self._client()
        with _registry_errors(self):
            if self.uri.alias is not None:
                found = client.get_model_version_by_alias(self.uri.name, self.uri.alias)
            elif self.uri.version == "latest":
                versions = client.search_model_versions(
                    f"name='{self.uri.name}'", max_results=1, order_by=["version_number DESC"]
                )
                if not versions:
                    raise ModelLoadError(
                        "registry_model_not_found",
                        f"{self.uri.name} has no versions in the registry",
                        **self.describe(),
                    )
                found = versions[0]
            else:
                found = client.get_model_version(self.uri.name, str(self.uri.version))
        return RegistryVersion(found.name, str(found.version), found.run_id or "", found.source)

    def fetch(self, version: RegistryVersion) -> Path:
        """The version as a checked Glassbox artifact in the cache (converted once)."""
        if not is_safe_version(version.version):
            raise ModelLoadError("registry_version_invalid", f"version {version.version!r}")
        cached = self._cache / version.version
        if (cached / METADATA_FILE).is_file():
            return cached
        self._cache.mkdir(parents=True, exist_ok=True)
        download = Path(tempfile.mkdtemp(prefix=f".download-{version.version}-", dir=self._cache))
        try:
            with _registry_errors(self):
                import mlflow.artifacts

                uri = self._client().get_model_version_download_uri(version.name, version.version)
                local = mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=str(download), tracking_uri=self.tracking_uri
                )
            return self._convert(Path(local), version)
        finally:
            shutil.rmtree(download, ignore_errors=True)

    def _convert(self, local: Path, version: RegistryVersion) -> Path:
        from mlflow.models import Model

        try:
            mlmodel = Model.load(str(local))
        except Exception as exc:  # any unreadable MLmodel is one refusal
            raise _unsupported(version, f"its MLmodel file is not readable: {exc}") from exc
        flavor = mlmodel.flavors.get("sklearn")
        if flavor is None:
            raise _unsupported(
                version, f"it has no sklearn flavor (flavors: {sorted(mlmodel.flavors)})"
            )
        # Before the pickle is read: a model from another scikit-learn is refused unread.
        check_sklearn_version(str(flavor.get("sklearn_version", "unknown")), sklearn.__version__)
        import mlflow.sklearn

        model = mlflow.sklearn.load_model(str(local))
        inputs, rows = _inputs_and_rows(mlmodel, local, model, version)
        if len(rows) < SMALL_EXAMPLE:
            logger.warning(
                "drift_baseline_small",
                model_name=version.name,
                model_version=version.version,
                rows=len(rows),
                message=f"the input example has {len(rows)} rows: the drift baseline and "
                f"training ranges come from them; log {SMALL_EXAMPLE}+ rows for a useful one",
            )
        provenance = {
            "registry": version.to_metadata(self.uri, self.tracking_uri),
            "training_data": {"path": "mlflow input example", "rows": len(rows)},
        }
        try:
            return wrap_estimator(
                model,
                inputs,
                rows,
                name=version.name,
                version=version.version,
                output_dir=self._cache,
                trained_with=str(flavor["sklearn_version"]),
                provenance=provenance,
                signing_key=self._signing_key,
            )
        except (WrapError, ContractError, ValueError) as exc:
            raise _unsupported(version, str(exc)) from exc

    def _client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)


def _inputs_and_rows(
    mlmodel: Any, local: Path, model: Any, version: RegistryVersion
) -> tuple[tuple[Input, ...], npt.NDArray[Any]]:
    """The inputs (names and types from the signature's columns, else from the example)
    and the example's rows in that order, as the model takes them."""
    import pandas as pd

    example = mlmodel.load_input_example(str(local))
    if example is None:
        raise _unsupported(
            version,
            "it was logged without an input example (log_model(..., input_example=rows)): "
            "Glassbox takes the training ranges, categories, reference rows and drift "
            "baseline from it",
        )
    kinds: dict[str, Kind] = {}
    signature = mlmodel.signature
    if signature is not None and signature.inputs.has_input_names():
        for column in signature.inputs.inputs:
            kind = _KINDS.get(str(column.type.name) if hasattr(column.type, "name") else "")
            if kind is None:
                raise _unsupported(
                    version, f"input {column.name} has type {column.type}, not a scalar"
                )
            kinds[column.name] = kind
    if isinstance(example, pd.DataFrame):
        frame = example
    else:
        matrix = np.asarray(example)
        names = list(kinds) or [
            str(n)
            for n in getattr(model, "feature_names_in_", [f"x{i}" for i in range(matrix.shape[-1])])
        ]
        frame = pd.DataFrame(matrix.reshape(len(matrix), -1), columns=names)
    names = list(kinds) or [str(column) for column in frame.columns]
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise _unsupported(version, f"its input example lacks the signature's inputs {missing}")
    columns = [frame[name].tolist() for name in names]
    try:
        inputs = infer_inputs(names, columns, kinds)
        rows = np.array(
            [[training_value(item, value) for item, value in zip(inputs, row, strict=True)]
             for row in zip(*columns, strict=True)],
            dtype=np.float64 if all(item.numeric for item in inputs) else object,
        )  # fmt: skip
    except (ContractError, ValueError) as exc:
        raise _unsupported(version, str(exc)) from exc
    return inputs, rows


def _unsupported(version: RegistryVersion, why: str) -> ModelLoadError:
    return ModelLoadError(
        "mlflow_model_unsupported",
        f"{version.name} version {version.version} cannot be served: {why}",
        model_name=version.name,
        registry_version=version.version,
    )


@contextmanager
def _registry_errors(source: MlflowSource) -> Iterator[None]:
    """MLflow's exceptions as the load's reasons: not found, denied, or unavailable."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except ModelLoadError:
        raise
    except (MlflowException, OSError) as exc:
        code = getattr(exc, "error_code", "")
        reason = {
            "RESOURCE_DOES_NOT_EXIST": "registry_model_not_found",
            "INVALID_PARAMETER_VALUE": "registry_model_not_found",
            "PERMISSION_DENIED": "registry_access_denied",
            "UNAUTHENTICATED": "registry_access_denied",
        }.get(code, "registry_unavailable")
        message = _why(exc)
        if reason == "registry_unavailable":
            message = f"no answer from {source.describe()['tracking_uri']}: {message}"
        raise ModelLoadError(reason, message, **source.describe()) from exc


def _why(exc: BaseException) -> str:
    """The innermost cause, whole. MLflow folds requests' retries and urllib3's pool into one
    long line; cut at 300 characters, the reason read `... HTTPConnectionPool(host='12`."""
    inner, seen = exc, {id(exc)}
    while True:
        linked = [inner.__cause__, inner.__context__, getattr(inner, "reason", None), *inner.args]
        deeper = next((e for e in linked if isinstance(e, BaseException)), None)
        if deeper is None or id(deeper) in seen:
            break
        inner = deeper
        seen.add(id(inner))
    if inner is exc:
        text = str(getattr(exc, "message", exc)).strip().splitlines() or [type(exc).__name__]
        return textwrap.shorten(text[0], 300, placeholder=" ...")
    said = inner.strerror if isinstance(inner, OSError) and inner.strerror else str(inner)
    return f"{type(inner).__name__}: {textwrap.shorten(said, 200, placeholder=' ...')}"
