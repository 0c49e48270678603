"""Who is calling: authenticate the request (Bearer JWT, or API key as Bearer or X-API-Key) and apply the rule."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request, WebSocketException
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.requests import HTTPConnection

from api.identity import store
from api.identity.rules import RULES, Rule
from api.identity.tokens import API_KEY_PREFIX, InvalidToken, decode_access_token
from api.problems import Problem

BEARER = {"WWW-Authenticate": 'Bearer realm="opsledger"'}


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "key"
    id: uuid.UUID
    name: str
    role: str | None  # users only
    scopes: frozenset[str]  # keys only
    token_jti: uuid.UUID | None = None
    token_expires_at: datetime | None = None

    @property
    def actor(self) -> str:
        """How events record who did it."""
        return f"{self.kind}:{self.id}"


class Limiter:
    """Moving-window rate limits in this process (the `limits` library)."""

    def __init__(self) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, rate: str, *keys: str, cost: int = 1, what: str = "requests") -> None:
        item: RateLimitItem = parse(rate)
        if cost > item.amount:
            raise Problem(429, f"Too many {what} at once: at most {item}.",
                          title="Too Many Requests")
        if not await self._limiter.hit(item, *keys, cost=cost):
            reset_at, _ = await self._limiter.get_window_stats(item, *keys)
            retry = max(1, int(reset_at - time.time()) + 1)
            raise Problem(429, f"Too many {what}; slow down.", headers={"Retry-After": str(retry)},
                          title="Too Many Requests")


def client_address(request: HTTPConnection) -> str:
    if request.app.state.settings.trust_forwarded:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def credentials(request: HTTPConnection) -> str | None:
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


async def authenticate(request: HTTPConnection) -> Principal | None:
    secret = credentials(request)
    return None if secret is None else await authenticate_secret(request.app, secret)


async def authenticate_secret(app: FastAPI, secret: str) -> Principal:
    """A Bearer JWT or an API key, checked against the database (also for WebSocket first-message tokens)."""
    settings = app.state.settings
    async with app.state.pool.connection() as conn:
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
        if user is None or not user.active or await store.access_revoked(conn, claims.jti):
            raise Problem(401, "The access token is not valid.", headers=BEARER)
        return Principal("user", user.id, user.username, user.role, frozenset(), claims.jti, claims.expires_at)


def permits(principal: Principal, rule: Rule) -> bool:
    """Whether the rule lets this principal through (a by-topic rule lets every key through to its topic check)."""
    if principal.kind == "user":
        return principal.role in rule.roles
    return rule.by_topic or rule.scope in principal.scopes


def rule_for(request: HTTPConnection) -> Rule | None:
    route = request.scope.get("route")  # path_format: `{series:path}` is listed as `{series}`, as OpenAPI has it
    return RULES.get((request.scope["method"], getattr(route, "path_format", getattr(route, "path", ""))))


async def authorize(request: HTTPConnection) -> Principal | None:
    """The one place every route's rule is enforced; also the per-client rate cap."""
    if request.scope["type"] == "websocket":
        # A browser cannot set headers on a WebSocket: the handler authenticates (header or first message) and
        # applies the same rule with `permits`; here we only make sure the route has one.
        if ("WS", getattr(request.scope.get("route"), "path", "")) not in RULES:
            raise WebSocketException(1008, "This route has no authorization rule.")
        return None
    rule = rule_for(request)
    if rule is None:
        raise Problem(403, "This route has no authorization rule.")
    settings = request.app.state.settings
    principal = None if rule.public else await authenticate(request)
    await request.app.state.limiter.hit(settings.client_rate, "client",
                                        principal.actor if principal else client_address(request))
    if rule.public:
        return None
    if principal is None:
        raise Problem(401, "Sign in: send `Authorization: Bearer <token>` or an API key.", headers=BEARER)
    request.state.principal = principal  # known even when refused below, so the audit names who was refused
    if not permits(principal, rule):
        raise Problem(403, "You are not allowed to do this.")
    return principal


async def current_principal(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise Problem(401, "Sign in first.", headers=BEARER)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
