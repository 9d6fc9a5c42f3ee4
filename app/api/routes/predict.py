"""POST /predict and /predict/batch: the served model's validated inputs in, its answer out.

The bodies are the ones app/api/model_api.py built from the model's contract, so the routes
are made per app (`build_router`). JsonBodyRoute checks the Content-Type, parses and
validates the body and checks the model is loaded before the endpoint runs
(app/api/json_route.py). The response is built as plain dicts and serialised once with
orjson; `response_model` stays declared for the OpenAPI document, but returning a Response
skips FastAPI's re-validation of our own output. A classifier answers its class and
probabilities, a regressor its value.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from app.api.deps import loaded_predictor, settings_of
from app.api.json_route import JsonBodyRoute, JSONBytesResponse
from app.api.model_api import ModelApi, outside_training
from app.api.schemas import (
    BatchPredictResponse,
    BatchRegressionResponse,
    ErrorResponse,
    PredictResponse,
    RegressionResponse,
)
from app.ml.predictor import Predictions, Predictor

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503)
}


def _rows(instances: Sequence[BaseModel], predictor: Predictor) -> Any:
    """The rows in the model's input order: one C-level attrgetter call per row (a getattr
    per field was 13 % of a 100-row batch of a 30-input model, py-spy)."""
    values = predictor.row_values
    return predictor.matrix([values(item) for item in instances])


def _results(predictions: Predictions, predictor: Predictor) -> list[dict[str, Any]]:
    """PredictionResult- or RegressionResult-shaped dicts (the schema test checks them)."""
    if predictor.task == "regression":
        return [{"prediction": value} for value in predictions.values]
    class_names = predictor.class_names
    return [
        {
            "prediction": winner,
            "prediction_label": class_names[winner],
            "probabilities": dict(zip(class_names, row, strict=True)),
        }
        for winner, row in zip(predictions.winners, predictions.probabilities, strict=True)
    ]


def _one_result(predictions: Predictions, predictor: Predictor) -> dict[str, Any]:
    """_results for the one row of /predict, without the list around it: 2.6 µs in the
    app against 6.4 µs (timed in process, the cache as cold as between requests)."""
    if predictor.task == "regression":
        return {"prediction": predictions.values[0]}
    class_names = predictor.class_names
    winner = predictions.winners[0]
    return {
        "prediction": winner,
        "prediction_label": class_names[winner],
        "probabilities": dict(zip(class_names, predictions.probabilities[0], strict=True)),
    }


def _record_one(state: dict[str, Any], predictor: Predictor, result: dict[str, Any]) -> None:
    """What the access line records for one row: the class label, or a regressor's value."""
    state["model_version"] = predictor.version
    if predictor.task == "regression":
        state["prediction_value"] = result["prediction"]
    else:
        state["prediction_label"] = result["prediction_label"]


def _record(state: dict[str, Any], predictor: Predictor, results: list[dict[str, Any]]) -> None:
    """What the access line records for a batch: the class labels, or a regressor's values."""
    state["model_version"] = predictor.version
    if predictor.task == "regression":
        state["prediction_values"] = [result["prediction"] for result in results]
    else:
        state["prediction_labels"] = [result["prediction_label"] for result in results]


def _refuse_outside_training(
    request: Request, predictor: Predictor, rows: Sequence[BaseModel], in_batch: bool
) -> None:
    if settings_of(request).OUT_OF_RANGE == "refuse":
        errors = outside_training(predictor.contract, rows, in_batch)
        if errors:
            raise RequestValidationError(errors)


def build_router(api: ModelApi) -> APIRouter:
    """The two prediction routes for this model's bodies."""
    router = APIRouter(
        prefix="/predict", tags=["predict"], responses=ERROR_RESPONSES, route_class=JsonBodyRoute
    )
    single: type[BaseModel] = RegressionResponse if api.regression else PredictResponse
    batch: type[BaseModel] = BatchRegressionResponse if api.regression else BatchPredictResponse
    row_model, batch_model = api.row, api.batch

    @router.post("", response_model=single)
    async def predict(features: row_model, request: Request) -> Response:  # type: ignore[valid-type]
        """Predict one row."""
        predictor = loaded_predictor(request)
        if isinstance(features, np.ndarray):  # a plain-number row, already the matrix
            rows = features
        else:
            _refuse_outside_training(request, predictor, [features], in_batch=False)
            rows = _rows([features], predictor)
        # The ASGI state dict the edge filled (request.state wraps the same dict).
        state = request.scope["state"]
        request_id = state["request_id"]
        predictions = predictor.predict(rows, request_id)
        result = _one_result(predictions, predictor)
        _record_one(state, predictor, result)
        result["model_version"] = predictor.version
        result["request_id"] = request_id
        return JSONBytesResponse(orjson.dumps(result))

    @router.post("/batch", response_model=batch)
    async def predict_batch(body: batch_model, request: Request) -> Response:  # type: ignore[valid-type]
        """Predict up to MAX_BATCH_SIZE rows with one vectorised model call."""
        predictor = loaded_predictor(request)  # its size was checked before validation
        instances = body.instances  # type: ignore[attr-defined]
        _refuse_outside_training(request, predictor, instances, in_batch=True)
        state = request.scope["state"]
        request_id = state["request_id"]
        results = _results(predictor.predict(_rows(instances, predictor), request_id), predictor)
        state["batch_size"] = len(results)
        _record(state, predictor, results)
        return JSONBytesResponse(
            orjson.dumps(
                {
                    "predictions": results,
                    "model_version": predictor.version,
                    "request_id": request_id,
                }
            )
        )

    return router
