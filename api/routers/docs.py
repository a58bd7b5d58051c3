"""The interactive docs (/docs, /redoc), loading their assets at exact versions, checked.

FastAPI's defaults load ``swagger-ui-dist@5`` and ``redoc@2`` from the CDN: whatever is
newest under that major version, on every page view, runs with access to the page (and to
any token typed into "Authorize"). Here each asset is an exact version, and carries its
Subresource Integrity hash: a browser refuses a file that is not byte for byte the one
published, even if the CDN is compromised.

To move to another version: ``npm pack swagger-ui-dist@X redoc@Y``, then for each file
``openssl dgst -sha384 -binary FILE | openssl base64 -A``.
"""

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.35.0"
SWAGGER_JS = f"{SWAGGER_UI}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{SWAGGER_UI}/swagger-ui.css"
REDOC_JS = "https://cdn.jsdelivr.net/npm/redoc@2.5.4/bundles/redoc.standalone.js"

INTEGRITY = {
    SWAGGER_JS: "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
    SWAGGER_CSS: "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
    REDOC_JS: "sha384-w447zOpYfw/1Tv/5AK9NfHTlQIqE3RVR6KY62jCyy9zNDgO64cMwGGP1Fj0zJVf5",
}

router = APIRouter(include_in_schema=False)


def _with_integrity(page: HTMLResponse) -> HTMLResponse:
    """FastAPI's page with ``integrity`` on each asset it loads (its helpers have no option
    for it; tests/api/test_exposure.py fails if an asset is left without one)."""
    html = bytes(page.body).decode()  # typed bytes | memoryview; bytes(a bytes) is no copy
    for url, digest in INTEGRITY.items():
        for attribute in ("src", "href"):
            html = html.replace(
                f'{attribute}="{url}"',
                f'{attribute}="{url}" integrity="{digest}" crossorigin="anonymous"',
            )
    return HTMLResponse(html)


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return _with_integrity(
        get_swagger_ui_html(
            openapi_url=request.app.openapi_url,
            title=f"{request.app.title} - Swagger UI",
            swagger_js_url=SWAGGER_JS,
            swagger_css_url=SWAGGER_CSS,
        )
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    return _with_integrity(
        get_redoc_html(
            openapi_url=request.app.openapi_url,
            title=f"{request.app.title} - ReDoc",
            redoc_js_url=REDOC_JS,
            with_google_fonts=False,  # no stylesheet from a third party either
        )
    )
