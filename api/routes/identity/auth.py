"""Registration, login, token refresh and logout, the caller's profile, user administration."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import Pool, SettingsDep
from api.fields import Flag
from api.identity import sessions, store
from api.identity.limits import too_many
from api.identity.passwords import hash_password, verify_password
from api.identity.principal import CurrentPrincipal, address_of
from api.identity.tokens import issue_access_token
from api.problems import Problem
from api.text import Secret, Text

router = APIRouter(prefix="/api/auth", tags=["auth"])
USERNAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$"
Role = Literal["admin", "operator", "worker", "viewer"]
BAD_LOGIN = "The username or password is not correct."


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=USERNAME, description="3–32 letters, digits, '.', '_' or '-'")
    password: Secret = Field(min_length=12, max_length=128)

    @model_validator(mode="after")
    def _not_the_username(self) -> Credentials:
        if self.password.get_secret_value().lower() == self.username.lower():
            raise ValueError("the password must not be the username")
        return self


class NewUser(Credentials):
    role: Role = "viewer"


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Text = Field(min_length=1, max_length=64)
    password: Secret = Field(min_length=1, max_length=128)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Secret = Field(min_length=1, max_length=200)


class LogoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: Secret | None = Field(default=None, max_length=200)


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    active: Flag | None = None


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    role: str
    active: bool
    created_at: datetime


class Tokens(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    refresh_token: str


def user_out(user: store.User) -> UserOut:
    return UserOut(id=user.id, username=user.username, role=user.role, active=user.active, created_at=user.created_at)


async def create(pool: Pool, body: Credentials, role: str) -> store.User:
    password_hash = await asyncio.to_thread(hash_password, body.password.get_secret_value())
    async with pool.connection() as conn:
        try:
            return await store.create_user(conn, body.username, password_hash, role)
        except store.UsernameTaken as e:
            raise Problem(409, "That username is taken.") from e


async def sign_in(request: Request, pool: Pool, settings: SettingsDep, user: store.User,
                  method: str = "password") -> Tokens:
    """A new session for `user` (its absolute end fixed now) and its first tokens."""
    async with pool.connection() as conn:
        session = await sessions.start(conn, user.id, settings.session_max_s, client=address_of(request),
                                       user_agent=request.headers.get("user-agent"), method=method)
    return await tokens_for(pool, settings, user, session)


async def tokens_for(pool: Pool, settings: SettingsDep, user: store.User, session: sessions.Session) -> Tokens:
    access, claims = issue_access_token(user.id, user.role, settings, session.id, session.expires_at)
    async with pool.connection() as conn:
        refresh = await store.issue_refresh(conn, user.id, settings.refresh_token_ttl_s, session.id,
                                            session.expires_at)
    left = int((session.expires_at - datetime.now(UTC)).total_seconds())
    expires_in = max(1, min(settings.access_token_ttl_s, left))
    return Tokens(access_token=access, expires_in=expires_in, refresh_token=refresh)


class Registered(BaseModel):
    status: Literal["pending"] = "pending"
    detail: str = "If the username was free, the account now waits for an administrator's approval."


@router.post("/register", response_model=Registered, status_code=202)
async def register(body: Credentials, request: Request, pool: Pool, settings: SettingsDep) -> Registered:
    """Self-registration, off unless OPSLEDGER_ALLOW_REGISTRATION=true. The account is an inactive viewer until an
    admin approves it (PATCH active=true). The answer (and the work: the password is hashed either way) is the
    same whether the username was free or taken, so registering tells nobody which usernames exist."""
    request.state.audit_subject = body.username
    if not settings.allow_registration:
        raise Problem(403, "Self-registration is off here; ask an administrator for an account.")
    password_hash = await asyncio.to_thread(hash_password, body.password.get_secret_value())
    try:
        async with pool.connection() as conn:
            await store.create_user(conn, body.username, password_hash, "viewer", active=False)
    except store.UsernameTaken:
        pass
    return Registered()


async def checked_user(request: Request, pool: Pool, settings: SettingsDep, username: str, password: str
                       ) -> store.User:
    """The active user these credentials name, for every password sign-in (the API's and the console's): limited per
    username and client address; per client address in failures whatever the usernames (OPSLEDGER_LOGIN_FAILURE_RATE,
    against password spraying), refused before the password is verified and checked one at a time per address so a
    burst cannot overrun it; and per account from anywhere with a growing wait after repeated failures
    (OPSLEDGER_ACCOUNT_LOGIN_BACKOFF). 401 BAD_LOGIN never says whether the user exists (an unknown user costs a
    verification too)."""
    request.state.audit_subject = username
    limiter, account, address = request.app.state.limiter, username.lower(), address_of(request)
    await limiter.hit(settings.login_rate, "login", account, address)
    async with limiter.turn("login-failures", address):
        wait = await limiter.blocked([settings.login_failure_rate], "login-failures", address)
        if wait is not None:
            raise too_many("failed sign-ins from this address", wait)
        wait = await limiter.blocked(settings.login_backoff_tiers, "login-account", account)
        if wait is not None:
            raise too_many("failed sign-ins for this account", wait)
        async with pool.connection() as conn:
            user = await store.user_by_name(conn, username)
        ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
        if not ok or user is None or not user.active:
            await limiter.count([settings.login_failure_rate], "login-failures", address)
            await limiter.count(settings.login_backoff_tiers, "login-account", account)
            raise Problem(401, BAD_LOGIN)
    return user


@router.post("/login", response_model=Tokens)
async def login(body: Login, request: Request, response: Response, pool: Pool, settings: SettingsDep) -> Tokens:
    """Sign in with a password (limits: `checked_user`)."""
    user = await checked_user(request, pool, settings, body.username, body.password.get_secret_value())
    response.headers["Cache-Control"] = "no-store"
    return await sign_in(request, pool, settings, user)


@router.post("/refresh", response_model=Tokens)
async def refresh(body: RefreshRequest, response: Response, pool: Pool, settings: SettingsDep) -> Tokens:
    """Rotate: the old refresh token stops working; presenting it again revokes the whole family."""
    async with pool.connection() as conn:
        used = await store.use_refresh(conn, body.refresh_token.get_secret_value())
        user = await store.user_by_id(conn, used[0]) if used else None
        session = await sessions.alive(conn, used[1]) if used else None  # revoked or past its absolute end: no
    if used is None or user is None or not user.active or session is None:
        raise Problem(401, "The refresh token is not valid; sign in again.")
    response.headers["Cache-Control"] = "no-store"
    return await tokens_for(pool, settings, user, session)


@router.post("/logout", status_code=204, response_class=Response)
async def logout(principal: CurrentPrincipal, pool: Pool, body: LogoutRequest | None = None) -> Response:
    if principal.kind != "user" or principal.token_jti is None or principal.token_expires_at is None:
        raise Problem(400, "Only a signed-in user can log out; revoke API keys instead.")
    async with pool.connection() as conn:
        await store.revoke_access(conn, principal.token_jti, principal.token_expires_at)
        if principal.session_id is not None:  # the whole sign-in ends: its refresh tokens too
            await sessions.revoke(conn, principal.id, principal.session_id)
        if body is not None and body.refresh_token is not None:
            await store.revoke_refresh_family(conn, body.refresh_token.get_secret_value(), principal.id)
    return Response(status_code=204)


@router.get("/profile", response_model=UserOut)
async def profile(principal: CurrentPrincipal, pool: Pool) -> UserOut:
    if principal.kind != "user":
        raise Problem(400, "API keys have no profile.")
    async with pool.connection() as conn:
        user = await store.user_by_id(conn, principal.id)
    assert user is not None
    return user_out(user)


@router.get("/users", response_model=list[UserOut])
async def list_users(pool: Pool, limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[UserOut]:
    async with pool.connection() as conn:
        return [user_out(u) for u in await store.list_users(conn, limit, offset)]


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(body: NewUser, request: Request, pool: Pool) -> UserOut:
    request.state.audit_subject = body.username
    return user_out(await create(pool, body, body.role))


@router.patch("/users/{user_id}", response_model=UserOut)
async def change_user(user_id: uuid.UUID, body: UserChange, principal: CurrentPrincipal, pool: Pool) -> UserOut:
    """Change a role or (de)activate; a deactivated user is refused at once and loses every session."""
    if user_id == principal.id and (body.active is False or (body.role not in (None, "admin"))):
        raise Problem(409, "Admins cannot demote or deactivate themselves; ask another admin.")
    async with pool.connection() as conn:
        user = await store.update_user(conn, user_id, role=body.role, active=body.active)
    if user is None:
        raise Problem(404, f"No user {user_id}.")
    return user_out(user)
