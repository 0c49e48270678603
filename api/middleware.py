"""Request ids (also the events' correlation ids), access logs, latency metrics, early body-size refusal, and the
authorization gate (api.identity.principal.gate) before any body is read."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import orjson
import psycopg
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.identity.audit import record
from api.identity.limits import client_address
from api.identity.principal import gate
from api.metrics import REQUEST_LATENCY
from api.problems import Problem

log = structlog.get_logger("api.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContext:
    """Pure ASGI middleware: sets request id, refuses oversize bodies before reading them, times the request."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int,
                 upload_prefixes: tuple[str, ...] = ("/api/files", "/api/images")) -> None:
        self.app, self.max_body, self.max_upload, self.upload_prefixes = app, max_body, max_upload, upload_prefixes

    @staticmethod
    def _trust_forwarded(scope: Scope) -> bool:
        return bool(scope["app"].state.settings.trust_forwarded)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope["path"]
        limit = self.max_upload + 64 * 1024 if path.startswith(self.upload_prefixes) else self.max_body
        started = time.perf_counter()
        status_holder = {"status": 500}

        https = scope.get("scheme") == "https" or (self._trust_forwarded(scope)
                                                   and headers.get("x-forwarded-proto") == "https")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                response_headers = message.setdefault("headers", [])
                response_headers.append((b"x-request-id", request_id.encode()))
                response_headers.extend(security_headers(response_headers, https, path))
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            if b"%00" in scope.get("query_string", b"") or "\x00" in path:
                await _refuse(send_with_id, path, request_id, 400, "Bad Request",
                              "The URL must not contain NUL characters.")
                return
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                await _refuse_size(send_with_id, path, request_id, limit)
                return
            await self.app(scope, _bounded(receive, limit), send_with_id)
            await record(scope, status_holder["status"], client_of(scope, headers))
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            REQUEST_LATENCY.labels(scope["method"], template, str(status_holder["status"])).observe(elapsed)
            log.info("request", method=scope["method"], path=path, status=status_holder["status"],
                     ms=round(elapsed * 1000, 2))
            structlog.contextvars.unbind_contextvars("request_id")


class Gate:
    """Limits and authorization (api.identity.principal.gate) before anything reads the body. Inside CORS, so a
    refusal carries the CORS headers a browser needs to read it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await gate(Request(scope))
        except Problem as refused:
            await _refuse(send, scope["path"], scope.get("state", {}).get("request_id", ""), refused.status,
                          refused.title, refused.detail, refused.headers)
            return
        except psycopg.OperationalError as e:  # the identity store is away (outside the app's problem handlers)
            log.warning("database.unavailable", error=str(e)[:300])
            await _refuse(send, scope["path"], scope.get("state", {}).get("request_id", ""), 503,
                          "Database unavailable", "PostgreSQL (the identity store) is unavailable right now; "
                          "nothing was recorded. Retry shortly.", {"Retry-After": "2"})
            return
        await self.app(scope, receive, send)



# The console: every script and style is a file of ours (no inline script, no eval, no other origin); the socket
# and the API are this origin; the scan page's camera preview is a blob.
CONSOLE_CSP = (b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
               b"connect-src 'self'; media-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; "
               b"base-uri 'none'")
# /docs and /redoc: vendored Swagger UI and ReDoc (no CDN, no inline script); both set styles at run time, and
# ReDoc's search runs in a blob worker.
DOCS_CSP = (b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            b"font-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'")
API_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
DOCS_PATHS = ("/docs", "/redoc")


def csp_for(path: str, content_type: bytes) -> bytes:
    if not content_type.startswith(b"text/html"):
        return API_CSP
    return DOCS_CSP if path in DOCS_PATHS else CONSOLE_CSP


def security_headers(response_headers: list[tuple[bytes, bytes]], https: bool,
                     path: str = "") -> list[tuple[bytes, bytes]]:
    content_type = next((v for k, v in response_headers if k.lower() == b"content-type"), b"")
    csp = csp_for(path, content_type)
    # the console's own pages keep the referrer on this site, so a form's POST carries its Origin (no-referrer
    # would make it "null"); nothing is ever sent to another site
    referrer = b"same-origin" if csp is CONSOLE_CSP else b"no-referrer"
    extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", referrer),
             (b"x-frame-options", b"DENY"), (b"content-security-policy", csp)]
    if https:
        extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
    return extra


def client_of(scope: Scope, headers: dict[str, str]) -> str | None:
    client = scope.get("client")
    return client_address(headers, str(client[0]) if client else None, scope["app"].state.settings)


def _bounded(receive: Receive, limit: int) -> Receive:
    """The body as the app reads it, refused with 413 once it passes `limit` (a chunked body declares no length):
    nothing is read before the gate has let the request through, and never more than the limit."""
    seen = 0

    async def bounded() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise HTTPException(413, f"The request body is larger than {limit} bytes.")
        return message

    return bounded


async def _refuse_size(send: Any, path: str, request_id: str, limit: int) -> None:
    await _refuse(send, path, request_id, 413, "Content Too Large", f"The request body is larger than {limit} bytes.")


async def _refuse(send: Any, path: str, request_id: str, status: int, title: str, detail: str,
                  headers: dict[str, str] | None = None) -> None:
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": path,
                         "request_id": request_id})
    extra = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close"), *extra]})
    await send({"type": "http.response.body", "body": body})
