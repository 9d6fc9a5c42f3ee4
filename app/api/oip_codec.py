"""The Open Inference Protocol's codec: an infer request's tensors to the model's matrix, and
the model's answer back to output tensors (types: app/api/oip.py).

A request may send the model's inputs in either form the protocol allows:

- one tensor per input, named as the input, shape [N] or [N, 1], with the datatype of its
  kind (number: FP16/32/64 or an integer type; integer: an integer type; boolean: BOOL;
  category: BYTES) -- what GET /v2/models/{name} describes;
- one [N, F] tensor of every input in the model's order, any name, a numeric datatype,
  when every input is numeric (what MLServer's scikit-learn runtime and most tritonclient
  examples send).

Either way the rows then go through the same request body /predict/batch validates
(app/api/model_api.py): the same strictness, bounds, batch limit and error messages.
One fast path sits beside its slow twin, held equal to it by
tests/unit/api/test_oip_codec.py on generated requests: `plain_number_matrix`, one validated
[N, F] tensor of plain numbers to the matrix; twin: `rows_of` (a row dict per instance),
then the batch body. That was 15 % of the infer handler (py-spy, one Iris row); `make
bench` measures it at +11 % req/s (docs/performance.md#fast-paths). A shortcut before the
request model (the plainest request's JSON straight to the matrix) measured +5.8 % against
a 6.3 % noise and went (issue 30).

Errors are the protocol's own: `ProtocolError` (status, code, message), answered as
`{"error": message}` by the route.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import ValidationError

from app.api.model_api import ModelApi
from app.api.numbers import PLAIN_FLOAT, PLAIN_INT, NumberDomain, plain
from app.api.oip import (
    ACCEPTED,
    FLOAT_TYPES,
    INTEGER_TYPES,
    InferenceRequest,
    RequestInput,
    output_names,
)
from app.api.oip_binary import outputs_in_binary
from app.core.config import Settings
from app.dataplane import Refusal
from app.ml.contract import Contract, Input
from app.ml.serving.runtime import Matrix, ModelRuntime, Predictions

NUMERIC_TYPES = FLOAT_TYPES | INTEGER_TYPES
# Up to this many rows the bounds are checked element by element in Python, beyond it with
# whole-matrix numpy comparisons (each costs several µs even on one row).
_PYTHON_CHECK_ROWS = 8


class ProtocolError(Exception):
    """A request the protocol answers with `{"error": message}`; `code` goes to the access
    line."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class TensorError(ValueError):
    """A request whose tensors do not describe this model's rows (a 400)."""


@dataclass(frozen=True, slots=True)
class Inference:
    """An infer request, decoded: the model's matrix, the outputs asked for, its own id."""

    matrix: Matrix
    outputs: list[str]
    id: str | None = None
    binary: frozenset[str] = frozenset()  # outputs answered in binary (app/api/oip_binary.py)


class OipCodec:
    """One model API's tensor mapping, and the fast paths left on."""

    def __init__(self, api: ModelApi, settings: Settings) -> None:
        self.batch_model = api.batch
        self.max_bytes = api.batch.max_body_bytes(settings)
        self.max_rows = settings.MAX_BATCH_SIZE
        self.fast_json = settings.fast_path("fast-json")
        domain = api.number_domain
        self._plain_tensor = domain if settings.fast_path("v2-plain-tensor") else None

    def decode(self, data: Any, runtime: ModelRuntime) -> Inference:
        """The parsed JSON of an infer request as the model's matrix, or ProtocolError."""
        try:
            request = InferenceRequest.model_validate(data)
        except ValidationError as exc:
            raise ProtocolError(400, "invalid_request", describe(exc.errors(), "")) from exc
        outputs = _outputs_requested(request, runtime)
        binary = outputs_in_binary(request, outputs)
        matrix = None
        if self._plain_tensor is not None:
            matrix = plain_number_matrix(request, self._plain_tensor, self.max_rows)
        if matrix is None:
            matrix = self._validated_rows(request, runtime)
        return Inference(matrix, outputs, request.id, binary)

    def _validated_rows(self, request: InferenceRequest, runtime: ModelRuntime) -> Matrix:
        """The slow twin: the tensors as rows through the batch body /predict/batch
        validates (its errors), then as the model's matrix."""
        try:
            rows = rows_of(request, runtime.contract, self.max_rows)
        except TensorError as exc:
            raise ProtocolError(400, "invalid_tensor", str(exc)) from exc
        try:
            batch = self.batch_model.model_validate(
                {"instances": rows}, context={"max_batch_size": self.max_rows}
            )
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise ProtocolError(422, "validation_error", describe(errors, "instances")) from exc
        values = runtime.row_values
        return runtime.matrix([values(row) for row in batch.instances])  # type: ignore[attr-defined]

    @staticmethod
    def refused(refusals: list[Refusal]) -> ProtocolError:
        """The dataplane's OUT_OF_RANGE refusals, each named by row and input."""
        located = [
            {"loc": ("instances", refusal.row, refusal.input), "msg": refusal.message}
            for refusal in refusals
        ]
        return ProtocolError(422, "validation_error", describe(located, "instances"))

    @staticmethod
    def answer(
        predictions: Predictions, runtime: ModelRuntime, inference: Inference, request_id: str
    ) -> dict[str, Any]:
        """The InferenceResponse: the outputs asked for, the request's own id (else ours)."""
        labels = runtime.labels(predictions) if runtime.task != "regression" else []
        return {
            "model_name": runtime.name,
            "model_version": runtime.version,
            "id": inference.id if inference.id is not None else request_id,
            "outputs": [
                _tensor(output, predictions, runtime, labels) for output in inference.outputs
            ],
        }


def _outputs_requested(request: InferenceRequest, runtime: ModelRuntime) -> list[str]:
    available = output_names(runtime.task)
    if not request.outputs:
        return available
    asked = [output.name for output in request.outputs]
    unknown = [name for name in asked if name not in available]
    if unknown:
        raise ProtocolError(
            400, "invalid_request", f"unknown outputs {unknown}; this model has {available}"
        )
    return asked


def _tensor(
    name: str, predictions: Predictions, runtime: ModelRuntime, labels: Sequence[Any]
) -> dict[str, Any]:
    """One output tensor; `labels`: the predicted class names."""
    rows = len(predictions.values or predictions.winners)
    if name == "predict" and runtime.task == "regression":
        return {"name": name, "shape": [rows], "datatype": "FP64", "data": predictions.values}
    if name == "predict":
        return {"name": name, "shape": [rows], "datatype": "INT64", "data": predictions.winners}
    if name == "predict_label":
        return {"name": name, "shape": [rows], "datatype": "BYTES", "data": labels}
    flat = [p for row in predictions.probabilities for p in row]
    classes = len(runtime.class_names)
    return {"name": name, "shape": [rows, classes], "datatype": "FP64", "data": flat}


def describe(errors: Sequence[Any], rows: str) -> str:
    """Pydantic-style errors as one line naming the row and input (or the request field)."""
    parts = []
    for error in list(errors)[:10]:
        location = list(error["loc"])
        if rows and location[:1] == [rows] and len(location) >= 3:
            where = f"row {location[1]}, input {location[2]}"
        else:
            where = ".".join(str(part) for part in location) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "invalid " + "; ".join(parts)


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
    converted = [
        _matrix_element(value, tensor.datatype, contract.inputs[i % width])
        for i, value in enumerate(values)
    ]
    return [
        dict(zip(contract.names, converted[start : start + width], strict=True))
        for start in range(0, len(converted), width)
    ]


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
    if not plain(values, PLAIN_FLOAT if datatype in FLOAT_TYPES else PLAIN_INT):
        return None
    try:
        matrix = np.array(values, dtype=np.float64).reshape(rows, width)
    except (OverflowError, ValueError):  # an int beyond float64: the row model refuses it too
        return None
    # The parsed numbers, as the batch body checks them, on a few rows (comparing NumPy
    # scalars from matrix.flat cost twice as much per element); vectorised beyond.
    if rows <= _PYTHON_CHECK_ROWS:
        return matrix if domain.in_bounds(values) else None
    return matrix if domain.matrix_in_bounds(matrix) else None


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
