"""Endpoints and their dependencies are coroutines, so none is sent to the threadpool.

FastAPI runs a plain `def` endpoint or dependency in a worker thread on every
request; for code that does no I/O that hop is pure overhead (make bench measured
/predict at a third of its throughput with four sync dependencies).
"""

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.routing import APIRoute

from app.api.routes import health, metrics, model, predict


def calls(dependant: Any) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from calls(dependency)


def test_every_endpoint_and_dependency_is_async() -> None:
    checked = 0
    for module in (predict, health, model, metrics):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            assert inspect.iscoroutinefunction(route.endpoint), route.path
            for call in calls(route.dependant):
                assert inspect.iscoroutinefunction(call), f"{route.path}: {call.__name__} is sync"
                checked += 1
    assert checked >= 5
