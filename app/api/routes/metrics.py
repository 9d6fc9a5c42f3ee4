"""GET /metrics: Prometheus exposition, aggregated across workers when there are several."""

from fastapi import APIRouter, Request, Response

from app.api.deps import only_on_port, settings_of
from app.core.deferred import flush_all
from app.observability.metrics import render_latest

router = APIRouter(tags=["observability"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    only_on_port(request, settings_of(request).METRICS_PORT)
    flush_all()  # every request answered so far, in this worker: its counts, lines, drift
    body, content_type = render_latest(request.headers.get("accept", ""))
    return Response(content=body, media_type=content_type)
