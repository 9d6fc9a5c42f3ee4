"""Every resource's router, in the order app/main.py mounts their routes."""

from fastapi import APIRouter

from app.api.model_api import ModelApi
from app.api.native import NativeCodec
from app.api.oip_codec import OipCodec
from app.api.routes import feedback, health, metrics, model, predict, v2
from app.core.config import Settings
from app.dataplane import DataPlane


def routers(api: ModelApi, dataplane: DataPlane, settings: Settings) -> tuple[APIRouter, ...]:
    """The prediction routes (native and Open Inference Protocol) are codecs built from the
    served model's bodies around the one dataplane; the others are fixed."""
    return (
        predict.build_router(NativeCodec(api, settings), dataplane, api.regression),
        v2.build_router(OipCodec(api, settings), dataplane),
        feedback.router,
        health.router,
        model.router,
        metrics.router,
    )
