"""Request ids (also the events' correlation ids), access logs, latency metrics, and early body-size refusal."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.identity.audit import record
from api.metrics import REQUEST_LATENCY

log = structlog.get_logger("api.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContext:
    """Pure ASGI middleware: sets request id, refuses oversize bodies before reading them, times the request."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int, upload_prefix: str = "/api/files") -> None:
        self.app, self.max_body, self.max_upload, self.upload_prefix = app, max_body, max_upload, upload_prefix

    @staticmethod
    def _trust_forwarded(scope: Scope) -> bool:
        settings = getattr(scope["app"].state, "settings", None) if "app" in scope else None
        return bool(getattr(settings, "trust_forwarded", False))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.match(given) else str(uuid.uuid4())
        scope.setdefault("state", {})["request_id"] = request_id
        path: str = scope["path"]
        limit = self.max_upload + 64 * 1024 if path.startswith(self.upload_prefix) else self.max_body
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
            body = await _read_body(receive, limit) if scope["method"] in ("POST", "PUT", "PATCH") else None
            if body is _TOO_LARGE:
                await _refuse_size(send_with_id, path, request_id, limit)
                return
            await self.app(scope, _replay(body, receive) if body is not None else receive, send_with_id)
            await record(scope, status_holder["status"], client_of(scope, headers, self._trust_forwarded(scope)))
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            REQUEST_LATENCY.labels(scope["method"], template, str(status_holder["status"])).observe(elapsed)
            log.info("request", method=scope["method"], path=path, status=status_holder["status"],
                     ms=round(elapsed * 1000, 2))
            structlog.contextvars.unbind_contextvars("request_id")


_TOO_LARGE = b"\x00too-large"
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


def client_of(scope: Scope, headers: dict[str, str], trust_forwarded: bool) -> str | None:
    if trust_forwarded and headers.get("x-forwarded-for"):
        return headers["x-forwarded-for"].split(",")[0].strip()[:100]
    client = scope.get("client")
    return str(client[0]) if client else None


async def _read_body(receive: Receive, limit: int) -> bytes:
    """Read the whole (bounded) body first, so an oversize chunked body is refused with 413 before any parsing."""
    chunks: list[bytes] = []
    seen = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            return _TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # after the body: wait for the client to disconnect, as Starlette expects

    return replayed


async def _refuse_size(send: Any, path: str, request_id: str, limit: int) -> None:
    await _refuse(send, path, request_id, 413, "Content Too Large", f"The request body is larger than {limit} bytes.")


async def _refuse(send: Any, path: str, request_id: str, status: int, title: str, detail: str) -> None:
    import orjson

    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": path,
                         "request_id": request_id})
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
