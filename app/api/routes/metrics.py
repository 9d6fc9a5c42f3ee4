"""GET /metrics: Prometheus exposition, aggregated across workers when there are several."""

from fastapi import APIRouter, Response

from app.observability.metrics import render_latest

router = APIRouter(tags=["observability"])


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    body, content_type = render_latest()
    return Response(content=body, media_type=content_type)
