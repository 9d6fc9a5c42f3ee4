"""Endpoints and their dependencies are coroutines, so none is sent to the threadpool.

FastAPI runs a plain `def` endpoint or dependency in a worker thread on every
request; for code that does no I/O that hop is pure overhead (make bench measured
/predict at a third of its throughput with four sync dependencies).
"""

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from app.api.deps import ModelStateDep
from app.api.main import routers
from app.api.model_api import build_model_api
from app.api.routes import health, metrics, model
from app.api.routing import DirectRoute
from app.core.config import Settings
from app.dataplane import build_dataplane
from app.ml.contract import Contract, Input
from app.ml.serving.registry import ModelRegistry


def calls(dependant: Any) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from calls(dependency)


def test_every_endpoint_and_dependency_is_async() -> None:
    endpoints = dependencies = 0
    contract = Contract("regression", (Input("x", "number"),))
    settings = Settings()
    dataplane = build_dataplane(settings, ModelRegistry.from_settings(settings))
    prediction = routers(build_model_api(contract, {}), dataplane, settings)[0]
    for router in (prediction, health.router, model.router, metrics.router):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            assert inspect.iscoroutinefunction(route.endpoint), route.path
            endpoints += 1
            for call in calls(route.dependant):
                assert inspect.iscoroutinefunction(call), f"{route.path}: {call.__name__} is sync"
                dependencies += 1
    assert endpoints == 6
    assert dependencies >= 2  # /readyz and /model still use FastAPI dependencies


def test_direct_routes_refuse_what_their_handler_would_not_run() -> None:
    """DirectRoute skips FastAPI's dependency solver, so a dependency must fail loudly."""
    router = APIRouter(route_class=DirectRoute)

    async def endpoint(request: Request, ready: ModelStateDep) -> Response:
        return Response()

    with pytest.raises(TypeError, match="takes \\(request, path parameters\\) only"):
        router.post("/x")(endpoint)
