"""GET /docs: Swagger UI from files shipped in the image, not from a CDN.

FastAPI's default page loads Swagger UI from a public CDN without integrity checks, which
breaks air-gapped clusters and trusts a third party with the page. swagger-ui-bundle-v2
(the spec-first project's packaging of Swagger UI 5) ships the assets; they are served
under /docs/static. DOCS_ENABLED=false removes /docs and /openapi.json altogether.
"""

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

STATIC = "/docs/static"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Glassbox - API docs",
        swagger_js_url=f"{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{STATIC}/favicon-32x32.png",
    )


class _AssetsMount(Mount):
    """Records itself in scope["route"], as FastAPI's routes do, so the access line and
    the metrics label these requests handler="/docs/static": a Mount narrows root_path as
    it matches, so matching it again afterwards fails and they were counted as "none"."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match == Match.FULL:
            child_scope["route"] = self
        return match, child_scope


assets = _AssetsMount(STATIC, app=StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
