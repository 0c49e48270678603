"""405 Method Not Allowed with the whole `Allow` (RFC 9110 §15.5.6), decided by the most specific path template.

Starlette's router answers a method a path does not take from the FIRST route whose template matches, so
`GET /api/cylinders/ship` reached `GET /api/cylinders/{qr_code}` (a 422 for a malformed code) instead of 405, and the
`Allow` of `PUT /api/silences` named only the methods of the first of the two routes on that path. Here a path
belongs to the templates that match it with the fewest parameters (a literal segment beats a parameter), and the
methods those templates take, together, are the `Allow`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI
from starlette.requests import Request
from starlette.routing import Route, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem_response

OPERATIONS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")


@dataclass(frozen=True)
class Template:
    """A path template, compiled as Starlette compiles it, and the methods it takes."""

    regex: re.Pattern[str]
    params: int
    methods: frozenset[str]


def templates(app: FastAPI) -> list[Template]:
    """Every operation of the OpenAPI document (all API routes are in it) and the app's own pages (/docs, ...)."""
    methods: dict[str, set[str]] = {}
    for path, operations in app.openapi()["paths"].items():
        methods.setdefault(path, set()).update(m.upper() for m in operations if m in OPERATIONS)
    for route in app.routes:
        if isinstance(route, Route) and route.methods:
            methods.setdefault(route.path, set()).update(route.methods)
    compiled = []
    for path, taken in methods.items():
        regex, _, convertors = compile_path(path)
        compiled.append(Template(regex, len(convertors), frozenset(taken)))
    return compiled


def allowed_methods(known: list[Template], path: str) -> set[str] | None:
    """The methods of the most specific templates matching `path`; None when no template matches it."""
    matching = [t for t in known if t.regex.match(path)]
    if not matching:
        return None
    fewest = min(t.params for t in matching)
    return {m for t in matching if t.params == fewest for m in t.methods}


class MethodNotAllowed:
    """Pure ASGI middleware, innermost: answers a method the path's own templates do not take with 405."""

    def __init__(self, app: ASGIApp, known: list[Template]) -> None:
        self.app, self.known = app, known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            methods = allowed_methods(self.known, scope["path"])
            if methods is not None and scope["method"] not in methods:
                request = Request(scope)
                allow = ", ".join(sorted(methods))
                response = problem_response(request, 405, f"{scope['method']} is not a method of this resource; "
                                            f"it takes {allow}.", headers={"Allow": allow})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
