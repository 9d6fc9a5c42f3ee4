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
from app.dataplane.dataplane import DataPlane
from app.dataplane.policy import OutsideTrainingError

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (400, 413, 415, 422, 503)
}


class NativeEndpoints:
    """/predict and /predict/batch for one model API (MLServer's `Endpoints`: the routes'
    handlers, holding the codec and the dataplane they call)."""

    def __init__(self, codec: NativeCodec, dataplane: DataPlane) -> None:
        self.codec = codec
        self.dataplane = dataplane

    async def predict(self, request: Request) -> Response:
        """Predict one row."""
        data = await read_json(request, self.codec.row_bytes, fast=self.codec.fast_json)
        runtime = self.dataplane.model()
        rows = self.codec.row_matrix(data, runtime)
        fields = request.scope["state"]  # the request id, and the access line's fields
        try:
            predictions = self.dataplane.infer(runtime, rows, fields)
        except OutsideTrainingError as refused:
            raise self.codec.refused(refused.refusals, in_batch=False) from refused
        return self.codec.row_answer(predictions, runtime, fields["request_id"])

    async def predict_batch(self, request: Request) -> Response:
        """Predict up to MAX_BATCH_SIZE rows with one vectorised model call."""
        data = await read_json(request, self.codec.batch_bytes, fast=self.codec.fast_json)
        runtime = self.dataplane.model()
        rows = self.codec.batch_matrix(data, runtime)
        fields = request.scope["state"]
        try:
            predictions = self.dataplane.infer(runtime, rows, fields)
        except OutsideTrainingError as refused:
            raise self.codec.refused(refused.refusals, in_batch=True) from refused
        fields["batch_size"] = len(rows)
        return self.codec.batch_answer(predictions, runtime, fields["request_id"])


def build_router(codec: NativeCodec, dataplane: DataPlane, regression: bool) -> APIRouter:
    """The two prediction routes for this model's bodies."""
    router = APIRouter(
        prefix="/predict", tags=["predict"], responses=ERROR_RESPONSES, route_class=DirectRoute
    )
    single: type[BaseModel] = RegressionResponse if regression else PredictResponse
    batch: type[BaseModel] = BatchRegressionResponse if regression else BatchPredictResponse
    endpoints = NativeEndpoints(codec, dataplane)
    router.add_api_route(
        "",
        endpoints.predict,
        methods=["POST"],
        response_model=single,
        openapi_extra=body_schema(codec.row_model),
    )
    router.add_api_route(
        "/batch",
        endpoints.predict_batch,
        methods=["POST"],
        response_model=batch,
        openapi_extra=body_schema(codec.batch_model),
    )
    return router
