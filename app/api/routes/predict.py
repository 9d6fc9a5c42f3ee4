"""POST /predict and /predict/batch: validated features in, class and probabilities out."""

import numpy as np
from fastapi import APIRouter, Depends, Request

from app.api.deps import PredictorDep, SettingsDep, require_json
from app.api.schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorResponse,
    IrisFeatures,
    PredictionResult,
    PredictResponse,
)
from app.core.errors import ApiError
from app.ml.predictor import Prediction

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503)
}

router = APIRouter(
    prefix="/predict",
    tags=["predict"],
    dependencies=[Depends(require_json)],
    responses=ERROR_RESPONSES,
)


def _rows(instances: list[IrisFeatures], feature_names: list[str]) -> np.ndarray:
    return np.array(
        [[getattr(item, name) for name in feature_names] for item in instances], dtype=np.float64
    )


def _result(prediction: Prediction) -> PredictionResult:
    return PredictionResult(
        prediction=prediction.index,
        prediction_label=prediction.label,
        probabilities=prediction.probabilities,
    )


@router.post("", response_model=PredictResponse)
async def predict(
    features: IrisFeatures, predictor: PredictorDep, request: Request
) -> PredictResponse:
    """Predict the species of one flower."""
    (prediction,) = predictor.predict(_rows([features], predictor.feature_names))
    request.state.model_version = predictor.version
    request.state.prediction_label = prediction.label
    return PredictResponse(
        **_result(prediction).model_dump(),
        model_version=predictor.version,
        request_id=request.state.request_id,
    )


@router.post("/batch", response_model=BatchPredictResponse)
async def predict_batch(
    body: BatchPredictRequest, predictor: PredictorDep, settings: SettingsDep, request: Request
) -> BatchPredictResponse:
    """Predict up to MAX_BATCH_SIZE flowers with one vectorised model call."""
    if len(body.instances) > settings.MAX_BATCH_SIZE:
        raise ApiError(
            422,
            "validation_error",
            f"invalid fields: instances (at most {settings.MAX_BATCH_SIZE} per request)",
            [
                {
                    "field": "instances",
                    "message": f"List should have at most {settings.MAX_BATCH_SIZE} items, "
                    f"not {len(body.instances)}",
                    "type": "too_long",
                }
            ],
        )
    predictions = predictor.predict(_rows(body.instances, predictor.feature_names))
    request.state.model_version = predictor.version
    request.state.batch_size = len(predictions)
    request.state.prediction_labels = [p.label for p in predictions]
    return BatchPredictResponse(
        predictions=[_result(p) for p in predictions],
        model_version=predictor.version,
        request_id=request.state.request_id,
    )
