"""Signing in and out of the console: the API's own users, passwords and tokens, kept in session cookies
(api/identity/session.py says why cookies and how CSRF is answered)."""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import Pool, SettingsDep
from api.identity import sessions, store
from api.identity.principal import CurrentPrincipal
from api.identity.session import REFRESH_COOKIE, clear_session, csrf_ok, same_origin, set_session
from api.problems import Problem
from api.routes.identity.auth import BAD_LOGIN, checked_user, sign_in, tokens_for

from .render import env

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this site (never //host or a scheme): an open redirect would help phishing."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_page(next_path: str, error: str | None = None, status: int = 200) -> HTMLResponse:
    html = env.get_template("login.html").render(next=next_path, error=error)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


async def start_session(request: Request, response: Response, pool: Pool, settings: SettingsDep,
                        user: store.User) -> None:
    """A new session (the same sessions as the API's: listed, revocable, with an absolute end) in cookies."""
    tokens = await sign_in(request, pool, settings, user, method="console")
    set_session(request, response, tokens.access_token, tokens.refresh_token, tokens.expires_in,
                settings.refresh_token_ttl_s, nonce=secrets.token_urlsafe(24))


@router.get("/login", response_class=HTMLResponse)
async def login_form(next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query parameter's name
    return login_page(safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, pool: Pool, settings: SettingsDep, username: Annotated[str, Form(max_length=64)],
                password: Annotated[str, Form(max_length=128)],
                next: Annotated[str, Form(max_length=2000)] = "/") -> Response:  # noqa: A002
    if not same_origin(request):  # login CSRF: only this site's own form signs in
        return login_page(safe_next(next), "Sign in from this site's own page.", 403)
    try:
        user = await checked_user(request, pool, settings, username, password)
    except Problem as refused:
        if refused.status != 401:
            raise
        return login_page(safe_next(next), BAD_LOGIN, 401)
    response = RedirectResponse(safe_next(next), status_code=303)
    await start_session(request, response, pool, settings, user)
    return response


async def _rotate(request: Request, response: Response, pool: Pool, settings: SettingsDep) -> bool:
    """New cookies from the refresh cookie, while its session lives (revoked or past its absolute end: no)."""
    token = request.cookies.get(REFRESH_COOKIE)
    if not token:
        return False
    async with pool.connection() as conn:
        used = await store.use_refresh(conn, token)
        user = await store.user_by_id(conn, used[0]) if used else None
        session = await sessions.alive(conn, used[1]) if used else None
    if used is None or user is None or not user.active or session is None:
        return False
    tokens = await tokens_for(pool, settings, user, session)
    set_session(request, response, tokens.access_token, tokens.refresh_token, tokens.expires_in,
                settings.refresh_token_ttl_s)
    return True


@router.post("/session/refresh", status_code=204, response_class=Response)
async def refresh(request: Request, pool: Pool, settings: SettingsDep) -> Response:
    """A page's script asks this when the API answered 401: new access cookie, same CSRF token."""
    if not csrf_ok(request):
        raise Problem(403, "The X-CSRF-Token header is missing or wrong; reload the page.")
    response = Response(status_code=204)
    if not await _rotate(request, response, pool, settings):
        raise Problem(401, "The session has ended; sign in again.")
    return response


@router.get("/session/resume")
async def resume(request: Request, pool: Pool, settings: SettingsDep, next: str | None = None) -> Response:  # noqa: A002
    """A page load whose access cookie expired comes here: rotate the refresh token and go back, or sign in.
    SameSite=Strict keeps other sites' links from carrying the cookies here."""
    target = safe_next(next)
    response: Response = RedirectResponse(target, status_code=303)
    if not await _rotate(request, response, pool, settings):
        response = RedirectResponse(f"/login?next={quote(target)}", status_code=303)
        clear_session(response)
    return response


@router.post("/session/logout", status_code=204, response_class=Response)
async def logout(request: Request, principal: CurrentPrincipal, pool: Pool) -> Response:
    async with pool.connection() as conn:
        if principal.token_jti is not None and principal.token_expires_at is not None:
            await store.revoke_access(conn, principal.token_jti, principal.token_expires_at)
        if principal.session_id is not None:  # the whole sign-in ends, as with the API's logout
            await sessions.revoke(conn, principal.id, principal.session_id)
        token = request.cookies.get(REFRESH_COOKIE)
        if token:
            await store.revoke_refresh_family(conn, token, principal.id)
    response = Response(status_code=204)
    clear_session(response)
    return response
