"""A lean request handler for the prediction routes, through FastAPI's `route_class` hook.

FastAPI's generic handler re-parses the Content-Type with `email.message`, resolves the
dependency graph and re-validates the returned model on every request; profiled, that was a
quarter of /predict once the model call took 8 µs. Routes that use JsonBodyRoute have one
shape -- `async def f(body: Model, request: Request) -> Response` -- so its handler does the
same steps directly, in FastAPI's order and with its errors:

1. a body that is not JSON by its Content-Type -> 415 (`unsupported_media_type`);
2. JSON that does not parse (or decode) -> the same RequestValidationError / 400
   FastAPI raises, which app/core/errors.py renders as `malformed_json`;
3. the model must be loaded -> 503 (`model_not_ready`), before any field is validated;
4. fields -> RequestValidationError with `("body", ...)` locations, rendered as 422.

The OpenAPI document still comes from the endpoint's signature and `response_model`.
"""

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from app.api.deps import loaded_predictor, require_json_content_type
from app.core.errors import FASTAPI_BODY_PARSE_ERROR

Endpoint = Callable[[Any, Request], Awaitable[Response]]


async def read_json(request: Request) -> Any:
    body = await request.body()
    if not body:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return json.loads(body)
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
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise HTTPException(400, FASTAPI_BODY_PARSE_ERROR) from exc


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors, body=data) from exc


class JsonBodyRoute(APIRoute):
    """APIRoute whose endpoint takes (validated body model, request) and returns a Response."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        model = self._body_model()
        endpoint: Endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            require_json_content_type(request)
            data = await read_json(request)
            loaded_predictor(request)  # 503 before 422, as a dependency would
            return await endpoint(validate(model, data), request)

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
