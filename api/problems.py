"""RFC 9457 problem details for every error, and the handlers that make sure nothing else escapes."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from infra.outbox import OutboxUnavailable
from infra.producer import ProduceError

log = structlog.get_logger(__name__)
PROBLEM_JSON = "application/problem+json"


class ProblemDetails(BaseModel):
    """RFC 9457 problem details, the body of every error."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": ProblemDetails.model_json_schema()}}
# Every route may answer with these (authentication, authorization, validation, limits, a consistency wait, outage).
COMMON_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": HTTPStatus(status).phrase, "content": _PROBLEM_CONTENT}
    for status in (400, 401, 403, 404, 409, 410, 412, 413, 415, 422, 428, 429, 503, 504)
}


class Problem(Exception):
    """Raise from a route to answer with problem+json."""

    def __init__(self, status: int, detail: str, *, title: str | None = None, type_: str = "about:blank",
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.type = status, detail, type_
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers
        self.extra = extra


def problem_response(request: Request, status: int, detail: str, *, title: str | None = None,
                     type_: str = "about:blank", headers: dict[str, str] | None = None,
                     **extra: Any) -> JSONResponse:
    body = {"type": type_, "title": title or HTTPStatus(status).phrase, "status": status, "detail": detail,
            "instance": request.url.path, **extra}
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        errors.append({"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")),
                       "type": str(err.get("type", ""))})
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.detail, title=exc.title, type_=exc.type,
                                headers=exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if errors and all(e["loc"] == ["header", "if-match"] and e["type"] == "missing" for e in errors):
            # RFC 6585: a missing precondition the document declares required is 428, not a malformed request
            return problem_response(request, 428, "Send If-Match with the ETag (version) you read, so concurrent "
                                    "edits are detected.")
        return problem_response(request, 422, "The request is not valid.", errors=errors)

    @app.exception_handler(ValidationError)
    async def _invalid_value(request: Request, exc: ValidationError) -> JSONResponse:
        """A command's input that makes no valid event is the caller's error. A read only validates what the
        server holds (the request itself was validated before the handler ran), so there it is a bug: a 500,
        logged, not a 422 telling the caller to change a request that was fine."""
        if request.method in ("GET", "HEAD"):
            return await _unexpected(request, exc)
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type"))}
                  for e in exc.errors(include_url=False, include_input=False)]
        return problem_response(request, 422, "The request is not valid.", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(ProduceError)
    async def _broker_down(request: Request, exc: ProduceError) -> JSONResponse:
        return problem_response(request, 503, "The event log is not accepting events right now; nothing was "
                                "recorded. Retry shortly.", headers={"Retry-After": "2"})

    @app.exception_handler(psycopg.DataError)
    async def _unstorable(request: Request, exc: psycopg.DataError) -> JSONResponse:
        log.warning("request.unstorable_input", path=request.url.path, error=type(exc).__name__)
        return problem_response(request, 422, "The request holds text the store cannot keep (e.g. NUL characters).")

    @app.exception_handler(UnicodeEncodeError)
    async def _not_unicode(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        return problem_response(request, 422, "The request holds text that is not valid Unicode.")

    @app.exception_handler(psycopg.OperationalError)
    async def _database_down(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning("database.unavailable", error=str(exc))
        return problem_response(request, 503, "PostgreSQL (the identity store, the read models and the outbox) is "
                                "unavailable right now; nothing was recorded. Retry shortly.",
                                title="Database unavailable", headers={"Retry-After": "2"})

    @app.exception_handler(OutboxUnavailable)
    async def _not_recorded(request: Request, exc: OutboxUnavailable) -> JSONResponse:
        log.warning("outbox.unavailable", error=str(exc))
        return problem_response(request, 503, "PostgreSQL did not record the command's events (the outbox); nothing "
                                "was recorded. Retry shortly.", title="Database unavailable",
                                headers={"Retry-After": "2"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.failed", path=request.url.path)
        return problem_response(request, 500, "An unexpected error occurred; it has been logged.")
