"""A lean request handler for the prediction routes, through FastAPI's `route_class` hook.

FastAPI's generic handler re-parses the Content-Type with `email.message`, resolves the
dependency graph and re-validates the returned model on every request; profiled, that was a
quarter of /predict once the model call took 8 µs. Routes that use JsonBodyRoute have one
shape -- `async def f(body: Model, request: Request) -> Response` -- so its handler does the
same steps directly, in FastAPI's order and with its errors:

1. a body that is not JSON by its Content-Type -> 415 (`unsupported_media_type`);
   a body over the route's size (the body model's `max_body_bytes`, e.g. MAX_BATCH_SIZE
   flowers' worth) -> 413 before it is parsed, so an over-size batch costs no validation;
2. JSON that does not parse -> the same RequestValidationError / 400 FastAPI raises, which
   app/core/errors.py renders as `malformed_json`; stricter than FastAPI, bodies that are
   not UTF-8 (UTF-16/32, a BOM) and objects with a repeated key are 400 too;
3. the model must be loaded -> 503 (`model_not_ready`), before any field is validated;
4. fields -> RequestValidationError with `("body", ...)` locations, rendered as 422; a
   batch over MAX_BATCH_SIZE is counted before any row is validated.

The OpenAPI document still comes from the endpoint's signature and `response_model`.
"""

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from app.api.deps import loaded_predictor, raw_header, require_json_content_type, settings_of
from app.api.oip import NumberDomain, plain_number_row
from app.core.config import Settings
from app.core.errors import FASTAPI_BODY_PARSE_ERROR, ApiError

Endpoint = Callable[[Any, Request], Awaitable[Response]]


class _DuplicateKeyError(ValueError):
    pass


_SLOW = object()  # _parse_fast's "take the strict path"


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object hook: `{"a": 1, "a": 2}` is ambiguous, so it is refused."""
    result = dict(pairs)
    if len(result) != len(pairs):
        keys = [key for key, _ in pairs]
        raise _DuplicateKeyError(next(key for key in keys if keys.count(key) > 1))
    return result


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"request body exceeds the limit of {limit} bytes for this route"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 once it is known to outgrow `limit` -- from Content-Length or while
    streaming. The rest is read and dropped, never parsed: answering with unread bytes on
    the socket makes the kernel reset the connection, and the client would lose the 413.
    (The edge has already refused anything over MAX_BODY_BYTES: app/middleware/edge.py.)"""
    declared = raw_header(request, b"content-length") or b""
    too_large = declared.isdigit() and int(declared) > limit
    chunks: list[bytes] = []
    size = 0
    # `receive` itself, as Request.stream() reads it, without its async generator (~2 % of
    # /predict, py-spy); nothing reads this request's body again.
    receive = request.receive
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        too_large = too_large or size > limit
        if not too_large:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if too_large:
        raise _too_large(limit)
    return b"".join(chunks)


def _parse_fast(body: bytes) -> Any:
    """orjson's parse, when it provably equals the strict one below; else _SLOW.

    The strict parse calls a Python hook per object to refuse repeated keys: profiled on a
    batch of 100 rows of 30 inputs it was 27 % of /predict/batch (495 µs; orjson 130 µs).
    orjson parses valid RFC 8259 JSON to the same values and refuses everything else
    (NaN, a BOM, lone surrogates...), which then takes the strict path and gets its exact
    answer. Repeated keys: each key/value pair has one structural colon, so a body whose
    colons (structural + inside strings) are as many as those of its parse re-encoded has
    lost no pair to a repeated key; any difference goes the strict way, which decides.
    (orjson reads integers beyond 64 bits as floats: integer inputs are bounded far below.)"""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _SLOW
    colons = body.count(b":")
    if type(parsed) is dict and colons == _keys_in_sight(parsed):
        # Each key counted took a colon, so none was left for a repeated or another pair:
        # re-encoding the body to count its colons (~1 µs a row) says no more.
        return parsed
    if colons != orjson.dumps(parsed).count(b":"):
        return _SLOW
    return parsed


def _keys_in_sight(parsed: dict[Any, Any]) -> int:
    """The keys of an object and of the objects directly in its arrays: a row, a batch's
    rows, an infer request's tensors. Each is a distinct parsed key and took one colon of
    the body, so a body with exactly this many colons holds no other pair, repeated or not."""
    count = len(parsed)
    for value in parsed.values():
        if type(value) is list:
            for item in value:
                if type(item) is dict:
                    count += len(item)
    return count


def parse_json(body: bytes) -> Any:
    """Strict JSON: UTF-8 only (no UTF-16/32, no BOM), no duplicated keys."""
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "malformed_json", f"request body is not UTF-8: byte {exc.start} is invalid"
        ) from exc
    parsed = _parse_fast(body)
    if parsed is not _SLOW:
        return parsed
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ],
            body=exc.doc,
        ) from exc
    except _DuplicateKeyError as exc:
        raise ApiError(
            400, "malformed_json", f"request body repeats the key {str(exc)[:100]!r}"
        ) from exc
    except (RecursionError, ValueError) as exc:
        raise HTTPException(400, FASTAPI_BODY_PARSE_ERROR) from exc


def validate(model: type[BaseModel], data: Any, settings: Settings) -> BaseModel:
    try:
        return model.model_validate(data, context={"max_batch_size": settings.MAX_BATCH_SIZE})
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors, body=data) from exc


class JSONBytesResponse(Response):
    """Bytes orjson wrote, as a JSON response, its two headers set directly: Starlette's
    init_headers, generic over media types and charsets, was ~1.5 % of /predict (py-spy)."""

    media_type = "application/json"

    def __init__(self, content: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = content
        self.raw_headers = [
            (b"content-length", str(len(content)).encode("latin-1")),
            (b"content-type", b"application/json"),
        ]


class JsonBodyRoute(APIRoute):
    """APIRoute whose endpoint takes (validated body model, request) and returns a Response.
    A row body of a model whose inputs are all numbers (`plain_domain`) may instead hand
    the endpoint the model's one-row matrix, for a row it provably accepts (OUT_OF_RANGE
    accept: a refusal names the field from the validated row)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        model = self._body_model()
        endpoint: Endpoint = self.endpoint
        sized: Callable[[Settings], int] | None = getattr(model, "max_body_bytes", None)

        def max_body_bytes(settings: Settings) -> int:
            return sized(settings) if sized else settings.MAX_BODY_BYTES

        plain: NumberDomain | None = getattr(model, "plain_domain", None)

        async def handle(request: Request) -> Response:
            require_json_content_type(request)
            settings = settings_of(request)
            data = parse_json(await read_body(request, max_body_bytes(settings)))
            loaded_predictor(request)  # 503 before 422, as a dependency would
            if plain is not None and settings.OUT_OF_RANGE == "accept":
                # A row of plain numbers the body provably accepts: the model's matrix.
                matrix = plain_number_row(data, plain)
                if matrix is not None:
                    return await endpoint(matrix, request)
            return await endpoint(validate(model, data, settings), request)

        return handle

    def _body_model(self) -> type[BaseModel]:
        """The endpoint's one body model; anything this handler would not honour is refused
        at startup (a dependency or parameter here would silently never run)."""
        dependant = self.dependant
        body = dependant.body_params
        annotation = body[0].field_info.annotation if len(body) == 1 else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            raise TypeError(f"{self.path}: JsonBodyRoute needs exactly one pydantic body")
        extras = [
            *dependant.dependencies,
            *dependant.path_params,
            *dependant.query_params,
            *dependant.header_params,
            *dependant.cookie_params,
        ]
        if extras:
            raise TypeError(f"{self.path}: JsonBodyRoute takes (body, request) only")
        return annotation


class PathParamsRoute(APIRoute):
    """APIRoute whose endpoint takes (request, **path parameters), called directly: FastAPI's
    generic handler (dependency solver, parameter validation) is skipped, as JsonBodyRoute
    does; the Open Inference Protocol's routes read and answer their bodies themselves. The
    OpenAPI document still comes from the endpoint's signature."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[..., Awaitable[Response]] = self.endpoint

        async def handle(request: Request) -> Response:
            return await endpoint(request, **request.path_params)

        return handle
