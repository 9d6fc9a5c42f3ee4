"""A training CSV as a model sees it: typed inputs in column order, the target, the contract.

train.py and wrap.py read their data through this module, so a column is typed the same
way whether a model is trained here or brought: inferred from its values (app/ml/contract.py),
else given by `--column NAME=TYPE` or a contract file (FILE.contract.json beside the CSV by
default: task, and per input type, bounds and description; data/iris.contract.json).
"""

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.ml.contract import (
    BOUND_KEYS,
    TASKS,
    Contract,
    ContractError,
    Input,
    Kind,
    Task,
    infer_inputs,
    parse_kind,
    training_value,
)

TARGET = "species"
# A whole-number target with at most this many distinct values is a class label (auto task).
MAX_CLASSES = 20


class DatasetError(ValueError):
    pass


@dataclass(frozen=True)
class Dataset:
    """The CSV as the model sees it: inputs in contract order, the target, the contract."""

    features: npt.NDArray[Any]  # float64, or object when some input is a category
    target: npt.NDArray[Any]  # class indices (int64), or values (float64)
    contract: Contract

    @property
    def class_names(self) -> list[str]:
        return list(self.contract.class_names)


def load_dataset(
    path: Path,
    target: str = TARGET,
    *,
    task: str = "auto",
    overrides: Mapping[str, Kind] | None = None,
    contract_file: Path | None = None,
    drop: Sequence[str] = (),
) -> Dataset:
    """Read the CSV and infer (or take) its contract; see the module docstring."""
    table = read_table(path, target, overrides=overrides, contract_file=contract_file, drop=drop)
    labels = table.labels or []
    declared_task = table.declared.get("task")
    chosen: Task = _task_of(labels, declared_task if task == "auto" else task)
    if chosen == "regression":
        try:
            values = np.array([float(label) for label in labels], dtype=np.float64)
        except ValueError as exc:
            raise DatasetError(f"{path}: regression target {target} is not numeric: {exc}") from exc
        if not np.isfinite(values).all():
            raise DatasetError(f"{path}: target {target} has NaN or infinite values")
        return Dataset(table.features, values, Contract("regression", table.inputs))
    class_names = sorted(set(labels))
    if len(class_names) < 2:
        raise DatasetError(f"{path}: target {target} has one class only")
    indices = np.array([class_names.index(label) for label in labels], dtype=np.int64)
    contract = Contract("classification", table.inputs, tuple(class_names))
    return Dataset(table.features, indices, contract)


@dataclass(frozen=True)
class Table:
    """A CSV's inputs (typed, in column order) and, when it has one, its target column."""

    inputs: tuple[Input, ...]
    features: npt.NDArray[Any]
    labels: list[str] | None
    declared: dict[str, Any]  # the contract file, if any


def read_table(
    path: Path,
    target: str | None,
    *,
    overrides: Mapping[str, Kind] | None = None,
    contract_file: Path | None = None,
    drop: Sequence[str] = (),
) -> Table:
    """Every column but `target` and `drop` as a typed input (train.py and wrap.py); the
    contract file defaults to FILE.contract.json beside the CSV, when there is one."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    missing = [c for c in (*([target] if target else []), *drop) if c not in columns]
    if missing:
        raise DatasetError(f"{path} lacks columns {missing}")
    if not rows:
        raise DatasetError(f"{path} has no rows")
    names = [c for c in columns if c != target and c not in drop]
    used = [*names, *([target] if target else [])]
    empty = [c for c in used if any(row[c] is None or row[c].strip() == "" for row in rows)]
    if empty:
        raise DatasetError(f"{path} has empty values in columns {empty} (fill or --drop them)")
    if contract_file is None and path.with_suffix(".contract.json").is_file():
        contract_file = path.with_suffix(".contract.json")
    declared = _read_contract_file(contract_file) if contract_file else {}
    specs: dict[str, Any] = declared.get("inputs", {})
    unknown = set(specs) - set(names)
    if unknown:
        raise DatasetError(f"{contract_file} names columns not in {path}: {sorted(unknown)}")
    kinds = {name: parse_kind(name, spec["type"]) for name, spec in specs.items() if "type" in spec}
    kinds.update(overrides or {})
    try:
        inputs = infer_inputs(names, [[row[name] for row in rows] for name in names], kinds)
        features = np.array(
            [[training_value(item, row[item.name]) for item in inputs] for row in rows],
            dtype=np.float64 if all(item.numeric for item in inputs) else object,
        )
    except (ContractError, ValueError) as exc:
        raise DatasetError(f"{path}: {exc}") from exc
    inputs = tuple(_declared(item, specs.get(item.name, {})) for item in inputs)
    labels = [row[target] for row in rows] if target else None
    return Table(inputs, features, labels, declared)


def _read_contract_file(path: Path) -> dict[str, Any]:
    try:
        declared: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"contract file {path} is not readable JSON: {exc}") from exc
    return declared


def _declared(item: Input, spec: Mapping[str, Any]) -> Input:
    """An inferred input with a contract file's bounds and description applied."""
    bounds = {key: float(value) for key, value in (spec.get("bounds") or {}).items()}
    if not set(bounds) <= set(BOUND_KEYS) or (bounds and item.kind not in ("number", "integer")):
        raise DatasetError(f"input {item.name}: bounds {bounds} (gt/ge/lt/le on numbers only)")
    return Input(
        item.name,
        item.kind,
        item.minimum,
        item.maximum,
        item.categories,
        bounds,
        str(spec.get("description", "")),
    )


def _task_of(labels: Sequence[str], task: str | None) -> Task:
    for known in TASKS:
        if task == known:
            return known
    if task not in (None, "auto"):
        raise DatasetError(f"task {task!r} is not classification, regression or auto")
    try:
        values = [float(label) for label in labels]
    except ValueError:
        return "classification"
    whole = all(math.isfinite(v) and v.is_integer() for v in values)
    return "classification" if whole and len(set(values)) <= MAX_CLASSES else "regression"


def column_type(text: str) -> tuple[str, Kind]:
    name, sep, kind = text.partition("=")
    if not sep:
        raise ContractError(f"--column {text!r}: write NAME=TYPE")
    return name, parse_kind(name, kind)
