"""The model's contract: its task, its inputs in order with a type each, and its outputs.

Training (train.py) and wrapping (wrap.py) infer it from data and store it in metadata.json
(`task`, `inputs`, `class_names`); the service builds its request and response models, its
byte budgets and its OpenAPI document from it (app/api/model_api.py), so the model defines
the API.
A column's type is inferred from its values and can be given instead (`--column NAME=TYPE`
or a contract file), because inference cannot tell a category coded as 1/2/3 from a count:

- `boolean`: every value is true/false (any case) or, for a bool column, a bool;
- `integer`: every value is a whole number written as one (an int, or text like "3" but
  not "3.0");
- `number`: every value parses as a finite float;
- `category`: anything else; its allowed values are the distinct training values.

Beyond its type a numeric input can declare `bounds` (`gt`, `ge`, `lt`, `le`): the domain
a request must stay in (Iris's 0 < cm <= 100), distinct from the training range (`minimum`,
`maximum`) that the out-of-range policy and the drift counters use.

An input's name is the model's own column name, whatever a DataFrame can hold (load_wine's
`od280/od315_of_diluted_wines`): renaming would mean refitting. It is the JSON key clients
send; the request bodies keep it under a Python name of their own (`field_names`).
"""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

Task = Literal["classification", "regression"]
Kind = Literal["number", "integer", "boolean", "category"]
KINDS: tuple[Kind, ...] = ("number", "integer", "boolean", "category")
TASKS: tuple[Task, ...] = ("classification", "regression")
BOUND_KEYS = ("gt", "ge", "lt", "le")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
MAX_NAME_LENGTH = 256


class ContractError(ValueError):
    """The data, a type override or a stored contract cannot make a valid contract."""


@dataclass(frozen=True)
class Input:
    name: str
    kind: Kind
    minimum: float | None = None  # training range: numbers, integers
    maximum: float | None = None
    categories: tuple[str, ...] = ()  # category: the training values, sorted
    bounds: Mapping[str, float] = field(default_factory=dict)  # gt/ge/lt/le a request obeys
    description: str = ""

    @property
    def numeric(self) -> bool:
        """Sent to the model as a float (booleans as 0/1)."""
        return self.kind != "category"

    def to_json(self) -> dict[str, Any]:
        stored: dict[str, Any] = {"name": self.name, "type": self.kind}
        if self.kind != "category":  # a boolean's range says whether both values occurred
            stored |= {"minimum": self.minimum, "maximum": self.maximum}
        if self.kind == "category":
            stored["categories"] = list(self.categories)
        if self.bounds:
            stored["bounds"] = dict(self.bounds)
        if self.description:
            stored["description"] = self.description
        return stored

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> "Input":
        name, kind = stored.get("name"), stored.get("type")
        if not isinstance(name, str):
            raise ContractError(f"input name {name!r} is not text")
        check_name(name)
        if kind not in KINDS:
            raise ContractError(f"input {name}: type {kind!r} is not one of {list(KINDS)}")
        bounds = dict(stored.get("bounds") or {})
        if not set(bounds) <= set(BOUND_KEYS) or (kind not in ("number", "integer") and bounds):
            raise ContractError(f"input {name}: bounds {bounds} (gt/ge/lt/le on numbers only)")
        categories = tuple(str(c) for c in stored.get("categories") or ())
        if kind == "category" and not categories:
            raise ContractError(f"input {name}: a category needs its training categories")
        return cls(
            name=name,
            kind=cast(Kind, kind),
            minimum=_optional_float(stored.get("minimum")),
            maximum=_optional_float(stored.get("maximum")),
            categories=categories,
            bounds={key: float(value) for key, value in bounds.items()},
            description=str(stored.get("description", "")),
        )


@dataclass(frozen=True)
class Contract:
    task: Task
    inputs: tuple[Input, ...]
    class_names: tuple[str, ...] = ()  # classification only, in the model's class order

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ContractError(f"task {self.task!r} is not one of {list(TASKS)}")
        if not self.inputs:
            raise ContractError("a model needs at least one input")
        names = [item.name for item in self.inputs]
        if len(set(names)) != len(names):
            raise ContractError(f"input names repeat: {names}")
        if self.task == "classification" and len(self.class_names) < 2:
            raise ContractError("a classifier needs at least two class names")
        if self.task == "regression" and self.class_names:
            raise ContractError("a regression model has no class names")

    @property
    def names(self) -> list[str]:
        return [item.name for item in self.inputs]

    @property
    def field_names(self) -> list[str]:
        """The Python attribute a request body keeps each input under, the name being its
        alias: any column name is a JSON key, few are identifiers (and an identifier can
        still shadow pydantic's own attributes: `json`, `model_config`)."""
        return [f"input_{index}" for index in range(len(self.inputs))]

    @property
    def numeric(self) -> bool:
        """Every input goes to the model as a float: one [N, F] float64 matrix."""
        return all(item.numeric for item in self.inputs)

    @property
    def shape(self) -> tuple[Any, ...]:
        """What the HTTP API is built from: the task and each input's name, type and
        declared bounds. A retrained model with other training ranges, categories, classes
        or example has the same shape and can be swapped in; another shape is a rollout."""
        return (
            self.task,
            tuple(
                (item.name, item.kind, tuple(sorted(item.bounds.items()))) for item in self.inputs
            ),
        )

    def to_metadata(self) -> dict[str, Any]:
        """The keys metadata.json carries for it (`feature_names` restates the inputs'
        names for readers that predate contracts)."""
        stored: dict[str, Any] = {
            "task": self.task,
            "inputs": [item.to_json() for item in self.inputs],
            "feature_names": self.names,
        }
        if self.task == "classification":
            stored["class_names"] = list(self.class_names)
        return stored

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> "Contract":
        """The stored contract; an artifact from before contracts is an all-number
        classifier over `feature_names` with its `feature_ranges`."""
        try:
            if "inputs" in metadata:
                inputs = tuple(Input.from_json(item) for item in metadata["inputs"])
            else:
                ranges = metadata.get("feature_ranges") or {}
                inputs = tuple(
                    Input(
                        name,
                        "number",
                        _optional_float(ranges.get(name, {}).get("min")),
                        _optional_float(ranges.get(name, {}).get("max")),
                    )
                    for name in metadata.get("feature_names", [])
                )
            return cls(
                task=metadata.get("task", "classification"),
                inputs=inputs,
                class_names=tuple(str(name) for name in metadata.get("class_names", [])),
            )
        except (AttributeError, KeyError, TypeError) as exc:
            raise ContractError(f"inputs lack or mistype {exc}") from exc

    def encode_row(self, row: Mapping[str, Any]) -> list[Any]:
        """A request row (field name -> JSON value) as the model's row: numbers as floats
        (booleans 0/1), categories as strings, in contract order."""
        return [
            str(row[item.name]) if item.kind == "category" else float(row[item.name])
            for item in self.inputs
        ]

    def example_of(self, row: Sequence[Any]) -> dict[str, Any]:
        """A model row back as a valid request body (JSON types by input kind)."""
        return {
            item.name: _as_json(item, value) for item, value in zip(self.inputs, row, strict=True)
        }


def infer_inputs(
    names: Sequence[str], columns: Sequence[Sequence[Any]], overrides: Mapping[str, Kind]
) -> tuple[Input, ...]:
    """Each column's Input from its training values (see the module docstring), with the
    user's overrides applied first."""
    unknown = set(overrides) - set(names)
    if unknown:
        raise ContractError(f"type given for columns not in the data: {sorted(unknown)}")
    return tuple(
        _input_of(name, list(column), overrides.get(name))
        for name, column in zip(names, columns, strict=True)
    )


def parse_kind(name: str, text: str) -> Kind:
    for kind in KINDS:
        if text == kind:
            return kind
    raise ContractError(f"column {name}: type {text!r} is not one of {list(KINDS)}")


def check_name(name: str) -> None:
    """Any name a column can have is served (as the JSON key), but not one no client can
    write plainly: empty, over MAX_NAME_LENGTH characters, or with control characters."""
    if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise ContractError(
            f"column {name[:MAX_NAME_LENGTH]!r} cannot be a JSON key clients send: 1 to "
            f"{MAX_NAME_LENGTH} printable characters"
        )


def _input_of(name: str, values: list[Any], kind: Kind | None) -> Input:
    check_name(name)
    if not values:
        raise ContractError(f"column {name} has no values")
    kind = kind or _infer_kind(values)
    if kind == "category":
        return Input(name, kind, categories=tuple(sorted({str(v) for v in values})))
    try:
        numbers = [_as_number(value, kind) for value in values]
    except ValueError as exc:
        raise ContractError(f"column {name} cannot be {kind}: {exc}") from exc
    return Input(name, kind, minimum=min(numbers), maximum=max(numbers))


def _infer_kind(values: Sequence[Any]) -> Kind:
    """boolean, else integer (whole numbers written without a decimal point, as pandas
    reads them: "127.0" is a number), else number, else category."""
    candidates: tuple[Kind, ...] = ("boolean", "integer", "number")
    for kind in candidates:
        try:
            for value in values:
                _as_number(value, kind)
                if kind == "integer" and isinstance(value, str) and not _INTEGER.fullmatch(value):
                    raise ValueError(f"{value!r} is written as a decimal")
        except ValueError:
            continue
        return kind
    return "category"


def _as_number(value: Any, kind: Kind) -> float:
    """The model's float for a training value of this kind; ValueError when it is not one."""
    if kind == "boolean":
        if isinstance(value, bool):
            return float(value)
        text = str(value).strip().lower()
        if text in ("true", "false"):
            return float(text == "true")
        raise ValueError(f"{value!r} is not true/false")
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not finite")
    if kind == "integer" and not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return number


def training_value(item: Input, value: Any) -> Any:
    """A training value as the model sees it: a float, or the category's string."""
    return str(value) if item.kind == "category" else _as_number(value, item.kind)


def _as_json(item: Input, value: Any) -> Any:
    if item.kind == "category":
        return str(value)
    if item.kind == "boolean":
        return bool(value)
    if item.kind == "integer":
        return int(value)
    return float(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)
