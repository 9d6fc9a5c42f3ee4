"""The Open Inference Protocol's REST bodies (the "V2" protocol of KServe, Triton, MLServer),
typed from its specification (kserve/open-inference-protocol, inference_rest.md), and the
mapping between its tensors and the served model's rows.

A request may send the model's inputs in either form the protocol allows:

- one tensor per input, named as the input, shape [N] or [N, 1], with the datatype of its
  kind (number: FP16/32/64 or an integer type; integer: an integer type; boolean: BOOL;
  category: BYTES) -- what GET /v2/models/{name} describes;
- one [N, F] tensor of every input in the model's order, any name, a numeric datatype,
  when every input is numeric (what MLServer's scikit-learn runtime and most tritonclient
  examples send).

Either way the rows then go through the same request body /predict/batch validates
(app/api/model_api.py): the same strictness, bounds, batch limit and error messages --
except the common case `plain_number_matrix` recognises, which it proves valid by the same
rules without building a row per instance.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from app.ml.contract import Contract, Input

Parameters = dict[str, str | int | float | bool]
FLOAT_TYPES = frozenset({"FP16", "FP32", "FP64"})
INTEGER_TYPES = frozenset(
    {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
)
DATATYPES = FLOAT_TYPES | INTEGER_TYPES | {"BOOL", "BYTES"}
# What each input kind accepts, and what the metadata advertises for it.
ACCEPTED = {
    "number": FLOAT_TYPES | INTEGER_TYPES,
    "integer": INTEGER_TYPES,
    "boolean": frozenset({"BOOL"}),
    "category": frozenset({"BYTES"}),
}
ADVERTISED = {"number": "FP64", "integer": "INT64", "boolean": "BOOL", "category": "BYTES"}


class TensorError(ValueError):
    """A request whose tensors do not describe this model's rows (a 400)."""


class MetadataTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class MetadataServerResponse(BaseModel):
    name: str
    version: str
    extensions: list[str]


class MetadataModelResponse(BaseModel):
    name: str
    versions: list[str] | None = None
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: Parameters | None = None


class ServerLiveResponse(BaseModel):
    live: bool


class ServerReadyResponse(BaseModel):
    ready: bool


class ModelReadyResponse(BaseModel):
    name: str
    ready: bool


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=256)
    shape: list[int] = Field(min_length=1, max_length=8)
    datatype: str
    parameters: Parameters | None = None
    data: list[Any]


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    parameters: Parameters | None = None


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, max_length=256)
    parameters: Parameters | None = None
    inputs: list[RequestInput] = Field(min_length=1, max_length=1024)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


class ErrorResponse(BaseModel):
    error: str


def model_inputs(contract: Contract) -> list[MetadataTensor]:
    """One tensor per input, as the model's metadata describes them."""
    return [
        MetadataTensor(name=item.name, datatype=ADVERTISED[item.kind], shape=[-1, 1])
        for item in contract.inputs
    ]


def output_names(task: str) -> list[str]:
    """The outputs an infer answers by default, in order (model_outputs' names)."""
    return ["predict"] if task == "regression" else ["predict", "predict_label", "predict_proba"]


def model_outputs(contract: Contract) -> list[MetadataTensor]:
    if contract.task == "regression":
        return [MetadataTensor(name="predict", datatype="FP64", shape=[-1])]
    classes = len(contract.class_names)
    return [
        MetadataTensor(name="predict", datatype="INT64", shape=[-1]),
        MetadataTensor(name="predict_label", datatype="BYTES", shape=[-1]),
        MetadataTensor(name="predict_proba", datatype="FP64", shape=[-1, classes]),
    ]


def rows_of(request: InferenceRequest, contract: Contract, max_rows: int) -> list[dict[str, Any]]:
    """The request's tensors as request rows (field name -> JSON value), or TensorError."""
    names = contract.names
    if len(request.inputs) == 1 and request.inputs[0].name not in names:
        return _rows_of_matrix(request.inputs[0], contract, max_rows)
    by_name = {tensor.name: tensor for tensor in request.inputs}
    if len(by_name) != len(request.inputs):
        raise TensorError("an input tensor is given twice")
    unknown = sorted(set(by_name) - set(names))
    missing = [name for name in names if name not in by_name]
    if unknown or missing:
        raise TensorError(
            f"this model takes one tensor per input {names} (or one [N, {len(names)}] tensor);"
            f" unknown: {unknown}, missing: {missing}"
        )
    columns: list[list[Any]] = []
    count: int | None = None
    for item in contract.inputs:
        tensor = by_name[item.name]
        _check_datatype(tensor, item)
        if not (len(tensor.shape) == 1 or (len(tensor.shape) == 2 and tensor.shape[1] == 1)):
            raise TensorError(f"input {item.name!r} has shape {tensor.shape}; send [N] or [N, 1]")
        rows = _dimension(tensor.shape[0], item.name, max_rows)
        if count is not None and rows != count:
            raise TensorError(f"input {item.name!r} has {rows} rows, the others {count}")
        count = rows
        columns.append(
            [
                _element(value, tensor.datatype, item)
                for value in _flat(tensor.name, tensor.shape, tensor.data, rows)
            ]
        )
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _rows_of_matrix(
    tensor: RequestInput, contract: Contract, max_rows: int
) -> list[dict[str, Any]]:
    width = len(contract.inputs)
    if not contract.numeric:
        raise TensorError(
            f"input {tensor.name!r} is not one of this model's inputs {contract.names}; a model "
            "with categorical inputs takes one tensor per input"
        )
    if len(tensor.shape) != 2 or tensor.shape[1] != width:
        raise TensorError(
            f"input {tensor.name!r} has shape {tensor.shape}; send [N, {width}] in the order "
            f"{contract.names}, or one tensor per input"
        )
    if tensor.datatype not in FLOAT_TYPES | INTEGER_TYPES:
        raise TensorError(
            f"input {tensor.name!r} has datatype {tensor.datatype}; an [N, {width}] tensor of "
            "this model's inputs is FP16/FP32/FP64 or an integer type"
        )
    rows = _dimension(tensor.shape[0], tensor.name, max_rows)
    values = _flat(tensor.name, tensor.shape, tensor.data, rows * width)
    types = set(map(type, values))
    if all(item.kind == "number" for item in contract.inputs) and (
        types <= {int, float} if tensor.datatype in FLOAT_TYPES else types <= {int}
    ):
        converted = values  # plain numbers for number inputs: nothing to convert per element
    else:
        converted = [
            _matrix_element(value, tensor.datatype, contract.inputs[i % width])
            for i, value in enumerate(values)
        ]
    return [
        dict(zip(contract.names, converted[start : start + width], strict=True))
        for start in range(0, len(converted), width)
    ]


@dataclass(frozen=True)
class NumberDomain:
    """The bounds of a model whose inputs are all numbers, per input in order, made once
    per API (app/api/routes/v2.py) for `plain_number_matrix`: gt/lt default to -inf/+inf,
    so checking them also refuses inf and NaN; ge/le to the same infinities."""

    names: frozenset[str]
    gt: tuple[float, ...]
    ge: tuple[float, ...]
    lt: tuple[float, ...]
    le: tuple[float, ...]
    order: tuple[str, ...] = ()  # the names in input order

    @property
    def width(self) -> int:
        return len(self.gt)


def number_domain(contract: Contract | None) -> NumberDomain | None:
    """The contract's NumberDomain; None unless every input is a number."""
    if contract is None or any(item.kind != "number" for item in contract.inputs):
        return None
    bounds = [item.bounds for item in contract.inputs]
    return NumberDomain(
        frozenset(contract.names),
        tuple(float(b.get("gt", -math.inf)) for b in bounds),
        tuple(float(b.get("ge", -math.inf)) for b in bounds),
        tuple(float(b.get("lt", math.inf)) for b in bounds),
        tuple(float(b.get("le", math.inf)) for b in bounds),
        tuple(contract.names),
    )


def plain_number_row(data: Any, domain: NumberDomain) -> npt.NDArray[np.float64] | None:
    """The model's one-row matrix straight from a /predict body of plain numbers, when the
    row body would accept it: an object with exactly the model's inputs, each an int or a
    float (not a bool), finite, within its bounds. None for anything else, which the row
    body validates for its exact error. Validating the body and reading the matrix back
    from its attributes was ~8 µs of a /predict in the app (timed in process)."""
    if type(data) is not dict or len(data) != domain.width:
        return None
    try:
        values = [data[name] for name in domain.order]
    except KeyError:
        return None
    if not set(map(type, values)) <= _PLAIN_FLOAT:  # type(), not isinstance: bool is an int
        return None
    for value, gt, ge, lt, le in zip(
        values, domain.gt, domain.ge, domain.lt, domain.le, strict=True
    ):
        if not (gt < value < lt and ge <= value <= le):
            return None  # also NaN and the infinities, which no bound lets through
    try:
        return np.array([values], dtype=np.float64)
    except OverflowError:  # an int beyond float64: the row body refuses it too
        return None


def plain_number_matrix(
    request: InferenceRequest, domain: NumberDomain | None, max_rows: int
) -> npt.NDArray[np.float64] | None:
    """The model's float64 matrix straight from one [N, F] tensor of plain numbers for a
    model whose inputs are all numbers (`domain`), when the batch body would accept every
    row: 1 to `max_rows` rows, elements that are ints or floats (ints only in an integer
    tensor), finite, within every input's bounds. None for anything else: that request
    takes the full path (rows_of, the batch body), which gives the exact error. Measured:
    building a row per instance and validating it again took 15 % of the infer handler
    (py-spy, one Iris row); numpy comparisons on one row cost more than the Python ones
    below (cProfile, docs/performance.md)."""
    if domain is None or len(request.inputs) != 1:
        return None
    tensor = request.inputs[0]
    return _plain_matrix(tensor.name, tensor.shape, tensor.datatype, tensor.data, domain, max_rows)


def plain_number_matrix_of_json(
    data: Any, domain: NumberDomain | None, max_rows: int
) -> npt.NDArray[np.float64] | None:
    """plain_number_matrix from the parsed JSON body itself, when it is the plainest infer
    request -- `{"inputs": [{"name", "shape", "datatype", "data"}]}`, no id, parameters or
    outputs, each field of the type InferenceRequest takes as it is -- so the request
    model need not be built (~5 µs of a one-row infer in the app, timed in process). None
    for anything else, which is validated in full."""
    if domain is None or type(data) is not dict or len(data) != 1:
        return None
    inputs = data.get("inputs")
    if type(inputs) is not list or len(inputs) != 1:
        return None
    tensor = inputs[0]
    if type(tensor) is not dict or tensor.keys() != _PLAIN_TENSOR_KEYS:
        return None
    name, shape, datatype, values = (
        tensor["name"],
        tensor["shape"],
        tensor["datatype"],
        tensor["data"],
    )
    if type(name) is not str or len(name) > 256 or type(datatype) is not str:
        return None
    if type(shape) is not list or not 1 <= len(shape) <= 8 or type(values) is not list:
        return None
    if not all(type(size) is int for size in shape):  # type(), not isinstance: bool is an int
        return None
    return _plain_matrix(name, shape, datatype, values, domain, max_rows)


_PLAIN_TENSOR_KEYS = {"name", "shape", "datatype", "data"}


def _plain_matrix(
    name: str,
    shape: list[int],
    datatype: str,
    data: list[Any],
    domain: NumberDomain,
    max_rows: int,
) -> npt.NDArray[np.float64] | None:
    width = domain.width
    if datatype not in NUMERIC_TYPES:
        return None
    if len(shape) != 2 or shape[1] != width or not 1 <= shape[0] <= max_rows:
        return None
    if width != 1 and name in domain.names:
        return None  # a per-input tensor named as one input: not the matrix form
    rows = shape[0]
    try:
        values = _flat(name, shape, data, rows * width)
    except TensorError:
        return None
    allowed = _PLAIN_FLOAT if datatype in FLOAT_TYPES else _PLAIN_INT
    if not set(map(type, values)) <= allowed:  # type(), not isinstance: bool is an int
        return None
    try:
        matrix = np.array(values, dtype=np.float64).reshape(rows, width)
    except (OverflowError, ValueError):  # an int beyond float64: the row model refuses it too
        return None
    if rows <= _PYTHON_CHECK_ROWS:
        # The parsed numbers, as the batch body checks them: comparing NumPy scalars from
        # matrix.flat cost twice as much per element.
        gt, ge, lt, le = domain.gt, domain.ge, domain.lt, domain.le
        for index, value in enumerate(values):
            column = index % width
            if not (gt[column] < value < lt[column] and ge[column] <= value <= le[column]):
                return None  # also NaN, which compares false
        return matrix
    ok = (matrix > domain.gt) & (matrix < domain.lt) & (matrix >= domain.ge) & (matrix <= domain.le)
    return matrix if ok.all() else None


NUMERIC_TYPES = FLOAT_TYPES | INTEGER_TYPES
_PLAIN_FLOAT = frozenset({int, float})
_PLAIN_INT = frozenset({int})
# Up to this many rows the bounds are checked element by element in Python, beyond it with
# whole-matrix numpy comparisons (each costs several µs even on one row).
_PYTHON_CHECK_ROWS = 8


def _dimension(rows: int, name: str, max_rows: int) -> int:
    if rows < 1 or rows > max_rows:
        raise TensorError(f"input {name!r} has {rows} rows; send 1 to {max_rows} (MAX_BATCH_SIZE)")
    return rows


def _check_datatype(tensor: RequestInput, item: Input) -> None:
    if tensor.datatype not in ACCEPTED[item.kind]:
        accepted = ", ".join(sorted(ACCEPTED[item.kind]))
        raise TensorError(
            f"input {item.name!r} has datatype {tensor.datatype}; this model's {item.kind} "
            f"input takes {accepted}"
        )


def _flat(name: str, shape: list[int], data: list[Any], expected: int) -> list[Any]:
    """The tensor's elements in row-major order: flat or nested, as the protocol allows."""
    if len(data) == 1 and type(data[0]) is list and list not in map(type, data[0]):
        values = data[0]  # [[row]]: one row, as clients send it (checked first: the common case)
    elif not any(isinstance(v, list) for v in data):
        values = data
    elif all(isinstance(v, list) for v in data) and not any(
        isinstance(x, list) for v in data for x in v
    ):  # [[row], [row], ...]: one level, the common nesting
        values = list(chain.from_iterable(data))
    else:
        values = list(_flatten(data))
    if len(values) != expected:
        raise TensorError(
            f"input {name!r} has {len(values)} elements; its shape {shape} needs {expected}"
        )
    return values


def _flatten(values: Sequence[Any], depth: int = 0) -> Iterator[Any]:
    if depth > 8:
        raise TensorError("tensor data is nested deeper than its shape")
    for value in values:
        if isinstance(value, list):
            yield from _flatten(value, depth + 1)
        else:
            yield value


def _element(value: Any, datatype: str, item: Input) -> Any:
    """One element as the request row's JSON value, refusing what the datatype cannot be
    (a string in an FP64 tensor); the row model then applies the input's own rules."""
    if datatype == "BYTES":
        if not isinstance(value, str):
            raise TensorError(f"input {item.name!r}: a BYTES element must be a string")
        return value
    if datatype == "BOOL":
        if not isinstance(value, bool):
            raise TensorError(f"input {item.name!r}: a BOOL element must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TensorError(f"input {item.name!r}: a {datatype} element must be a number")
    if datatype in INTEGER_TYPES and isinstance(value, float):
        raise TensorError(f"input {item.name!r}: an {datatype} element must be a whole number")
    return value


def _matrix_element(value: Any, datatype: str, item: Input) -> Any:
    """An element of an [N, F] numeric tensor as its input's value: a whole float for an
    integer input becomes an int, 0/1 for a boolean one a bool."""
    number = _element(value, datatype, item)
    if item.kind == "integer" and isinstance(number, float) and math.isfinite(number):
        return int(number) if number.is_integer() else number
    if item.kind == "boolean" and number in (0, 1):
        return bool(number)
    return number
