"""Every resource's router, in the order app/main.py mounts their routes."""

from fastapi import APIRouter

from app.api.routes import health, metrics, model, predict

routers: tuple[APIRouter, ...] = (predict.router, health.router, model.router, metrics.router)
