"""Response bodies and the fixed request bodies; a prediction's request body is built from
the served model's contract (app/api/model_api.py)."""

from pydantic import BaseModel, Field


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
