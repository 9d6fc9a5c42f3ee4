"""GET /metrics: Prometheus exposition, aggregated across workers when there are several."""

from fastapi import APIRouter, HTTPException, Request, Response

from app.api.deps import settings_of
from app.core.deferred import flush_all
from app.observability.metrics import render_latest

router = APIRouter(tags=["observability"])


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    metrics_port = settings_of(request).METRICS_PORT
    server = request.scope.get("server")
    if metrics_port and (server is None or server[1] != metrics_port):
        raise HTTPException(404)  # served on METRICS_PORT only
    flush_all()  # every request answered so far, in this worker: its counts, lines, drift
    body, content_type = render_latest(request.headers.get("accept", ""))
    return Response(content=body, media_type=content_type)
