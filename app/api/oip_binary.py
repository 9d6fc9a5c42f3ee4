"""The Open Inference Protocol's binary tensor data extension: what NVIDIA's tritonclient sends
and asks for unless told otherwise (`set_data_from_numpy(..., binary_data=True)`, and
`binary_data_output` when no outputs are named). Specification: Triton's
docs/protocol/extension_binary_data.md.

Request: the `Inference-Header-Content-Length` header says how many bytes at the start of the
body are the JSON request; after them come the raw data of each input whose parameters carry
`binary_data_size`, in the order of `inputs`: little-endian, row-major, BOOL one byte per
element, BYTES each element a 4-byte little-endian length then its bytes. `with_binary_inputs`
turns each into the `data` its JSON form would have carried, so a binary request then goes
the JSON request's whole way: the same byte budget (on the whole body), validation, policy,
errors and accounting.

Response: each output asked for in binary (its own `binary_data` parameter, else the
request's `binary_data_output`) leaves its `data` out of the JSON, says its size in
`binary_data_size`, and its bytes follow the JSON in the outputs' order; the response says
the JSON's length in `Inference-Header-Content-Length`.
"""

import struct
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import orjson

HEADER = b"inference-header-content-length"
EXTENSION = "binary_tensor_data"
# The protocol's fixed-size datatypes as struct codes, read and written little-endian ("<"):
# struct, not NumPy, since a request's tensors are mostly a few values, where np.frombuffer
# then .tolist() and np.asarray().tobytes() cost more than the values (py-spy: encoding was
# 6 % of a one-row binary infer with NumPy). BF16 has no struct code.
_CODES = {
    "BOOL": "?", "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q",
    "UINT8": "B", "UINT16": "H", "UINT32": "I", "UINT64": "Q",
    "FP16": "e", "FP32": "f", "FP64": "d",
}  # fmt: skip
_LENGTH = struct.Struct("<I")


class BinaryDataError(ValueError):
    """A binary request whose sizes or bytes do not add up (a 400, its message said)."""


def split_body(body: bytes, header_length: bytes) -> tuple[bytes, bytes]:
    """The JSON request and the binary data after it."""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 < length <= len(body):
        raise BinaryDataError(
            f"Inference-Header-Content-Length is {header_length.decode('latin-1')[:20]!r}; "
            f"it must be the JSON header's length in bytes, 1 to the body's {len(body)}"
        )
    return body[:length], body[length:]


def with_binary_inputs(request: Any, binary: bytes) -> Any:
    """The parsed JSON request with each binary input's values in its `data`."""
    inputs = request.get("inputs") if isinstance(request, dict) else None
    offset = 0
    for tensor in inputs if isinstance(inputs, list) else []:
        parameters = tensor.get("parameters") if isinstance(tensor, dict) else None
        if not isinstance(parameters, dict) or "binary_data_size" not in parameters:
            continue
        name, size = str(tensor.get("name"))[:256], parameters["binary_data_size"]
        if type(size) is not int or size < 0:
            raise BinaryDataError(f"input {name!r}: binary_data_size must be a whole number")
        if "data" in tensor:
            raise BinaryDataError(f"input {name!r} has both data and binary_data_size")
        if offset + size > len(binary):
            raise BinaryDataError(
                f"input {name!r}: binary_data_size {size}, but only {len(binary) - offset} "
                "bytes of binary data are left"
            )
        tensor["data"] = _values(name, tensor.get("datatype"), binary[offset : offset + size])
        offset += size
    if offset != len(binary):
        raise BinaryDataError(
            f"{len(binary) - offset} bytes of binary data follow the JSON header that no "
            "input's binary_data_size claims"
        )
    return request


def _values(name: str, datatype: Any, raw: bytes) -> list[Any]:
    if datatype == "BYTES":
        return _strings(name, raw)
    code = _CODES.get(datatype) if isinstance(datatype, str) else None
    if code is None:
        raise BinaryDataError(f"input {name!r}: datatype {datatype!r} cannot be sent in binary")
    itemsize = struct.calcsize(code)
    if len(raw) % itemsize:
        raise BinaryDataError(
            f"input {name!r}: {len(raw)} bytes are not whole {datatype} elements "
            f"({itemsize} bytes each)"
        )
    return list(_layout(code, len(raw) // itemsize).unpack(raw))


def _strings(name: str, raw: bytes) -> list[str]:
    """BYTES elements as text: a category's values are strings, as in the JSON form."""
    values, offset = [], 0
    while offset < len(raw):
        if offset + 4 > len(raw):
            raise BinaryDataError(f"input {name!r}: a BYTES element's length is cut short")
        (length,) = _LENGTH.unpack_from(raw, offset)
        offset += 4
        if offset + length > len(raw):
            raise BinaryDataError(f"input {name!r}: a BYTES element runs past its data")
        try:
            values.append(raw[offset : offset + length].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise BinaryDataError(f"input {name!r}: a BYTES element is not UTF-8") from exc
        offset += length
    return values


def outputs_in_binary(request: Any, outputs: Sequence[str]) -> frozenset[str]:
    """Which of the outputs answered go in binary: an output's own `binary_data`, else the
    request's `binary_data_output` (tritonclient sets it when it names no outputs)."""
    parameters = request.parameters
    default = bool(parameters.get("binary_data_output", False)) if parameters else False
    if not request.outputs:
        return frozenset(outputs) if default else frozenset()
    own = {
        output.name: bool(output.parameters["binary_data"])
        for output in request.outputs
        if output.parameters and "binary_data" in output.parameters
    }
    return frozenset(name for name in outputs if own.get(name, default))


def encode(answer: Mapping[str, Any], binary: frozenset[str]) -> tuple[bytes, int]:
    """The response body (JSON, then each binary output's bytes) and the JSON's length."""
    outputs, chunks = [], []
    for output in answer["outputs"]:
        if output["name"] in binary:
            raw = _raw(output["datatype"], output["data"])
            chunks.append(raw)
            output = {
                "name": output["name"],
                "shape": output["shape"],
                "datatype": output["datatype"],
                "parameters": {"binary_data_size": len(raw)},
            }
        outputs.append(output)
    header = orjson.dumps({**answer, "outputs": outputs})
    return b"".join([header, *chunks]), len(header)


def _raw(datatype: str, data: Sequence[Any]) -> bytes:
    if datatype == "BYTES":
        encoded = [str(value).encode() for value in data]
        return b"".join([_LENGTH.pack(len(item)) + item for item in encoded])
    return _layout(_CODES[datatype], len(data)).pack(*data)


@lru_cache(maxsize=512)
def _layout(code: str, count: int) -> struct.Struct:
    """`count` little-endian elements of `code`, compiled once (a request's shapes repeat)."""
    return struct.Struct(f"<{count}{code}")
