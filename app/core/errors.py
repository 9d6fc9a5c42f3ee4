"""One JSON error shape for every 4xx and 5xx the service can return.

`{"error": {"code", "message", "details"}, "request_id"}`: clients and log
queries can rely on `error.code` whatever layer produced the error.
"""

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope, Send

# Stable machine-readable codes; the message is for humans and may change.
CODES_BY_STATUS = {
    400: "malformed_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "model_not_ready",
}


FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"


class ApiError(Exception):
    """Raise from a route to answer with a specific status, code and message."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details or []
        self.headers = headers


def request_id_of(scope_state: dict[str, Any] | None) -> str:
    return str((scope_state or {}).get("request_id", ""))


def error_content(
    code: str, message: str, request_id: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "details": details or []},
        "request_id": request_id,
    }


def error_body(
    code: str, message: str, request_id: str, details: list[dict[str, Any]] | None = None
) -> bytes:
    """The same envelope as raw bytes, for pure-ASGI middleware that has no Request."""
    content = error_content(code, message, request_id, details)
    return json.dumps(content, separators=(",", ":")).encode()


async def send_error(
    scope: Scope, send: Send, status: int, code: str, message: str, close: bool = False
) -> None:
    """The envelope straight onto an ASGI `send`, for pure-ASGI middleware that answers
    before (or instead of) the app; records `code` for the access line."""
    state = scope.setdefault("state", {})
    state["error_code"] = code
    body = error_body(code, message, request_id_of(state))
    headers = MutableHeaders()
    headers["content-type"] = "application/json"
    headers["content-length"] = str(len(body))
    if close:
        headers["connection"] = "close"
    await send({"type": "http.response.start", "status": status, "headers": headers.raw})
    await send({"type": "http.response.body", "body": body})


def error_response(
    request: Request,
    status_code: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    request.state.error_code = code
    return JSONResponse(
        status_code=status_code,
        headers=dict(headers) if headers else None,
        content=error_content(code, message, request_id_of(request.scope.get("state")), details),
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    """("body", "instances", 3, "petal_width") -> "instances[3].petal_width"."""
    path = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    decode_errors = [err for err in errors if err.get("type") == "json_invalid"]
    if decode_errors:
        reason = decode_errors[0].get("ctx", {}).get("error", "invalid JSON")
        position = decode_errors[0]["loc"][-1]
        return error_response(
            request,
            400,
            "malformed_json",
            f"request body is not valid JSON: {reason} at position {position}",
        )
    details = [
        {"field": _field_path(tuple(err["loc"])), "message": err["msg"], "type": err["type"]}
        for err in errors
    ]
    fields = ", ".join(dict.fromkeys(detail["field"] for detail in details))
    return error_response(request, 422, "validation_error", f"invalid fields: {fields}", details)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = CODES_BY_STATUS.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
    message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(status).phrase
    if status == 400 and message == FASTAPI_BODY_PARSE_ERROR:
        # FastAPI's catch-all for bodies json.loads cannot take (too deep, not UTF-8).
        code, message = "malformed_json", "request body could not be parsed as JSON"
    elif status == 404:
        message = f"no route for {request.url.path[:200]}"
    elif status == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"method {request.method} not allowed; allowed: {allowed}"
    return error_response(request, status, code, message, headers=exc.headers)


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        request, exc.status_code, exc.code, exc.message, exc.details, headers=exc.headers
    )


def register_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(ApiError, _on_api_error)
