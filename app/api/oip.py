"""The Open Inference Protocol's REST bodies (the "V2" protocol of KServe, Triton, MLServer),
typed from its specification (kserve/open-inference-protocol, inference_rest.md), and the
tensors a model's metadata describes. The mapping between tensors and the model's matrix
is the codec's (app/api/oip_codec.py).
"""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from app.ml.contract import Contract


def _parameter(value: Any) -> str | int | float | bool:
    """A parameter's value, checked once: as a union pydantic named each member it tried in
    the error (`parameters.x.str`, `parameters.x.int`, ...), its own names, not the field's."""
    if isinstance(value, str | int | float | bool):
        return value
    raise PydanticCustomError("parameter_type", "a parameter is a string, number or boolean")


Parameters = dict[
    str,
    Annotated[
        str | int | float | bool,
        PlainValidator(_parameter),
        WithJsonSchema({"type": ["string", "number", "boolean"]}),
    ],
]
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


class ProtocolErrorResponse(BaseModel):
    """The protocol's own error shape; named apart from Glassbox's ErrorResponse, or the
    OpenAPI document names both by module path (app__api__oip__ErrorResponse)."""

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
