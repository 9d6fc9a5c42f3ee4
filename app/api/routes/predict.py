"""POST /predict and /predict/batch: validated features in, class and probabilities out.

JsonBodyRoute checks the Content-Type, parses and validates the body and checks the model
is loaded before the endpoint runs (app/api/json_route.py). The response is built as plain
dicts and serialised once with orjson; `response_model` stays declared for the OpenAPI
document, but returning a Response skips FastAPI's re-validation of our own output.
"""

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response

from app.api.deps import loaded_predictor
from app.api.json_route import JsonBodyRoute
from app.api.schemas import (
    BatchPredictRequest,
    BatchPredictResponse,
    ErrorResponse,
    IrisFeatures,
    PredictResponse,
)
from app.ml.predictor import Predictions

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503)
}

router = APIRouter(
    prefix="/predict", tags=["predict"], responses=ERROR_RESPONSES, route_class=JsonBodyRoute
)


class JSONBytesResponse(Response):
    media_type = "application/json"


def _rows(instances: list[IrisFeatures], feature_names: list[str]) -> np.ndarray:
    return np.array(
        [[getattr(item, name) for name in feature_names] for item in instances], dtype=np.float64
    )


def _results(predictions: Predictions, class_names: list[str]) -> list[dict[str, object]]:
    """PredictionResult-shaped dicts (the schema test checks them against the model)."""
    return [
        {
            "prediction": winner,
            "prediction_label": class_names[winner],
            "probabilities": dict(zip(class_names, row, strict=True)),
        }
        for winner, row in zip(predictions.winners, predictions.probabilities, strict=True)
    ]


@router.post("", response_model=PredictResponse)
async def predict(features: IrisFeatures, request: Request) -> Response:
    """Predict the species of one flower."""
    predictor = loaded_predictor(request)
    state = request.state
    rows = _rows([features], predictor.feature_names)
    (result,) = _results(predictor.predict(rows, state.request_id), predictor.class_names)
    state.model_version = predictor.version
    state.prediction_label = result["prediction_label"]
    result["model_version"] = predictor.version
    result["request_id"] = state.request_id
    return JSONBytesResponse(orjson.dumps(result))


@router.post("/batch", response_model=BatchPredictResponse)
async def predict_batch(body: BatchPredictRequest, request: Request) -> Response:
    """Predict up to MAX_BATCH_SIZE flowers with one vectorised model call."""
    predictor = loaded_predictor(request)  # its size was checked before validation
    state = request.state
    rows = _rows(body.instances, predictor.feature_names)
    results = _results(predictor.predict(rows, state.request_id), predictor.class_names)
    state.model_version = predictor.version
    state.batch_size = len(results)
    state.prediction_labels = [r["prediction_label"] for r in results]
    return JSONBytesResponse(
        orjson.dumps(
            {
                "predictions": results,
                "model_version": predictor.version,
                "request_id": state.request_id,
            }
        )
    )
