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
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from app import __version__
from app.api.body import (
    BinaryTensorResponse,
    is_json,
    json_response,
    parse_json,
    raw_header,
    read_body,
)
from app.api.oip import (
    InferenceResponse,
    MetadataModelResponse,
    MetadataServerResponse,
    ModelReadyResponse,
    ProtocolErrorResponse,
    ServerLiveResponse,
    ServerReadyResponse,
    model_inputs,
    model_outputs,
)
from app.api.oip_binary import (
    EXTENSION,
    HEADER,
    BinaryDataError,
    encode,
    split_body,
    with_binary_inputs,
)
from app.api.oip_codec import OipCodec, ProtocolError
from app.api.routing import DirectRoute
from app.core.errors import ApiError
from app.core.lifecycle import DrainState
from app.dataplane.dataplane import DataPlane
from app.dataplane.policy import OutsideTrainingError
from app.ml.serving.runtime import ModelRuntime

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ProtocolErrorResponse} for code in (400, 404, 413, 415, 422, 503)
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


class OipEndpoints:
    """The Open Inference Protocol's routes for one model API (MLServer's `Endpoints`: the
    routes' handlers, holding the codec and the dataplane they call). A path may name the
    model's version too (/v2/models/{name}/versions/{version}/...): the handlers read it
    from the path's parameters, so one handler serves both forms of a route."""

    def __init__(self, codec: OipCodec, dataplane: DataPlane) -> None:
        self.codec = codec
        self.dataplane = dataplane

    async def server_live(self, _request: Request) -> Response:
        return Response(b'{"live":true}', media_type="application/json")

    async def server_ready(self, _request: Request) -> Response:
        ready = self.dataplane.registry.runtime is not None and not DrainState.draining
        return json_response({"ready": ready}, 200 if ready else 503)

    async def server_metadata(self, _request: Request) -> Response:
        return json_response(
            {"name": "glassbox", "version": __version__, "extensions": [EXTENSION]}
        )

    async def model_metadata(self, request: Request, name: str) -> Response:
        try:
            runtime = self._served(request, name)
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

    async def model_ready(self, request: Request, name: str) -> Response:
        try:
            runtime = self._served(request, name)
        except ProtocolError as error:
            if error.status != 503:
                return _refuse(request, error)
            return json_response({"name": name, "ready": False}, 503)
        return json_response({"name": runtime.name, "ready": True})

    async def infer(self, request: Request, name: str) -> Response:
        """An InferenceRequest (app/api/oip.py): one tensor per input, or one [N, F]."""
        try:
            data = await _read(request, self.codec)
            runtime = self._served(request, name)
            inference = self.codec.decode(data, runtime)
            fields = request.scope["state"]
            try:
                predictions = self.dataplane.infer(runtime, inference.matrix, fields)
            except OutsideTrainingError as refused:
                raise self.codec.refused(refused.refusals) from refused
            fields["batch_size"] = len(inference.matrix)
            answer = self.codec.answer(predictions, runtime, inference, fields["request_id"])
        except ProtocolError as error:
            return _refuse(request, error)
        if inference.binary:
            return BinaryTensorResponse(*encode(answer, inference.binary))
        return json_response(answer)

    def _served(self, request: Request, name: str) -> ModelRuntime:
        """The dataplane's serving runtime, if it is the one the path names."""
        try:
            runtime = self.dataplane.model(name, request.path_params.get("version"))
        except ApiError as exc:  # ModelNotReadyError (503), ModelNotFoundError (404)
            raise ProtocolError(exc.status_code, exc.code, exc.message) from exc
        request.scope["state"]["model_version"] = runtime.version
        return runtime


Handler = Callable[[Request, str], Awaitable[Response]]


def _by_name(handler: Handler) -> Callable[..., Awaitable[Response]]:
    """A path naming the model only: the handler itself."""
    return handler


def _at(handler: Handler) -> Callable[..., Awaitable[Response]]:
    """A path naming the model and its version: the handler, declared with `version` for
    the document (it reads the version from the path's parameters itself)."""

    async def endpoint(request: Request, name: str, version: str) -> Response:  # noqa: ARG001
        return await handler(request, name)

    endpoint.__name__, endpoint.__doc__ = f"{handler.__name__}_version", handler.__doc__
    return endpoint


# Each model route has two forms: the model alone, and the model at one version.
_FORMS = (("/models/{name}", _by_name), ("/models/{name}/versions/{version}", _at))


def build_router(codec: OipCodec, dataplane: DataPlane) -> APIRouter:
    router = APIRouter(
        prefix="/v2",
        tags=["open inference protocol"],
        responses=ERRORS,
        route_class=DirectRoute,
    )
    endpoints = OipEndpoints(codec, dataplane)
    # Starlette tries routes in order: infer first, or every inference request is matched
    # against the health and metadata routes' patterns first (10 % of an in-process V2
    # request under cProfile, against 2 % for /predict, which comes first).
    for path, form in _FORMS:
        router.add_api_route(
            f"{path}/infer",
            form(endpoints.infer),
            methods=["POST"],
            response_model=InferenceResponse,
            openapi_extra=INFER_BODY,
        )
    server: list[tuple[str, Callable[[Request], Awaitable[Response]], type[BaseModel]]] = [
        ("/health/live", endpoints.server_live, ServerLiveResponse),
        ("/health/ready", endpoints.server_ready, ServerReadyResponse),
        ("", endpoints.server_metadata, MetadataServerResponse),
    ]
    for path, endpoint, model in server:
        router.add_api_route(path, endpoint, methods=["GET"], response_model=model)
    per_model: list[tuple[str, Handler, type[BaseModel]]] = [
        ("", endpoints.model_metadata, MetadataModelResponse),
        ("/ready", endpoints.model_ready, ModelReadyResponse),
    ]
    for path, form in _FORMS:
        for suffix, handler, model in per_model:
            router.add_api_route(
                path + suffix, form(handler), methods=["GET"], response_model=model
            )
    return router


async def _read(request: Request, codec: OipCodec) -> Any:
    """The infer body's JSON, with any binary tensors' values in place (app/api/oip_binary.py):
    415, 400 (not JSON, binary sizes that do not add up), 413 on the whole body."""
    content_type = raw_header(request, b"content-type")
    header_length = raw_header(request, HEADER)
    # The protocol's body is JSON and its clients (tritonclient) send no Content-Type; one
    # that names something else is refused, as on /predict (a binary one may say so).
    if (
        content_type is not None
        and content_type != b"application/json"
        and not (header_length is not None and content_type == b"application/octet-stream")
        and not is_json(content_type.decode("latin-1"))
    ):
        raise ProtocolError(
            415, "unsupported_media_type", "send the body as JSON: Content-Type: application/json"
        )
    try:
        body = await read_body(request, codec.max_bytes)
        if header_length is None:
            return parse_json(body, fast=codec.fast_json)
        header, binary = split_body(body, header_length)
        return with_binary_inputs(parse_json(header, fast=codec.fast_json), binary)
    except BinaryDataError as exc:
        raise ProtocolError(400, "invalid_binary_data", str(exc)) from exc
    except ApiError as exc:
        raise ProtocolError(exc.status_code, exc.code, exc.message) from exc
    except (RequestValidationError, HTTPException) as exc:
        raise ProtocolError(400, "malformed_json", "request body is not valid JSON") from exc
