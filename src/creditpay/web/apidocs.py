"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) on the app's own OpenAPI document, with
their assets served by the app from the package (``creditpay/web/apidocs/``, vendored
unmodified: see its README), never from a CDN.

The API's CSP (``default-src 'none'``) would blank these pages, so they carry their own,
relaxed only as far as the two viewers need: scripts from this origin only (Swagger UI is
started by a file, not an inline script), inline styles (both viewers set style
attributes; ReDoc injects style elements), images from this origin and ``data:``, a
``blob:`` worker (ReDoc's search). Every other route keeps its own policy.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse

from creditpay.web.assets import ASSET_CACHE_CONTROL, _CachedStaticFiles

__all__ = ["DOCS_CSP", "mount_api_docs"]

ASSETS_DIR = Path(__file__).parent / "apidocs"
ASSETS_PREFIX = "/docs/assets"
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
            "worker-src blob:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

_SWAGGER = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>creditpay API: Swagger UI</title>
<link rel="stylesheet" href="{ASSETS_PREFIX}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS_PREFIX}/swagger-ui-bundle.js"></script>
<script src="{ASSETS_PREFIX}/swagger-init.js"></script>
</body>
</html>
"""

_REDOC = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>creditpay API: ReDoc</title>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{ASSETS_PREFIX}/redoc.standalone.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


def _page(html: str) -> HTMLResponse:
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP,
                                       "Cache-Control": ASSET_CACHE_CONTROL})


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return _page(_SWAGGER)


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return _page(_REDOC)


def mount_api_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets to ``app`` (built with FastAPI's own
    CDN-based docs turned off)."""
    app.include_router(router)
    app.mount(ASSETS_PREFIX, _CachedStaticFiles(directory=ASSETS_DIR), name="api-docs-assets")
