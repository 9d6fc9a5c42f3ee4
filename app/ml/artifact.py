"""The model artifact on disk: `model.joblib`, `metadata.json` and, when it converts, `model.onnx`;
plus any companion files (a regressor's loss model: app/ml/loss_estimate.py), each with its
SHA-256 in the signed metadata.json.

train.py writes it and the service reads it, both through this module, so the
two sides cannot disagree about the format. Loading checks everything that
turns a version skew or a corrupt file into a clear refusal instead of a
`KeyError` or a crash loop at the first request.
"""

import hashlib
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import numpy.typing as npt
import sklearn

from app.ml import signing
from app.ml.contract import Contract, ContractError

MODEL_FILE = "model.joblib"
ONNX_FILE = "model.onnx"
SIGNATURE_FILE = signing.SIGNATURE_FILE
METADATA_FILE = "metadata.json"


class ModelLoadError(Exception):
    """The artifact cannot be served; `reason` is a stable code, `details` the evidence."""

    def __init__(self, reason: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.details = details


@dataclass(frozen=True)
class LoadedArtifact:
    model: Any
    metadata: dict[str, Any]
    path: Path
    contract: Contract
    onnx_model: bytes | None = None
    # Training rows the service replays at load to prove the ONNX export agrees.
    reference_rows: npt.NDArray[Any] | None = None
    # True when metadata.json's signature was checked against MODEL_PUBLIC_KEY.
    verified: bool = False
    # Companion files by name, each matching its checksum in metadata.json.
    companions: dict[str, bytes] = field(default_factory=dict)


_VERSION_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
LATEST = "latest"  # the pointer to the served version, never a version itself


def is_safe_version(version: str) -> bool:
    """A version is a folder name under the artifacts directory: 1-64 of [A-Za-z0-9._-], not
    starting with '.', so it can never climb out of it or hide as a dotfile, and not
    `latest`, the symlink beside the versions (a version by that name made it a loop)."""
    return (
        0 < len(version) <= 64
        and not version.startswith(".")
        and set(version) <= _VERSION_CHARACTERS
        and version != LATEST
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def write_artifact(
    model: Any,
    metadata: dict[str, Any],
    output_dir: Path,
    version: str,
    onnx_model: bytes | None = None,
    signing_key: str | None = None,
    companions: dict[str, bytes] | None = None,
) -> Path:
    """Write `output_dir/<version>/` atomically and return it; `latest` is not touched.
    `companions` are more files by name, checksummed in metadata.json's `companion_sha256`."""
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=output_dir))
    staging.chmod(0o755)  # mkdtemp's 0700 would hide the model from a non-root runtime user
    try:
        joblib.dump(model, staging / MODEL_FILE)
        full = {**metadata, "model_sha256": sha256_file(staging / MODEL_FILE)}
        if onnx_model is not None:
            (staging / ONNX_FILE).write_bytes(onnx_model)
            full["onnx_sha256"] = sha256_file(staging / ONNX_FILE)
        if companions:
            for name, content in companions.items():
                if name in (MODEL_FILE, ONNX_FILE, METADATA_FILE, SIGNATURE_FILE) or "/" in name:
                    raise ValueError(f"a companion file cannot be named {name!r}")
                (staging / name).write_bytes(content)
            full["companion_sha256"] = {
                name: hashlib.sha256(content).hexdigest() for name, content in companions.items()
            }
        metadata_bytes = (json.dumps(full, indent=2, sort_keys=True) + "\n").encode()
        (staging / METADATA_FILE).write_bytes(metadata_bytes)
        if signing_key:
            (staging / SIGNATURE_FILE).write_text(signing.sign(metadata_bytes, signing_key))
        target = output_dir / version
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def point_latest(output_dir: Path, version: str) -> Path:
    """Atomically repoint the `latest` symlink at `version` (relative, so the tree can move)."""
    if not is_safe_version(version):
        raise ValueError(f"refusing to point latest at {version!r}")
    latest = output_dir / LATEST
    tmp_link = output_dir / f".latest-{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    tmp_link.symlink_to(version, target_is_directory=True)
    tmp_link.replace(latest)
    return latest


def _verify_signature(model_dir: Path, metadata_bytes: bytes, public_key: str) -> None:
    signature = model_dir / SIGNATURE_FILE
    if not signature.is_file():
        raise ModelLoadError(
            "signature_missing",
            f"MODEL_PUBLIC_KEY is set but {model_dir} has no {SIGNATURE_FILE}; "
            "train with MODEL_SIGNING_KEY",
        )
    if not signing.verify(metadata_bytes, signature.read_text(), public_key):
        raise ModelLoadError(
            "signature_invalid",
            f"{METADATA_FILE} is not signed by the key in MODEL_PUBLIC_KEY: the artifact was "
            "altered or signed by someone else; nothing in it was loaded",
        )


def read_metadata(model_dir: Path, public_key: str = "") -> dict[str, Any]:
    """metadata.json, its signature checked first when a public key is configured."""
    path = model_dir / METADATA_FILE
    if model_dir.is_symlink() and not model_dir.exists():
        raise ModelLoadError(
            "artifact_missing",
            f"{model_dir} points at {os.readlink(model_dir)!r}, which does not resolve (a "
            "removed version, or a loop); repoint it: `make promote VERSION=<version>`",
            model_dir=str(model_dir),
        )
    if not path.is_file():
        raise ModelLoadError(
            "artifact_missing",
            f"no {METADATA_FILE} in {model_dir}; train one: `make train TRAIN_ARGS=--promote`, "
            "or promote a trained version: `make promote VERSION=<version>`",
            model_dir=str(model_dir),
        )
    try:
        metadata_bytes = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(
            "metadata_invalid", f"{path} is not readable: {exc}", model_dir=str(model_dir)
        ) from exc
    if public_key:  # the bytes verified are the bytes parsed: no second read to race
        _verify_signature(model_dir, metadata_bytes, public_key)
    try:
        metadata: dict[str, Any] = json.loads(metadata_bytes)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            "metadata_invalid", f"{path} is not readable JSON: {exc}", model_dir=str(model_dir)
        ) from exc
    required = ("model_name", "model_version", "feature_names", "model_sha256")
    missing = [key for key in required if key not in metadata]
    if missing or "sklearn" not in metadata.get("versions", {}):
        raise ModelLoadError(
            "metadata_invalid",
            f"{path} lacks required keys",
            missing=missing or ["versions.sklearn"],
        )
    contract_of(metadata, path)  # a broken contract is refused before anything is unpickled
    return metadata


def contract_of(metadata: dict[str, Any], path: Path) -> Contract:
    """The artifact's contract, which must name `feature_names` in order."""
    try:
        contract = Contract.from_metadata(metadata)
    except ContractError as exc:
        raise ModelLoadError(
            "metadata_invalid", f"{path}: the model's contract is invalid: {exc}"
        ) from exc
    if contract.names != list(metadata["feature_names"]):
        raise ModelLoadError(
            "metadata_invalid",
            f"{path}: the contract's inputs are not feature_names",
            contract_inputs=contract.names,
            feature_names=metadata["feature_names"],
        )
    return contract


def load_artifact(model_dir: Path, public_key: str = "") -> LoadedArtifact:
    """Load and verify an artifact, raising ModelLoadError with the reason it cannot serve.

    With `public_key`, nothing is unpickled unless metadata.json's signature holds, and
    the model files must match the checksums in that signed metadata.
    """
    metadata = read_metadata(model_dir, public_key)
    model_path = model_dir / MODEL_FILE
    if not model_path.is_file():
        raise ModelLoadError(
            "artifact_missing", f"no {MODEL_FILE} in {model_dir}", model_dir=str(model_dir)
        )

    actual_sha = sha256_file(model_path)
    if actual_sha != metadata["model_sha256"]:
        raise ModelLoadError(
            "checksum_mismatch",
            f"{MODEL_FILE} does not match the SHA-256 recorded in {METADATA_FILE}",
            expected_sha256=metadata["model_sha256"],
            actual_sha256=actual_sha,
        )

    trained_with = str(metadata["versions"]["sklearn"])
    if major_minor(trained_with) != major_minor(sklearn.__version__):
        # Refuse before unpickling: pickles across scikit-learn minors load with
        # a warning and then fail or mispredict at the first request.
        raise ModelLoadError(
            "sklearn_version_mismatch",
            f"model trained with scikit-learn {trained_with}, "
            f"but {sklearn.__version__} is installed; retrain or pin scikit-learn",
            trained_sklearn_version=trained_with,
            installed_sklearn_version=sklearn.__version__,
        )

    model = unpickle(model_path, MODEL_FILE)

    contract = contract_of(metadata, model_dir / METADATA_FILE)
    check_compatible(model, contract)
    return LoadedArtifact(
        model=model,
        metadata=metadata,
        path=model_dir,
        contract=contract,
        onnx_model=_read_onnx(model_dir, metadata),
        reference_rows=_reference_rows(metadata, contract),
        verified=bool(public_key),
        companions=_read_companions(model_dir, metadata),
    )


def check_compatible(model: Any, contract: Contract) -> None:
    """The estimator can answer what the contract promises: predict_proba over the
    contract's classes, or predict; as many inputs (and the same names, if it has them)."""
    method = "predict_proba" if contract.task == "classification" else "predict"
    n_features = len(contract.inputs)
    if not hasattr(model, method) or getattr(model, "n_features_in_", None) != n_features:
        raise ModelLoadError(
            "model_incompatible",
            f"model lacks {method} or expects a different number of features",
            expected_features=n_features,
            model_features=getattr(model, "n_features_in_", None),
        )
    names = getattr(model, "feature_names_in_", None)
    if names is not None and list(names) != contract.names:
        raise ModelLoadError(
            "model_incompatible",
            "model was fitted on other column names than the contract's inputs",
            model_columns=[str(name) for name in names],
            contract_inputs=contract.names,
        )
    if contract.task == "regression":
        if hasattr(model, "classes_"):
            raise ModelLoadError(
                "model_incompatible", "the contract says regression but the model is a classifier"
            )
        return
    classes = list(getattr(model, "classes_", []))
    if len(classes) != len(contract.class_names):
        raise ModelLoadError(
            "model_incompatible",
            "model classes do not match metadata class_names",
            model_classes=len(classes),
            metadata_classes=len(contract.class_names),
        )


def _read_onnx(model_dir: Path, metadata: dict[str, Any]) -> bytes | None:
    """The ONNX export, if training wrote one; a file that fails its checksum is refused."""
    expected = metadata.get("onnx_sha256")
    return None if expected is None else _checked_file(model_dir, ONNX_FILE, expected)


def _read_companions(model_dir: Path, metadata: dict[str, Any]) -> dict[str, bytes]:
    """Each companion file metadata.json names, refused if missing or not its checksum."""
    expected = metadata.get("companion_sha256", {})
    if not isinstance(expected, dict):
        raise ModelLoadError("metadata_invalid", "companion_sha256 is not a mapping")
    return {name: _checked_file(model_dir, name, checksum) for name, checksum in expected.items()}


def _checked_file(model_dir: Path, name: str, expected: str) -> bytes:
    """A file metadata.json names, read once and held to its SHA-256 there."""
    path = model_dir / name
    if "/" in name or not path.is_file():
        raise ModelLoadError("artifact_missing", f"metadata names {name} but {model_dir} has none")
    content = path.read_bytes()
    actual = hashlib.sha256(content).hexdigest()
    if actual != expected:
        raise ModelLoadError(
            "checksum_mismatch",
            f"{name} does not match the SHA-256 recorded in {METADATA_FILE}",
            expected_sha256=expected,
            actual_sha256=actual,
        )
    return content


def _reference_rows(metadata: dict[str, Any], contract: Contract) -> npt.NDArray[Any] | None:
    """Training rows as the model takes them (float64, or object with categories)."""
    rows = metadata.get("reference_inputs")
    if not rows:
        return None
    try:
        array = np.asarray(rows, dtype=np.float64 if contract.numeric else object)
    except (TypeError, ValueError):
        return None
    return array if array.ndim == 2 and array.shape[1] == len(contract.inputs) else None


def unpickle(source: Path | io.BytesIO, name: str) -> Any:
    """A pickled file of the artifact (the model, a companion), or ModelLoadError naming it:
    the one refusal every unpickle of a checked artifact file gives."""
    try:
        return joblib.load(source)
    except Exception as exc:
        raise ModelLoadError(
            "unpickle_failed", f"{name} could not be unpickled: {type(exc).__name__}: {exc}"
        ) from exc
