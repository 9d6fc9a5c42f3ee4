"""Every resource's router; app/main.py mounts their routes, api_router groups them."""

from fastapi import APIRouter

from app.api.routes import health, metrics, model, predict

routers: tuple[APIRouter, ...] = (predict.router, health.router, model.router, metrics.router)

api_router = APIRouter()
for _router in routers:
    api_router.include_router(_router)
