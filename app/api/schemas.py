"""Response bodies and the fixed request bodies; a prediction's request body is built from
the served model's contract (app/api/model_api.py)."""

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from app.core.config import Settings


class PredictionResult(BaseModel):
    prediction: int = Field(description="Index of the predicted class in the model's classes.")
    prediction_label: str
    probabilities: dict[str, float] = Field(description="Class name to probability; sums to 1.")


class PredictResponse(PredictionResult):
    model_version: str
    request_id: str


class BatchPredictResponse(BaseModel):
    predictions: list[PredictionResult]
    model_version: str
    request_id: str


class RegressionResult(BaseModel):
    prediction: float = Field(description="The model's predicted value.")


class RegressionResponse(RegressionResult):
    model_version: str
    request_id: str


class BatchRegressionResponse(BaseModel):
    predictions: list[RegressionResult]
    model_version: str
    request_id: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. validation_error.")
    message: str
    details: list[dict[str, object]]


class ErrorResponse(BaseModel):
    error: ErrorInfo
    request_id: str


class HealthResponse(BaseModel):
    status: str


class ReadyResponse(BaseModel):
    status: str
    model_name: str
    model_version: str


def at_most_max_batch_size(value: Any, info: ValidationInfo) -> Any:
    """A list field's validator (mode="before"): counted before any item is validated, so an
    over-size batch costs nothing per item; the limit comes in the validation context."""
    limit = (info.context or {}).get("max_batch_size")
    if limit is not None and isinstance(value, list) and len(value) > limit:
        raise PydanticCustomError(
            "too_long",
            "List should have at most {limit} items, not {actual}",
            {"limit": limit, "actual": len(value)},
        )
    return value


# Ground truth for an earlier prediction (app/api/routes/feedback.py). The request id is the
# one the prediction answered with, so it takes the request-id header's alphabet.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
# An id, a row and a label of MAX_LABEL_LENGTH characters, each up to 12 bytes as JSON
# escapes it (\ud819\udd4a): at 512 a valid label of such characters was refused 413
# (schemathesis).
MAX_LABEL_LENGTH = 256
FEEDBACK_ITEM_BYTES = 512 + 12 * MAX_LABEL_LENGTH
MAX_ROWS = 100_000  # MAX_BATCH_SIZE's own upper bound (app/core/config.py)


def _label(value: Any) -> str | bool | int | float:
    """A label as JSON sent it. One check with one message: as a union of str and float,
    pydantic answered `invalid fields: label.constrained-str, label.float`, its own names
    for the union's members (issue 34). A boolean is kept for the classes "False"/"True"
    of a boolean target (app/ml/quality/feedback.py)."""
    if isinstance(value, str) and 1 <= len(value) <= MAX_LABEL_LENGTH:
        return value
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    raise PydanticCustomError(
        "label_type",
        "a class name (1 to {limit} characters), true or false, or a finite number",
        {"limit": MAX_LABEL_LENGTH},
    )


Label = Annotated[
    str | bool | float,
    PlainValidator(_label),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": MAX_LABEL_LENGTH},
                {"type": "boolean"},
                {"type": "number"},
            ]
        }
    ),
]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(
        pattern=REQUEST_ID_PATTERN, description="The request_id the prediction answered with."
    )
    label: Label = Field(
        description="The true class name (a classifier; an integer names the class of that "
        "name, true or false the class True or False) or the true value (a regressor).",
    )
    row: int = Field(
        default=0,
        ge=0,
        lt=MAX_ROWS,
        strict=True,
        description="Which row of a batch prediction (0: the first).",
    )

    @classmethod
    def max_body_bytes(cls, settings: Settings) -> int:
        return min(settings.MAX_BODY_BYTES, 2 * FEEDBACK_ITEM_BYTES)


class FeedbackBatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feedback: list[FeedbackRequest] = Field(
        min_length=1, description="1 to MAX_BATCH_SIZE labels, checked whole before any counts."
    )

    @classmethod
    def max_body_bytes(cls, settings: Settings) -> int:
        return min(settings.MAX_BODY_BYTES, settings.MAX_BATCH_SIZE * FEEDBACK_ITEM_BYTES + 1024)

    @field_validator("feedback", mode="before")
    @classmethod
    def _at_most_max_batch_size(cls, value: Any, info: ValidationInfo) -> Any:
        return at_most_max_batch_size(value, info)


class FeedbackResult(BaseModel):
    request_id: str = Field(description="The prediction's request id, as sent.")
    row: int
    status: Literal["recorded", "unknown", "duplicate", "late"] = Field(
        description="recorded: scored against the prediction; unknown: this worker has no "
        "prediction with that id (never made, forgotten, or made by another worker); "
        "duplicate: that row already had a label; late: older than FEEDBACK_MAX_AGE_SECONDS."
    )
    model_version: str | None = Field(description="The version that made the prediction.")
    predicted: str | float | None = Field(description="What it predicted for that row.")


class FeedbackBatchResponse(BaseModel):
    results: list[FeedbackResult]
