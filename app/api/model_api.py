"""The prediction API of the model the app serves, built from its contract (app/ml/contract.py).

At startup the registry reads the contract of the model in MODEL_DIR; this module turns
it into the request bodies FastAPI validates and documents: one strict field per input
in the model's order (numbers: finite floats; integers: whole numbers; booleans: true or
false; categories: strings), each with its declared bounds, a description naming its
training range or categories, and the model's example row in the OpenAPI document.
Pydantic compiles a generated model exactly as it does a hand-written one (`make bench`
measures both on Iris in the same run).

Values outside the training data are the dataplane's policy (app/dataplane/policy.py), not
the bodies': a body takes any value of the input's type and declared bounds. The codecs
(app/api/native.py, app/api/oip_codec.py) turn a validated body into the model's matrix.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from app.api.numbers import NumberDomain, number_domain
from app.api.schemas import at_most_max_batch_size
from app.core.config import Settings
from app.ml.contract import Contract, Input

# Bytes a request may spend per number before it is refused unread (413): a 17-digit number
# with its name and generous whitespace fits in half of this. A row gets at least
# MIN_ROW_BYTES, which is what one Iris flower had before the API was generated.
BYTES_PER_NUMBER = 52
MIN_INPUT_BYTES = 64
MIN_ROW_BYTES = 256
MAX_EXACT_INTEGER = 2**53
# An unseen category is accepted (and counted) up to this many characters, or twice the
# longest training category if that is longer.
CATEGORY_MAX_LENGTH = 64


class RowBody(BaseModel):
    """One row: fields are added per input by `build_model_api`."""

    model_config = ConfigDict(extra="forbid")
    bytes_per_row: ClassVar[int] = MIN_ROW_BYTES

    @classmethod
    def max_body_bytes(cls, settings: Settings) -> int:
        """The largest body worth reading for one row (app/api/body.py `read_body`)."""
        return min(settings.MAX_BODY_BYTES, 16 * cls.bytes_per_row)


class BatchBody(BaseModel):
    """{"instances": [row, ...]}: the `instances` field is added by `build_model_api`."""

    model_config = ConfigDict(extra="forbid")
    bytes_per_row: ClassVar[int] = MIN_ROW_BYTES

    @classmethod
    def max_body_bytes(cls, settings: Settings) -> int:
        """MAX_BATCH_SIZE rows' worth of bytes: a larger batch is refused unread (413)."""
        return min(settings.MAX_BODY_BYTES, settings.MAX_BATCH_SIZE * cls.bytes_per_row + 1024)

    @field_validator("instances", mode="before", check_fields=False)
    @classmethod
    def _at_most_max_batch_size(cls, value: Any, info: ValidationInfo) -> Any:
        return at_most_max_batch_size(value, info)


@dataclass(frozen=True)
class ModelApi:
    row: type[RowBody]
    batch: type[BatchBody]
    regression: bool
    # A model whose inputs are all numbers: the bounds both codecs' fast paths check
    # (app/api/numbers.py); None otherwise.
    number_domain: NumberDomain | None = None


def build_model_api(contract: Contract | None, metadata: Mapping[str, Any]) -> ModelApi:
    """The request bodies of this contract (`metadata`: its artifact's, for the model's
    name and example row); without one (no model could be read at startup) a row takes no
    fields: every prediction is a 503 before validation."""
    if contract is None:
        row = _row_model("Features", {}, {}, MIN_ROW_BYTES)
        return ModelApi(row, _batch_model(row, 0), False)
    fields = {
        field: _field(item)
        for field, item in zip(contract.field_names, contract.inputs, strict=True)
    }
    row_bytes = max(MIN_ROW_BYTES, sum(_input_bytes(item) for item in contract.inputs))
    example = metadata.get("example")
    extra = {"examples": [example]} if example else {}
    row = _row_model(row_model_name(str(metadata.get("model_name", ""))), fields, extra, row_bytes)
    return ModelApi(
        row, _batch_model(row, row_bytes), contract.task == "regression", number_domain(contract)
    )


def row_model_name(model_name: str) -> str:
    """The row's schema name in OpenAPI and in pydantic's messages: the model's name in
    CamelCase without a -classifier/-regressor/-model suffix, + Features ("iris-classifier"
    -> IrisFeatures, what the hand-written model of the Iris-only API was called)."""
    words = [word for word in re.split(r"[^0-9A-Za-z]+", model_name) if word]
    if len(words) > 1 and words[-1].lower() in ("classifier", "regressor", "model"):
        words = words[:-1]
    name = "".join(word[:1].upper() + word[1:] for word in words)
    return f"{name}Features" if name[:1].isalpha() else "Features"


def _row_model(
    name: str, fields: dict[str, Any], schema_extra: dict[str, Any], row_bytes: int
) -> type[RowBody]:
    model = create_model(
        name,
        __base__=RowBody,
        __config__=None,
        __doc__="One row. Field order is the model's input order.",
        **fields,
    )
    model.model_config["json_schema_extra"] = schema_extra
    model.model_rebuild(force=True)
    model.bytes_per_row = row_bytes
    return model


def _batch_model(row: type[RowBody], row_bytes: int) -> type[BatchBody]:
    model = create_model(
        "BatchPredictRequest",
        __base__=BatchBody,
        instances=(
            list[row],  # type: ignore[valid-type]
            Field(
                min_length=1, description="1 to MAX_BATCH_SIZE rows, predicted in one model call."
            ),
        ),
    )
    model.bytes_per_row = max(row_bytes, MIN_ROW_BYTES)
    return model


def _field(item: Input) -> Any:
    description = item.description or _describe(item)
    if item.kind == "category":
        longest = max(len(category) for category in item.categories)
        return (
            Annotated[
                str,
                Field(
                    alias=item.name,
                    strict=True,
                    min_length=1,
                    max_length=max(CATEGORY_MAX_LENGTH, 2 * longest),
                    description=description,
                    examples=list(item.categories[:10]),
                ),
            ],
            ...,
        )
    if item.kind == "boolean":
        return Annotated[bool, Field(alias=item.name, strict=True, description=description)], ...
    python_type: type = int if item.kind == "integer" else float
    constraints: dict[str, Any] = {"alias": item.name, "strict": True, "description": description}
    if python_type is float:
        constraints["allow_inf_nan"] = False
    else:  # the model takes float64, exact for whole numbers up to 2^53
        constraints |= {"ge": -MAX_EXACT_INTEGER, "le": MAX_EXACT_INTEGER}
    constraints |= item.bounds
    return Annotated[python_type, Field(**constraints)], ...


def _describe(item: Input) -> str:
    if item.kind == "category":
        shown = ", ".join(item.categories[:20]) + (", ..." if len(item.categories) > 20 else "")
        return f"Category; training saw: {shown}."
    if item.kind == "boolean":
        return "true or false."
    kind = "Whole number" if item.kind == "integer" else "Number"
    return f"{kind}; training range {_number(item.minimum)} to {_number(item.maximum)}."


def _number(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _input_bytes(item: Input) -> int:
    if item.kind == "category":
        longest = max(len(category) for category in item.categories)
        return len(item.name) + 16 + 2 * max(CATEGORY_MAX_LENGTH, 2 * longest)
    return max(MIN_INPUT_BYTES, len(item.name) + BYTES_PER_NUMBER)
