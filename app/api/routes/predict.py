"""POST /predict and /predict/batch: the native JSON API, a codec around the dataplane.

Each route reads its JSON body (415 / 413 / 400: app/api/body.py), asks the dataplane for
the serving model (503), decodes the body into the model's matrix (422 naming the field:
app/api/native.py), has the dataplane answer it (the input policy's 422, the model call,
the sinks after the response: app/dataplane/), and writes the answer as JSON. The bodies
are built from the model's contract, so the routes are made per API (`build_router`);
`response_model` stays declared for the OpenAPI document. A classifier answers its class
and probabilities, a regressor its value.
"""

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from app.api.body import read_json
from app.api.native import NativeCodec
from app.api.routing import DirectRoute, body_schema
from app.api.schemas import (
    BatchPredictResponse,
    BatchRegressionResponse,
    ErrorResponse,
    PredictResponse,
    RegressionResponse,
)
from app.dataplane import DataPlane, OutsideTrainingError

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503)
}


def build_router(codec: NativeCodec, dataplane: DataPlane, regression: bool) -> APIRouter:
    """The two prediction routes for this model's bodies."""
    router = APIRouter(
        prefix="/predict", tags=["predict"], responses=ERROR_RESPONSES, route_class=DirectRoute
    )
    single: type[BaseModel] = RegressionResponse if regression else PredictResponse
    batch: type[BaseModel] = BatchRegressionResponse if regression else BatchPredictResponse

    @router.post("", response_model=single, openapi_extra=body_schema(codec.row_model))
    async def predict(request: Request) -> Response:
        """Predict one row."""
        data = await read_json(request, codec.row_bytes, fast=codec.fast_json)
        runtime = dataplane.model()
        rows = codec.row_matrix(data, runtime)
        fields = request.scope["state"]  # the request id, and the access line's fields
        try:
            predictions = dataplane.infer(runtime, rows, fields)
        except OutsideTrainingError as refused:
            raise codec.refused(refused.refusals, in_batch=False) from refused
        return codec.row_answer(predictions, runtime, fields["request_id"])

    @router.post("/batch", response_model=batch, openapi_extra=body_schema(codec.batch_model))
    async def predict_batch(request: Request) -> Response:
        """Predict up to MAX_BATCH_SIZE rows with one vectorised model call."""
        data = await read_json(request, codec.batch_bytes, fast=codec.fast_json)
        runtime = dataplane.model()
        rows = codec.batch_matrix(data, runtime)
        fields = request.scope["state"]
        try:
            predictions = dataplane.infer(runtime, rows, fields)
        except OutsideTrainingError as refused:
            raise codec.refused(refused.refusals, in_batch=True) from refused
        fields["batch_size"] = len(rows)
        return codec.batch_answer(predictions, runtime, fields["request_id"])

    return router
