"""The API documentation: Swagger UI served by the service itself, never from a CDN, so that
it works offline and no browser is sent elsewhere for it.

INQUIRY_API_DOCS: `public` serves /docs and /openapi.json; `staff` serves /staff/docs and
/staff/openapi.json to authenticated staff only; `off` serves neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from inquiry.auth import authenticate
from inquiry.config import ApiDocs
from inquiry.errors import NotFound

ASSETS = Path(__file__).resolve().parent / "swagger-ui"
_MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
# The bundle's defaults would show a badge fetched from the public validator, sending it the
# address of our schema; nothing on the page may leave the service.
_SWAGGER_PARAMETERS: dict[str, Any] = {"validatorUrl": None}


def install(app: FastAPI, mode: ApiDocs) -> None:
    """Add the documentation's routes for this mode (none when it is off)."""
    if mode is ApiDocs.OFF:
        return
    prefix = "/staff" if mode is ApiDocs.STAFF else ""
    # Under /staff the console's session cookie signs staff in here, as an API token does.
    guard = [Depends(authenticate)] if mode is ApiDocs.STAFF else []
    assets = f"{prefix}/docs/assets"
    router = APIRouter(include_in_schema=False)

    @router.get(f"{prefix}/openapi.json", dependencies=guard)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get(f"{prefix}/docs", dependencies=guard)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{prefix}/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
            swagger_ui_parameters=_SWAGGER_PARAMETERS,
        )

    # Not behind the guard: these are Swagger UI's own files, the same for everyone.
    @router.get(f"{assets}/{{name}}")
    async def asset(name: str) -> FileResponse:
        media_type = _MEDIA_TYPES.get(name)
        if media_type is None:
            raise NotFound("There is no such file.")
        return FileResponse(
            ASSETS / name, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"}
        )

    app.include_router(router)
