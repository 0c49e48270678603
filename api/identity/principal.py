"""Who is calling: authenticate the request (Bearer JWT, or API key as Bearer or X-API-Key) and apply the rule.

`gate` runs in the request middleware, before anything reads the request body: it counts the request against its
client address, finds the route's rule, authenticates (failed credentials are counted per address too, and refused
before the database look-up once too many failed) and checks role or scope. `authorize`, the app-level dependency,
only makes sure the gate ran.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request, WebSocketException
from fastapi.routing import APIRoute
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from api.identity import store
from api.identity.limits import client_address, too_many
from api.identity.rules import CONSOLE_RULES, RULES, Rule
from api.identity.session import SAFE_METHODS, cookie_credentials, csrf_ok
from api.identity.tokens import API_KEY_PREFIX, InvalidToken, decode_access_token
from api.problems import Problem

BEARER = {"WWW-Authenticate": 'Bearer realm="opsledger"'}
LIVENESS = "/healthz"


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "key"
    id: uuid.UUID
    name: str
    role: str | None  # users only
    scopes: frozenset[str]  # keys only
    token_jti: uuid.UUID | None = None
    token_expires_at: datetime | None = None
    session_id: uuid.UUID | None = None  # users signed in with a token: the sign-in it belongs to

    @property
    def actor(self) -> str:
        """How events record who did it."""
        return f"{self.kind}:{self.id}"


def credentials(request: HTTPConnection) -> str | None:
    """A Bearer header or X-API-Key; else the console's session cookie (marked, so commands must prove CSRF)."""
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    if request.headers.get("x-api-key"):
        return request.headers["x-api-key"]
    token = cookie_credentials(request)
    if token:
        request.state.by_cookie = True
    return token


def address_of(request: HTTPConnection) -> str:
    return client_address(request.headers, request.client.host if request.client else None,
                          request.app.state.settings)


async def authenticate(request: HTTPConnection) -> Principal | None:
    secret = credentials(request)
    return None if secret is None else await authenticate_limited(request.app, secret, address_of(request))


async def authenticate_limited(app: FastAPI, secret: str, address: str) -> Principal:
    """authenticate_secret, with the failures of this client address counted: past the limit, credentials from
    it are refused before any database look-up (guessing keys or tokens costs the guesser, not the database)."""
    limiter, rate = app.state.limiter, app.state.settings.auth_failure_rate
    wait = await limiter.blocked([rate], "auth-failures", address)
    if wait is not None:
        raise too_many("failed sign-ins from this address", wait)
    try:
        return await authenticate_secret(app, secret)
    except Problem as refused:
        if refused.status == 401:
            await limiter.count([rate], "auth-failures", address)
        raise


async def authenticate_secret(app: FastAPI, secret: str) -> Principal:
    """A Bearer JWT or an API key, checked against the database (also for WebSocket first-message tokens and for
    streams re-checking their credential)."""
    settings = app.state.settings
    async with app.state.lookups.connection() as conn:  # autocommit: each look-up is one statement
        if secret.startswith(API_KEY_PREFIX):
            key = await store.key_by_secret(conn, secret)
            if key is None:
                raise Problem(401, "The API key is not valid.", headers=BEARER)
            return Principal("key", key["id"], key["name"], None, frozenset(key["scopes"]))
        try:
            claims = decode_access_token(secret, settings)
        except InvalidToken as e:
            raise Problem(401, "The access token is not valid.", headers=BEARER) from e
        user = await store.user_by_id(conn, claims.user_id)
        if user is None or not user.active or not await store.token_alive(conn, claims.jti, claims.session_id):
            raise Problem(401, "The access token is not valid.", headers=BEARER)
        return Principal("user", user.id, user.username, user.role, frozenset(), claims.jti, claims.expires_at,
                         claims.session_id)


def permits(principal: Principal, rule: Rule) -> bool:
    """Whether the rule lets this principal through (a by-topic rule lets every key through to its topic check)."""
    if principal.kind == "user":
        return principal.role in rule.roles
    return rule.by_topic or rule.scope in principal.scopes


def route_of(routes: Sequence[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route that will answer (the router has not run yet): the first full match, looking inside included
    routers (FastAPI keeps each included router's routes in `original_router`)."""
    for candidate in routes:
        found, _ = candidate.matches(scope)
        if found is Match.FULL:
            inner = getattr(getattr(candidate, "original_router", None), "routes", None)
            return route_of(inner, scope) if inner is not None else candidate
    return None


def matched_rule(request: HTTPConnection) -> tuple[bool, Rule | None]:
    """(whether a route matches the request, its rule)."""
    route = request.scope.get("route") or route_of(request.app.router.routes, request.scope)
    if route is None:
        return False, None
    request.scope["route"] = route  # the audit and the metrics name the route even when the gate refuses
    # path_format: `{series:path}` is listed as `{series}`, as OpenAPI has it
    key = (request.scope["method"], getattr(route, "path_format", getattr(route, "path", "")))
    return True, RULES.get(key) or CONSOLE_RULES.get(key)


async def gate(request: HTTPConnection) -> None:
    """THE place every HTTP route's rule is enforced, before the body is read (see the module doc)."""
    settings, limiter = request.app.state.settings, request.app.state.limiter
    request.state.gated = True
    if request.scope["path"] == LIVENESS:
        return  # a constant answer that costs nothing; an orchestrator probing it must never be told to slow down
    await limiter.hit(settings.address_rate, "address", address_of(request))
    routed, rule = matched_rule(request)
    if not routed or not isinstance(request.scope["route"], APIRoute):
        return  # the router answers 404 or 405; or FastAPI's own pages (/docs, /openapi.json), public as ever
    if rule is None:
        raise Problem(403, "This route has no authorization rule.")
    if rule.public:
        return
    try:
        await _admit(request, rule)
    except Problem as refused:
        if not rule.page:
            raise
        request.state.refused = refused  # a console page: `authorize` raises it inside the app, which answers a page


async def _admit(request: HTTPConnection, rule: Rule) -> None:
    settings, limiter = request.app.state.settings, request.app.state.limiter
    principal = await authenticate(request)
    if principal is None:
        if rule.page:  # a console page: `authorize` raises SignIn inside the app, which answers the sign-in page
            request.state.sign_in = True
            return
        raise Problem(401, "Sign in: send `Authorization: Bearer <token>` or an API key.", headers=BEARER)
    request.state.principal = principal  # known even when refused below, so the audit names who was refused
    await limiter.hit(settings.client_rate, "client", principal.actor)
    if not permits(principal, rule):
        raise Problem(403, "You are not allowed to do this.")
    if getattr(request.state, "by_cookie", False) and request.scope["method"] not in SAFE_METHODS \
            and not csrf_ok(request):
        raise Problem(403, "The console's X-CSRF-Token header is missing or wrong; reload the page.")


def rule_for(request: HTTPConnection) -> Rule | None:
    """The rule of the route that answers this request (None for no route, or none of ours)."""
    return matched_rule(request)[1]


class SignIn(Exception):
    """A console page asked for without a session: the console answers with its sign-in page, not a problem."""


async def authorize(request: HTTPConnection) -> Principal | None:
    """The app-level dependency: the gate has run (in the middleware); run it here if something skipped it."""
    if request.scope["type"] == "websocket":
        # A browser cannot set headers on a WebSocket: the handler authenticates (header or first message) and
        # applies the same rule with `permits`; here we only make sure the route has one.
        if ("WS", getattr(request.scope.get("route"), "path", "")) not in RULES:
            raise WebSocketException(1008, "This route has no authorization rule.")
        return None
    if not getattr(request.state, "gated", False):
        await gate(request)
    if getattr(request.state, "sign_in", False):
        raise SignIn()
    refused = getattr(request.state, "refused", None)
    if refused is not None:
        raise refused
    return getattr(request.state, "principal", None)


async def current_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Problem(401, "Sign in first.", headers=BEARER)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
