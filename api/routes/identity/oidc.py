"""External login with OpenID Connect (api.identity.oidc): redirect to the provider, its callback, and the exchange
of the one-time login code for the API's own tokens. Off (404) unless OPSLEDGER_OIDC_ISSUER is set.

The callback is a top-level browser navigation, so it cannot hand JSON tokens to a single-page app: it redirects to
`return_to#login_code=…` (a fragment never reaches a server or a log), and the page posts that code, valid once and
for a minute, to /exchange."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Cookie, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Pool, SettingsDep
from api.identity import store
from api.identity.oidc import accounts, rp
from api.identity.oidc.config import BINDING_COOKIE, OIDCSettings, binding_cookie, read_binding_cookie
from api.identity.oidc.errors import OIDCError
from api.problems import Problem
from api.routes.identity.auth import Tokens, sign_in
from api.text import Secret

router = APIRouter(prefix="/api/auth/oidc", tags=["auth"])
log = structlog.get_logger(__name__)
COOKIE_PATH = "/api/auth/oidc"
REDIRECT: dict[int | str, dict[str, Any]] = {302: {"description": "to the provider, or back to the application"}}


class LoginCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login_code: Secret = Field(min_length=20, max_length=100)


def relying_party(request: Request) -> OIDCSettings:
    found: OIDCSettings | None = request.app.state.oidc
    if found is None:
        raise Problem(404, "External sign-in is not configured here.")
    return found


def failed(error: OIDCError) -> Problem:
    log.warning("oidc.login_failed", reason=error.reason)  # the reason is a fixed code: safe to log
    return Problem(error.status if error.status < 500 else 502, "Sign-in failed; please start again.",
                   reason=error.reason)


@router.get("/login", status_code=302, response_class=RedirectResponse, responses=REDIRECT)
async def oidc_login(request: Request, settings: SettingsDep,
                     return_to: Annotated[str | None, Query(max_length=500)] = None) -> RedirectResponse:
    """Start an external login: a redirect to the provider (authorization code + PKCE), and a short-lived cookie
    binding the login to this browser."""
    party = relying_party(request)
    try:
        url, pending = await asyncio.to_thread(rp.begin, party, store=request.app.state.oidc_store,
                                               return_to=return_to)
    except OIDCError as e:
        raise failed(e) from e
    response = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    response.set_cookie(BINDING_COOKIE, binding_cookie(pending.state, accounts.cookie_secret(settings)),
                        max_age=party.state_ttl_s, path=COOKIE_PATH, httponly=True, samesite="lax",
                        secure=party.redirect_uri.startswith("https://"))  # Lax: the callback is a cross-site redirect
    return response


@router.get("/callback", status_code=302, response_class=RedirectResponse, responses=REDIRECT)
async def oidc_callback(request: Request, pool: Pool, settings: SettingsDep,
                        binding: Annotated[str | None, Cookie(alias=BINDING_COOKIE, max_length=500)] = None
                        ) -> RedirectResponse:
    """The provider's redirect back: the state (once, from this browser), the code exchanged with the PKCE verifier,
    the ID token checked; then the local user (provisioned on a first login) gets a one-time login code."""
    party = relying_party(request)
    browser_state = read_binding_cookie(binding, accounts.cookie_secret(settings), party.state_ttl_s)
    try:
        identity = await asyncio.to_thread(rp.finish, dict(request.query_params), browser_state, settings=party,
                                           store=request.app.state.oidc_store)
    except OIDCError as e:
        raise failed(e) from e
    async with pool.connection() as conn:
        user = await accounts.user_for(conn, identity)
        code = await accounts.new_login_code(conn, user.id)
    response = RedirectResponse(f"{identity.return_to}#login_code={code}", status_code=302,
                                headers={"Cache-Control": "no-store"})
    response.delete_cookie(BINDING_COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")
    return response


@router.post("/exchange", response_model=Tokens)
async def oidc_exchange(body: LoginCode, request: Request, response: Response, pool: Pool,
                        settings: SettingsDep) -> Tokens:
    """Trade the one-time login code of a finished external login for the API's tokens (a new session)."""
    relying_party(request)
    async with pool.connection() as conn:
        user_id = await accounts.take_login_code(conn, body.login_code.get_secret_value())
        user = await store.user_by_id(conn, user_id) if user_id else None
    if user is None or not user.active:
        raise Problem(401, "The login code is not valid (used, expired or unknown); sign in again.")
    response.headers["Cache-Control"] = "no-store"
    return await sign_in(request, pool, settings, user, method="oidc")
