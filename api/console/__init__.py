"""The operator console: server-rendered pages at `/`, served by the API process (ARCHITECTURE.md, "Console").

Each page module under `pages/` brings its router and its navigation entries; a new domain adds one module and
names it in PAGES. Pages read through the API (client.py) and act through the API from the browser (static/
console.js), so the one rule table (api/identity/rules.py: RULES for the API, CONSOLE_RULES for the pages) decides
what is shown and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from api.identity.principal import SignIn, rule_for
from api.problems import Problem

from . import docs, signin
from .client import ApiError
from .pages import PAGES
from .render import env

STATIC = Path(__file__).parent / "static"


def _back_to(request: Request) -> str:
    query = f"?{request.url.query}" if request.url.query else ""
    return quote(request.url.path + query)


def routes() -> list[tuple[str, str]]:
    """(method, path) of every console route, for the app's check against CONSOLE_RULES."""
    return [(method, route.path) for module in (signin, *PAGES) for route in module.router.routes
            if isinstance(route, APIRoute) for method in route.methods or ()]


def install(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_route("/docs", docs.swagger, include_in_schema=False)
    app.add_route("/redoc", docs.redoc, include_in_schema=False)
    app.include_router(signin.router)
    for module in PAGES:
        app.include_router(module.router)
    api_problem = app.exception_handlers[Problem]

    async def sign_in(request: Request, exc: Exception) -> Response:
        return RedirectResponse(f"/session/resume?next={_back_to(request)}", status_code=303)

    async def problem(request: Request, exc: Exception) -> Response:
        """On a console page a refusal is a page (or a trip through sign-in), not problem+json."""
        rule = rule_for(request)
        if rule is None or not rule.page or not isinstance(exc, Problem):
            answer = api_problem(request, exc)
            return await answer if not isinstance(answer, Response) else answer
        if exc.status == 401:
            return await sign_in(request, exc)
        html = env.get_template("error.html").render(status=exc.status, detail=exc.detail)
        return HTMLResponse(html, status_code=exc.status)

    async def api_refused(request: Request, exc: Exception) -> Response:
        """What a page read was refused (a device that is not there): that status, as a page."""
        assert isinstance(exc, ApiError)
        html = env.get_template("error.html").render(status=exc.status, detail=exc.detail)
        return HTMLResponse(html, status_code=exc.status if 400 <= exc.status < 500 else 502)

    app.add_exception_handler(SignIn, sign_in)
    app.add_exception_handler(ApiError, api_refused)
    app.add_exception_handler(Problem, problem)
