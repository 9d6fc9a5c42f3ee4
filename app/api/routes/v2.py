"""The Open Inference Protocol (REST, "V2") beside the native API, for the served model.

GET /v2/health/live, /v2/health/ready, /v2 (server metadata), /v2/models/{name}[/versions/
{version}] (model metadata) and .../ready; POST .../infer. Bodies: app/api/oip.py; tensors
to the model's matrix and back: app/api/oip_codec.py. An infer request goes the way a
/predict/batch request goes -- the same Content-Type check, byte budget (413 unread),
strict JSON, the dataplane's model look-up (503, or 404 for a model this server does not
serve), row validation and OUT_OF_RANGE policy, one model call with the same sinks, one
access line -- and answers in the protocol's own shapes: outputs `predict` (the class
index, or a regressor's value), `predict_label` (the class name) and `predict_proba`
([N, C]), `id` echoed, and errors as `{"error": "..."}` with the request id still in the
X-Request-ID header. The SLO covers /predict only; the V2 routes have their own `handler`
label on every metric (docs/models.md).
"""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from app import __version__
from app.api.body import (
    is_json,
    json_response,
    parse_json,
    raw_header,
    read_body,
)
from app.api.oip import (
    ErrorResponse,
    InferenceResponse,
    MetadataModelResponse,
    MetadataServerResponse,
    ModelReadyResponse,
    ServerLiveResponse,
    ServerReadyResponse,
    model_inputs,
    model_outputs,
)
from app.api.oip_codec import OipCodec, ProtocolError
from app.api.routing import DirectRoute
from app.core.errors import ApiError
from app.core.lifecycle import DrainState
from app.dataplane import DataPlane, OutsideTrainingError
from app.ml.serving.runtime import ModelRuntime

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


def _refuse(request: Request, error: ProtocolError) -> Response:
    request.scope["state"]["error_code"] = error.code  # the access line says why
    return json_response({"error": error.message}, error.status)


def _served(request: Request, dataplane: DataPlane, name: str, version: str | None) -> ModelRuntime:
    """The dataplane's serving runtime, if it is the one the path names."""
    try:
        runtime = dataplane.model(name, version)
    except ApiError as exc:  # ModelNotReadyError (503), ModelNotFoundError (404)
        raise ProtocolError(exc.status_code, exc.code, exc.message) from exc
    request.scope["state"]["model_version"] = runtime.version
    return runtime


def build_router(codec: OipCodec, dataplane: DataPlane) -> APIRouter:
    router = APIRouter(
        prefix="/v2",
        tags=["open inference protocol"],
        responses=ERRORS,
        route_class=DirectRoute,
    )

    @router.get("/health/live", response_model=ServerLiveResponse)
    async def server_live(_request: Request) -> Response:
        return Response(b'{"live":true}', media_type="application/json")

    @router.get("/health/ready", response_model=ServerReadyResponse)
    async def server_ready(_request: Request) -> Response:
        ready = dataplane.registry.runtime is not None and not DrainState.draining
        return json_response({"ready": ready}, 200 if ready else 503)

    @router.get("", response_model=MetadataServerResponse)
    async def server_metadata(_request: Request) -> Response:
        return json_response({"name": "glassbox", "version": __version__, "extensions": []})

    async def model_metadata(request: Request, name: str, version: str | None = None) -> Response:
        try:
            runtime = _served(request, dataplane, name, version)
        except ProtocolError as error:
            return _refuse(request, error)
        metadata = MetadataModelResponse(
            name=runtime.name,
            versions=[runtime.version],
            platform="sklearn_onnx" if runtime.inference_path == "onnxruntime" else "sklearn",
            inputs=model_inputs(runtime.contract),
            outputs=model_outputs(runtime.contract),
            parameters={"task": runtime.task},
        )
        return json_response(metadata.model_dump(exclude_none=True))

    async def model_ready(request: Request, name: str, version: str | None = None) -> Response:
        try:
            runtime = _served(request, dataplane, name, version)
        except ProtocolError as error:
            if error.status != 503:
                return _refuse(request, error)
            return json_response({"name": name, "ready": False}, 503)
        return json_response({"name": runtime.name, "ready": True})

    async def infer(request: Request, name: str, version: str | None = None) -> Response:
        """An InferenceRequest (app/api/oip.py): one tensor per input, or one [N, F]."""
        try:
            data = await _read(request, codec)
            runtime = _served(request, dataplane, name, version)
            inference = codec.decode(data, runtime)
            fields = request.scope["state"]
            try:
                predictions = dataplane.infer(runtime, inference.matrix, fields)
            except OutsideTrainingError as refused:
                raise codec.refused(refused.refusals) from refused
            fields["batch_size"] = len(inference.matrix)
            answer = codec.answer(predictions, runtime, inference, fields["request_id"])
        except ProtocolError as error:
            return _refuse(request, error)
        return json_response(answer)

    for path, at in (("/models/{name}", _by_name), ("/models/{name}/versions/{version}", _at)):
        router.add_api_route(
            path, at(model_metadata), methods=["GET"], response_model=MetadataModelResponse
        )
        router.add_api_route(
            f"{path}/ready", at(model_ready), methods=["GET"], response_model=ModelReadyResponse
        )
        router.add_api_route(
            f"{path}/infer",
            at(infer),
            methods=["POST"],
            response_model=InferenceResponse,
            openapi_extra=INFER_BODY,
        )
    # Starlette tries routes in order: infer first, or every inference request is matched
    # against the health and metadata routes' patterns first (10 % of an in-process V2
    # request under cProfile, against 2 % for /predict, which comes first).
    router.routes.sort(key=lambda route: not getattr(route, "path", "").endswith("/infer"))
    return router


Handler = Callable[[Request, str, str | None], Awaitable[Response]]


def _by_name(handler: Handler) -> Callable[..., Awaitable[Response]]:
    """`handler` for a path that names the model only: the version is None."""

    async def endpoint(request: Request, name: str) -> Response:
        return await handler(request, name, None)

    endpoint.__name__, endpoint.__doc__ = handler.__name__, handler.__doc__
    return endpoint


def _at(handler: Handler) -> Callable[..., Awaitable[Response]]:
    """`handler` for a path that names the model and its version."""

    async def endpoint(request: Request, name: str, version: str) -> Response:
        return await handler(request, name, version)

    endpoint.__name__, endpoint.__doc__ = f"{handler.__name__}_version", handler.__doc__
    return endpoint


async def _read(request: Request, codec: OipCodec) -> Any:
    """The infer body's JSON: 415, 400 (the binary extension, or not JSON), 413."""
    content_type = raw_header(request, b"content-type")
    # The protocol's body is JSON and its clients (tritonclient) send no Content-Type; one
    # that names something else is refused, as on /predict.
    if (
        content_type is not None
        and content_type != b"application/json"
        and not is_json(content_type.decode("latin-1"))
    ):
        raise ProtocolError(
            415, "unsupported_media_type", "send the body as JSON: Content-Type: application/json"
        )
    if raw_header(request, b"inference-header-content-length") is not None:
        raise ProtocolError(
            400,
            "unsupported_extension",
            "the binary tensor data extension is not supported: send JSON tensors "
            "(tritonclient: binary_data=False)",
        )
    try:
        return parse_json(await read_body(request, codec.max_bytes), fast=codec.fast_json)
    except ApiError as exc:
        raise ProtocolError(exc.status_code, exc.code, exc.message) from exc
    except (RequestValidationError, HTTPException) as exc:
        raise ProtocolError(400, "malformed_json", "request body is not valid JSON") from exc
