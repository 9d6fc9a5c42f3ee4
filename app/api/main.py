"""Every resource's router, in the order app/main.py mounts their routes."""

from fastapi import APIRouter

from app.api.model_api import ModelApi
from app.api.routes import feedback, health, metrics, model, predict, v2


def routers(api: ModelApi) -> tuple[APIRouter, ...]:
    """The prediction routes (native and Open Inference Protocol) take the served model's
    bodies; the others are fixed."""
    return (
        predict.build_router(api),
        v2.build_router(api),
        feedback.router,
        health.router,
        model.router,
        metrics.router,
    )
