"""Request and response bodies; their constraints are the API's validation rules."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from app.core.config import Settings

# Bytes a request may spend per flower before it is refused unread (413): a flower written
# out with 17-digit numbers and generous whitespace fits in half of this.
BYTES_PER_INSTANCE = 256

# Strict: "5.1" or true are rejected rather than coerced; NaN/Infinity are refused.
Centimetres = Annotated[
    float,
    Field(gt=0, le=100, strict=True, allow_inf_nan=False, description="Centimetres, 0 < x ≤ 100."),
]


class IrisFeatures(BaseModel):
    """One flower. Field order is the model's feature order."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
            ]
        },
    )

    sepal_length: Centimetres
    sepal_width: Centimetres
    petal_length: Centimetres
    petal_width: Centimetres

    @classmethod
    def max_body_bytes(cls, settings: Settings) -> int:
        """The largest body worth reading for one flower (app/api/json_route.py)."""
        return min(settings.MAX_BODY_BYTES, 16 * BYTES_PER_INSTANCE)


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: list[IrisFeatures] = Field(
        min_length=1, description="1 to MAX_BATCH_SIZE flowers, predicted in one model call."
    )

    @classmethod
    def max_body_bytes(cls, settings: Settings) -> int:
        """MAX_BATCH_SIZE flowers' worth of bytes: a larger batch is refused unread (413)."""
        return min(settings.MAX_BODY_BYTES, settings.MAX_BATCH_SIZE * BYTES_PER_INSTANCE + 1024)

    @field_validator("instances", mode="before")
    @classmethod
    def _at_most_max_batch_size(cls, value: Any, info: ValidationInfo) -> Any:
        """Count before validating any row, so an over-size batch costs nothing per row."""
        limit = (info.context or {}).get("max_batch_size")
        if limit is not None and isinstance(value, list) and len(value) > limit:
            raise PydanticCustomError(
                "too_long",
                "List should have at most {limit} items, not {actual}",
                {"limit": limit, "actual": len(value)},
            )
        return value


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
