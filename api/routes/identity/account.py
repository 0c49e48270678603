"""The caller's own account: change the password, list and end sessions; and password resets with a one-time token
an admin hands over (out of band) to a user who lost theirs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Pool, SettingsDep
from api.identity import sessions, store
from api.identity.passwords import hash_password, verify_password
from api.identity.principal import CurrentPrincipal, Principal
from api.identity.tokens import digest, new_refresh_token
from api.problems import Problem
from api.text import Secret

router = APIRouter(prefix="/api/auth", tags=["auth"])
NewPassword = Field(min_length=12, max_length=128)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: Secret = Field(min_length=1, max_length=128)
    new_password: Secret = NewPassword


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Secret = Field(min_length=20, max_length=200)
    new_password: Secret = NewPassword


class ResetIssued(BaseModel):
    token: str = Field(description="shown once: hand it to the user; it works once, until expires_at")
    expires_at: datetime


class SessionOut(BaseModel):
    id: uuid.UUID
    started_at: datetime
    expires_at: datetime
    last_used_at: datetime
    client: str | None
    user_agent: str | None
    method: str
    current: bool


def signed_in_user(principal: Principal) -> Principal:
    if principal.kind != "user" or principal.session_id is None:
        raise Problem(400, "Only a signed-in user has a password and sessions; API keys are managed by admins.")
    return principal


async def new_password_hash(username: str, password: str) -> str:
    if password.lower() == username.lower():
        raise Problem(422, "The password must not be the username.")
    return await asyncio.to_thread(hash_password, password)


@router.post("/password", status_code=204, response_class=Response)
async def change_password(body: PasswordChange, principal: CurrentPrincipal, pool: Pool) -> Response:
    """Change your password: the current one is required, and every other session of yours ends (this one stays)."""
    me = signed_in_user(principal)
    async with pool.connection() as conn:
        user = await store.user_by_id(conn, me.id)
    assert user is not None
    if not await asyncio.to_thread(verify_password, user.password_hash, body.current_password.get_secret_value()):
        raise Problem(403, "The current password is not correct.")
    password_hash = await new_password_hash(user.username, body.new_password.get_secret_value())
    async with pool.connection() as conn, conn.transaction():
        await store.set_password(conn, me.id, password_hash)
        await sessions.revoke_all(conn, me.id, keep=me.session_id)
    return Response(status_code=204)


@router.get("/sessions", response_model=list[SessionOut])
async def my_sessions(principal: CurrentPrincipal, pool: Pool, response: Response) -> list[SessionOut]:
    """Your sessions that have not ended, newest first; `current` is the one this request belongs to."""
    me = signed_in_user(principal)
    async with pool.connection() as conn:
        found = await sessions.of_user(conn, me.id)
    response.headers["Cache-Control"] = "no-store"
    return [SessionOut(**{k: v for k, v in vars(s).items() if k in SessionOut.model_fields},
                       current=s.id == me.session_id) for s in found]


@router.delete("/sessions/{session_id}", status_code=204, response_class=Response)
async def end_session(session_id: uuid.UUID, principal: CurrentPrincipal, pool: Pool) -> Response:
    """End one of your sessions (a lost phone, say): its refresh and access tokens stop working at once."""
    me = signed_in_user(principal)
    async with pool.connection() as conn:
        if not await sessions.revoke(conn, me.id, session_id):
            raise Problem(404, f"You have no session {session_id}.")
    return Response(status_code=204)


@router.post("/users/{user_id}/reset-token", response_model=ResetIssued, status_code=201)
async def issue_reset(user_id: uuid.UUID, request: Request, response: Response, principal: CurrentPrincipal,
                      pool: Pool, settings: SettingsDep) -> ResetIssued:
    """(Admin) a one-time token with which that user sets a new password (POST /api/auth/password/reset); earlier
    unused tokens of the user stop working."""
    token = new_refresh_token()
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.reset_token_ttl_s)
    async with pool.connection() as conn, conn.transaction():
        if await store.user_by_id(conn, user_id) is None:
            raise Problem(404, f"No user {user_id}.")
        await conn.execute("UPDATE password_resets SET used_at = now() WHERE user_id = %s AND used_at IS NULL",
                           (user_id,))
        await conn.execute("INSERT INTO password_resets (token_hash, user_id, created_by, expires_at)"
                           " VALUES (%s, %s, %s, %s)", (digest(token), user_id, principal.id, expires_at))
    request.state.audit_subject = str(user_id)
    response.headers["Cache-Control"] = "no-store"
    return ResetIssued(token=token, expires_at=expires_at)


@router.post("/password/reset", status_code=204, response_class=Response)
async def reset_password(body: PasswordReset, pool: Pool) -> Response:
    """Set a new password with a reset token; the token is then used up and every session of the user ends."""
    async with pool.connection() as conn, conn.transaction():
        row = await (await conn.execute(
            "UPDATE password_resets SET used_at = now() WHERE token_hash = %s AND used_at IS NULL"
            " AND expires_at > now() RETURNING user_id", (digest(body.token.get_secret_value()),))).fetchone()
        user = await store.user_by_id(conn, row[0]) if row else None
        if user is None or not user.active:
            raise Problem(400, "The reset token is not valid (unknown, used or expired); ask an admin for another.")
        password_hash = await new_password_hash(user.username, body.new_password.get_secret_value())
        await store.set_password(conn, user.id, password_hash)
        await sessions.revoke_all(conn, user.id)
    return Response(status_code=204)
