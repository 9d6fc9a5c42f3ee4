"""The lean route: FastAPI's routing and OpenAPI document, without its generic handler.

A `DirectRoute`'s endpoint takes `(request, **path parameters)` and reads its own body
(app/api/body.py): FastAPI's generic handler -- the dependency solver, parameter
validation, re-validating the returned model -- is skipped, and the direct dispatch
(app/api/dispatch.py) calls the endpoint without Starlette's router in between. The
OpenAPI document still comes from the route: `response_model`, and the request body the
route declares (`body_schema`: `openapi_extra`, FastAPI's documented way for a body the
endpoint reads itself; its models' schemas are added to the document's components by
app/api/application.py).
"""

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


_BODY_MODEL = "x-glassbox-body-model"  # body_schema's note to DirectRoute, taken out at once


class DirectRoute(APIRoute):
    """APIRoute whose endpoint takes (request, **path parameters), called directly."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The body model `body_schema` named, for the document's components; the rest of
        # openapi_extra is plain JSON, as FastAPI merges it into the operation.
        extra = self.openapi_extra or {}
        self.body_model: type[BaseModel] | None = extra.pop(_BODY_MODEL, None)
        # What this handler would silently never run is refused at startup.
        dependant = self.dependant
        extras = [
            *dependant.dependencies,
            *dependant.body_params,
            *dependant.query_params,
            *dependant.header_params,
            *dependant.cookie_params,
        ]
        if extras:
            raise TypeError(f"{self.path}: a DirectRoute takes (request, path parameters) only")

    def get_route_handler(self) -> Handler:
        endpoint: Callable[..., Awaitable[Response]] = self.endpoint

        async def handle(request: Request) -> Response:
            return await endpoint(request, **request.path_params)

        return handle


def body_schema(model: type[BaseModel], description: str = "") -> dict[str, Any]:
    """`openapi_extra` declaring `model` as the route's JSON body, by reference to its
    component schema."""
    body: dict[str, Any] = {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}
        },
    }
    if description:
        body["description"] = description
    return {"requestBody": body, _BODY_MODEL: model}
