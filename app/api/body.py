"""Request bodies in and JSON answers out, for the routes that read their own body.

The prediction, Open Inference Protocol and feedback routes (app/api/routing.py
`DirectRoute`) skip FastAPI's generic handler, which re-parses the Content-Type with
`email.message`, resolves the dependency graph and re-validates the returned model on
every request (a quarter of /predict once the model call took 8 µs). Each reads its body
here, in FastAPI's order and with its errors:

1. a body that is not JSON by its Content-Type -> 415 (`unsupported_media_type`);
   a body over the route's size -> 413 before it is parsed, so an over-size batch costs no
   validation (the edge has already refused anything over MAX_BODY_BYTES);
2. JSON that does not parse -> the same RequestValidationError / 400 FastAPI raises, which
   app/core/errors.py renders as `malformed_json`; stricter than FastAPI, bodies that are
   not UTF-8 (UTF-16/32, a BOM) and objects with a repeated key are 400 too;
3. fields -> RequestValidationError with `("body", ...)` locations, rendered as 422.

The parse has a fast path beside its slow twin: orjson, when its parse provably equals the
strict one (`parse_json`).
"""

import json
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from app.core.config import Settings
from app.core.errors import FASTAPI_BODY_PARSE_ERROR, ApiError


def raw_header(request: Request, name: bytes) -> bytes | None:
    """The first value of a header (`name` in lower case, as servers hand them over), read
    from the scope: request.headers builds a Headers object for a lookup or two (~1.5 % of
    a V2 infer, py-spy)."""
    return next((value for key, value in request.scope["headers"] if key == name), None)


def is_json(content_type: str) -> bool:
    """application/json or application/<anything>+json, parameters (charset) ignored."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def require_json_content_type(request: Request) -> None:
    """415 for a body that is not JSON (the classic `curl -d` without -H mistake)."""
    content_type = (raw_header(request, b"content-type") or b"").decode("latin-1")
    if not is_json(content_type):
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as JSON with the header Content-Type: application/json",
            [{"received_content_type": content_type[:100]}],
        )


def too_large(limit: int) -> ApiError:
    return ApiError(
        413, "payload_too_large", f"request body exceeds the limit of {limit} bytes for this route"
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 once it is known to outgrow `limit` -- from Content-Length or while
    streaming. The rest is read and dropped, never parsed: answering with unread bytes on
    the socket makes the kernel reset the connection, and the client would lose the 413."""
    declared = raw_header(request, b"content-length") or b""
    over = declared.isdigit() and int(declared) > limit
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
        over = over or size > limit
        if not over:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if over:
        raise too_large(limit)
    return b"".join(chunks)


async def read_json(request: Request, limit: int, *, fast: bool = True) -> Any:
    """A JSON body (steps 1 and 2 above): 415, 413 or 400, else the parsed value."""
    require_json_content_type(request)
    return parse_json(await read_body(request, limit), fast=fast)


class _DuplicateKeyError(ValueError):
    pass


_SLOW = object()  # _parse_fast's "take the strict path"


def parse_json(body: bytes, *, fast: bool = True) -> Any:
    """Strict JSON: UTF-8 only (no UTF-16/32, no BOM), no repeated keys. `fast`: orjson
    first, when its parse provably equals the strict one (FAST_PATHS_OFF=fast-json: never)."""
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
    if fast:
        parsed = _parse_fast(body)
        if parsed is not _SLOW:
            return parsed
    return _parse_strict(text)


def _parse_fast(body: bytes) -> Any:
    """orjson's parse, when it provably equals `_parse_strict`'s; else _SLOW.

    The strict parse calls a Python hook per object to refuse repeated keys: profiled on a
    batch of 100 rows of 30 inputs it was 27 % of /predict/batch (495 µs; orjson 130 µs).
    orjson parses valid RFC 8259 JSON to the same values and refuses everything else
    (NaN, a BOM, lone surrogates...), which then takes the strict path and gets its exact
    answer. Repeated keys: each key/value pair has one structural colon, so a body whose
    colons (structural + inside strings) are as many as those of its parse re-encoded has
    lost no pair to a repeated key; any difference goes the strict way, which decides.
    (orjson reads integers beyond 64 bits as floats: integer inputs are bounded far below.)
    Held equal to the strict parse by tests/unit/api/test_body.py."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _SLOW
    if body.count(b":") != orjson.dumps(parsed).count(b":"):
        return _SLOW
    return parsed


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads' object hook: `{"a": 1, "a": 2}` is ambiguous, so it is refused."""
    result = dict(pairs)
    if len(result) != len(pairs):
        keys = [key for key, _ in pairs]
        raise _DuplicateKeyError(next(key for key in keys if keys.count(key) > 1))
    return result


def _parse_strict(text: str) -> Any:
    """The slow twin: the standard library with a hook per object refusing repeated keys."""
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


def validated(model: type[BaseModel], data: Any, settings: Settings) -> BaseModel:
    """`data` through a body model (step 3 above): 422 with ("body", ...) locations."""
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


class BinaryTensorResponse(Response):
    """A V2 answer with binary outputs (app/api/oip_binary.py): the JSON, then the tensors'
    bytes, its headers set directly as JSONBytesResponse's are (Starlette's init_headers was
    1.6 % of a binary infer, py-spy)."""

    media_type = "application/octet-stream"

    def __init__(self, content: bytes, header_length: int) -> None:
        self.status_code = 200
        self.background = None
        self.body = content
        self.raw_headers = [
            (b"content-length", str(len(content)).encode("latin-1")),
            (b"content-type", b"application/octet-stream"),
            (b"inference-header-content-length", str(header_length).encode("latin-1")),
        ]


def json_response(content: Any, status_code: int = 200) -> JSONBytesResponse:
    return JSONBytesResponse(orjson.dumps(content), status_code)
