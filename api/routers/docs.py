"""The interactive docs (/docs, /redoc), loading their assets at exact versions.

FastAPI's defaults load ``swagger-ui-dist@5`` and ``redoc@2`` from the CDN: whatever is
newest under that major version, on every page view, runs with access to the page (and to
any token typed into "Authorize"). An exact version only changes when we change it here.
"""

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0"
REDOC = "https://cdn.jsdelivr.net/npm/redoc@2.5.4"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI}/swagger-ui.css",
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{REDOC}/bundles/redoc.standalone.js",
        with_google_fonts=False,  # no stylesheet from a third party either
    )
