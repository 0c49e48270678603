"""/docs (Swagger UI) and /redoc from vendored files (static/vendor, see its LICENSES): they render with no network.
Their start-up code is a static file too, so the docs pages need no inline script either."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Opsledger API — {title}</title><link rel="icon" href="data:,">{head}</head>
<body><div id="{root}" data-openapi="/openapi.json"></div>{scripts}</body></html>"""

SWAGGER = PAGE.format(
    title="Swagger UI", root="swagger-ui",
    head='<link rel="stylesheet" href="/static/vendor/swagger-ui.css">',
    scripts='<script src="/static/vendor/swagger-ui-bundle.js"></script><script src="/static/docs.js"></script>')
REDOC = PAGE.format(
    title="ReDoc", root="redoc", head="",
    scripts='<script src="/static/vendor/redoc.standalone.js"></script><script src="/static/docs.js"></script>')


async def swagger(request: Request) -> HTMLResponse:
    return HTMLResponse(SWAGGER)


async def redoc(request: Request) -> HTMLResponse:
    return HTMLResponse(REDOC)
