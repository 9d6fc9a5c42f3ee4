"""The Open Inference Protocol (REST, "V2") beside the native API, for the served model.

GET /v2/health/live, /v2/health/ready, /v2 (server metadata), /v2/models/{name}[/versions/
{version}] (model metadata) and .../ready; POST .../infer. Bodies and tensors:
app/api/oip.py. An infer request goes the way a /predict/batch request goes -- the same
Content-Type check, byte budget (413 unread), strict JSON, model check (503), row
validation and OUT_OF_RANGE policy, one model call with the same metrics and drift
counts, one access line -- and answers in the protocol's own shapes: outputs `predict`
(the class index, or a regressor's value), `predict_label` (the class name) and
`predict_proba` ([N, C]), `id` echoed, and errors as `{"error": "..."}` with the request id
still in the X-Request-ID header. The SLO covers /predict only; the V2 routes have their own
`handler` label on every metric (docs/models.md).
"""

from collections.abc import Sequence
from typing import Any

import numpy.typing as npt
import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from app import __version__
from app.api.deps import is_json, loaded_predictor, raw_header, registry_of, settings_of
from app.api.json_route import JSONBytesResponse, PathParamsRoute, parse_json, read_body
from app.api.model_api import ModelApi, outside_training
from app.api.oip import (
    ErrorResponse,
    InferenceRequest,
    InferenceResponse,
    MetadataModelResponse,
    MetadataServerResponse,
    ModelReadyResponse,
    ServerLiveResponse,
    ServerReadyResponse,
    TensorError,
    model_inputs,
    model_outputs,
    output_names,
    plain_number_matrix,
    plain_number_matrix_of_json,
    rows_of,
)
from app.core.errors import ApiError
from app.core.lifecycle import DrainState
from app.ml.predictor import Predictions, Predictor

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 404, 413, 415, 422, 503)
}


# The infer body in the OpenAPI document: the protocol's request, in outline (app/api/oip.py
# holds the whole shape; which tensors fit depends on the served model).
INFER_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "id": {"type": "string"},
                        "inputs": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                        "outputs": {"type": "array", "items": {"type": "object"}},
                    },
                }
            }
        },
    }
}


class _ProtocolError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _answer(body: Any, status: int = 200) -> Response:
    return JSONBytesResponse(orjson.dumps(body), status)


def _refuse(request: Request, error: _ProtocolError) -> Response:
    request.state.error_code = error.code  # the access line says why
    return _answer({"error": error.message}, error.status)


def _served(request: Request, name: str, version: str | None) -> Predictor:
    """The served predictor, if it is the one the path names."""
    try:
        predictor = loaded_predictor(request)
    except ApiError as exc:
        raise _ProtocolError(503, exc.code, exc.message) from exc
    if name != predictor.name or version not in (None, predictor.version):
        served = f"{predictor.name} version {predictor.version}"
        asked = f"{name}" + (f" version {version}" if version else "")
        raise _ProtocolError(
            404, "model_not_found", f"no model {asked}; this server serves {served}"
        )
    request.scope["state"]["model_version"] = predictor.version
    return predictor


def build_router(api: ModelApi) -> APIRouter:
    router = APIRouter(
        prefix="/v2",
        tags=["open inference protocol"],
        responses=ERRORS,
        route_class=PathParamsRoute,
    )

    @router.get("/health/live", response_model=ServerLiveResponse)
    async def server_live(_request: Request) -> Response:
        return Response(b'{"live":true}', media_type="application/json")

    @router.get("/health/ready", response_model=ServerReadyResponse)
    async def server_ready(request: Request) -> Response:
        ready = registry_of(request).predictor is not None and not DrainState.draining
        return _answer({"ready": ready}, 200 if ready else 503)

    @router.get("", response_model=MetadataServerResponse)
    async def server_metadata(_request: Request) -> Response:
        return _answer({"name": "glassbox", "version": __version__, "extensions": []})

    async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
        try:
            predictor = _served(request, name, version)
        except _ProtocolError as error:
            return _refuse(request, error)
        metadata = MetadataModelResponse(
            name=predictor.name,
            versions=[predictor.version],
            platform="sklearn_onnx" if predictor.inference_path == "onnxruntime" else "sklearn",
            inputs=model_inputs(predictor.contract),
            outputs=model_outputs(predictor.contract),
            parameters={"task": predictor.task},
        )
        return _answer(metadata.model_dump(exclude_none=True))

    async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
        try:
            predictor = _served(request, name, version)
        except _ProtocolError as error:
            if error.status != 503:
                return _refuse(request, error)
            return _answer({"name": name, "ready": False}, 503)
        return _answer({"name": predictor.name, "ready": True})

    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        """An InferenceRequest (app/api/oip.py): one tensor per input, or one [N, F]."""
        try:
            return _answer(await _infer(request, api, name, version))
        except _ProtocolError as error:
            return _refuse(request, error)

    for path in ("/models/{name}", "/models/{name}/versions/{version}"):
        router.add_api_route(
            path, model_metadata, methods=["GET"], response_model=MetadataModelResponse
        )
        router.add_api_route(
            f"{path}/ready", model_ready, methods=["GET"], response_model=ModelReadyResponse
        )
        router.add_api_route(
            f"{path}/infer",
            infer,
            methods=["POST"],
            response_model=InferenceResponse,
            openapi_extra=INFER_BODY,
        )
    # Starlette tries routes in order: infer first, or every inference request is matched
    # against the health and metadata routes' patterns first (10 % of an in-process V2
    # request under cProfile, against 2 % for /predict, which comes first).
    router.routes.sort(key=lambda route: not getattr(route, "path", "").endswith("/infer"))
    return router


async def _infer(request: Request, api: ModelApi, name: str, version: str | None) -> dict[str, Any]:
    content_type = raw_header(request, b"content-type")
    # The protocol's body is JSON and its clients (tritonclient) send no Content-Type; one
    # that names something else is refused, as on /predict.
    if (
        content_type is not None
        and content_type != b"application/json"
        and not is_json(content_type.decode("latin-1"))
    ):
        raise _ProtocolError(
            415, "unsupported_media_type", "send the body as JSON: Content-Type: application/json"
        )
    if raw_header(request, b"inference-header-content-length") is not None:
        raise _ProtocolError(
            400,
            "unsupported_extension",
            "the binary tensor data extension is not supported: send JSON tensors "
            "(tritonclient: binary_data=False)",
        )
    settings = settings_of(request)
    try:
        data = parse_json(await read_body(request, api.batch.max_body_bytes(settings)))
    except ApiError as exc:
        raise _ProtocolError(exc.status_code, exc.code, exc.message) from exc
    except (RequestValidationError, HTTPException) as exc:
        raise _ProtocolError(400, "malformed_json", "request body is not valid JSON") from exc
    predictor = _served(request, name, version)
    accept = settings.OUT_OF_RANGE == "accept"
    # The API's domain holds for the serving model: a swap keeps kinds and bounds.
    matrix = (
        plain_number_matrix_of_json(data, api.number_domain, settings.MAX_BATCH_SIZE)
        if accept
        else None
    )
    request_ref: str | None = None  # the request's own id, when it sends one
    if matrix is None:
        try:
            body = InferenceRequest.model_validate(data)
        except ValidationError as exc:
            raise _ProtocolError(400, "invalid_request", _describe(exc.errors(), "")) from exc
        outputs = _outputs_requested(body, predictor)
        request_ref = body.id
        if accept:
            matrix = plain_number_matrix(body, api.number_domain, settings.MAX_BATCH_SIZE)
        if matrix is None:
            matrix = _validated_rows(body, predictor, api, settings.MAX_BATCH_SIZE, not accept)
    else:
        outputs = output_names(predictor.task)
    # The ASGI state dict the edge filled (request.state wraps the same dict).
    state = request.scope["state"]
    request_id = state["request_id"]
    predictions = predictor.predict(matrix, request_id)
    state["batch_size"] = len(matrix)
    labels: list[str] = []
    if predictor.task == "regression":
        state["prediction_values"] = predictions.values
    else:
        labels = [predictor.class_names[w] for w in predictions.winners]
        state["prediction_labels"] = labels
    return {
        "model_name": predictor.name,
        "model_version": predictor.version,
        "id": request_ref if request_ref is not None else request_id,
        "outputs": [_tensor(output, predictions, predictor, labels) for output in outputs],
    }


def _validated_rows(
    body: InferenceRequest, predictor: Predictor, api: ModelApi, max_rows: int, refuse: bool
) -> npt.NDArray[Any]:
    """The tensors as rows through the batch body /predict/batch validates (its errors, its
    out-of-range policy), then as the model's matrix."""
    try:
        rows = rows_of(body, predictor.contract, max_rows)
    except TensorError as exc:
        raise _ProtocolError(400, "invalid_tensor", str(exc)) from exc
    try:
        batch = api.batch.model_validate({"instances": rows}, context={"max_batch_size": max_rows})
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise _ProtocolError(422, "validation_error", _describe(errors, "instances")) from exc
    instances = batch.instances  # type: ignore[attr-defined]
    if refuse:
        refused = outside_training(predictor.contract, instances, in_batch=True)
        if refused:
            located = [{**error, "loc": error["loc"][1:]} for error in refused]  # no "body"
            raise _ProtocolError(422, "validation_error", _describe(located, "instances"))
    values = predictor.row_values
    return predictor.matrix([values(row) for row in instances])


def _outputs_requested(body: InferenceRequest, predictor: Predictor) -> list[str]:
    available = output_names(predictor.task)
    if not body.outputs:
        return available
    asked = [output.name for output in body.outputs]
    unknown = [name for name in asked if name not in available]
    if unknown:
        raise _ProtocolError(
            400, "invalid_request", f"unknown outputs {unknown}; this model has {available}"
        )
    return asked


def _tensor(
    name: str, predictions: Predictions, predictor: Predictor, labels: list[str]
) -> dict[str, Any]:
    """One output tensor; `labels`: the predicted class names, already made for the access
    line."""
    rows = len(predictions.values or predictions.winners)
    if name == "predict" and predictor.task == "regression":
        return {"name": name, "shape": [rows], "datatype": "FP64", "data": predictions.values}
    if name == "predict":
        return {"name": name, "shape": [rows], "datatype": "INT64", "data": predictions.winners}
    if name == "predict_label":
        return {"name": name, "shape": [rows], "datatype": "BYTES", "data": labels}
    flat = [p for row in predictions.probabilities for p in row]
    classes = len(predictor.class_names)
    return {"name": name, "shape": [rows, classes], "datatype": "FP64", "data": flat}


def _describe(errors: Sequence[Any], rows: str) -> str:
    """Pydantic-style errors as one line naming the row and input (or the request field)."""
    parts = []
    for error in list(errors)[:10]:
        location = list(error["loc"])
        if rows and location[:1] == [rows] and len(location) >= 3:
            where = f"row {location[1]}, input {location[2]}"
        else:
            where = ".".join(str(part) for part in location) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "invalid " + "; ".join(parts)
