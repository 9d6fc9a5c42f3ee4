"""Request and response bodies; their constraints are the API's validation rules."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

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


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instances: list[IrisFeatures] = Field(
        min_length=1, description="1 to MAX_BATCH_SIZE flowers, predicted in one model call."
    )


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
