"""SQL of the identity store. Every function takes a connection; the caller owns the transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import class_row, dict_row

from api.identity import sessions
from api.identity.tokens import digest, new_api_key, new_refresh_token


@dataclass
class User:
    id: uuid.UUID
    username: str
    password_hash: str
    role: str
    active: bool
    created_at: datetime
    updated_at: datetime


class UsernameTaken(Exception):
    pass


USER_COLUMNS = "id, username, password_hash, role, active, created_at, updated_at"


async def create_user(conn: psycopg.AsyncConnection, username: str, password_hash: str, role: str, *,
                      active: bool = True) -> User:
    try:
        async with conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(f"INSERT INTO users (id, username, password_hash, role, active) VALUES (%s, %s, %s, %s,"
                              f" %s) RETURNING {USER_COLUMNS}", (uuid.uuid4(), username, password_hash, role, active))
            user = await cur.fetchone()
    except psycopg.errors.UniqueViolation as e:
        raise UsernameTaken(username) from e
    assert user is not None
    return user


async def user_by_name(conn: psycopg.AsyncConnection, username: str) -> User | None:
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(f"SELECT {USER_COLUMNS} FROM users WHERE lower(username) = lower(%s)", (username,))
        return await cur.fetchone()


async def user_by_id(conn: psycopg.AsyncConnection, user_id: uuid.UUID) -> User | None:
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(f"SELECT {USER_COLUMNS} FROM users WHERE id = %s", (user_id,))
        return await cur.fetchone()


async def list_users(conn: psycopg.AsyncConnection, limit: int, offset: int) -> list[User]:
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY lower(username) LIMIT %s OFFSET %s",
                          (limit, offset))
        return await cur.fetchall()


async def update_user(conn: psycopg.AsyncConnection, user_id: uuid.UUID, *, role: str | None,
                      active: bool | None) -> User | None:
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(f"UPDATE users SET role = coalesce(%s, role), active = coalesce(%s, active),"
                          f" updated_at = now() WHERE id = %s RETURNING {USER_COLUMNS}", (role, active, user_id))
        user = await cur.fetchone()
    if user is not None and not user.active:
        await sessions.revoke_all(conn, user_id)
    return user


async def set_password(conn: psycopg.AsyncConnection, user_id: uuid.UUID, password_hash: str) -> None:
    await conn.execute("UPDATE users SET password_hash = %s, updated_at = now() WHERE id = %s",
                       (password_hash, user_id))


async def count_admins(conn: psycopg.AsyncConnection) -> int:
    row = await (await conn.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active")).fetchone()
    return int(row[0]) if row else 0


# --- refresh tokens: rotation with reuse detection -------------------------------------------------------

async def issue_refresh(conn: psycopg.AsyncConnection, user_id: uuid.UUID, ttl_s: int, session_id: uuid.UUID,
                        session_ends: datetime) -> str:
    """A refresh token of the session's family, never valid past the session's absolute end."""
    token = new_refresh_token()
    expires = min(datetime.now(UTC) + timedelta(seconds=ttl_s), session_ends)
    await conn.execute("INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at)"
                       " VALUES (%s, %s, %s, %s, %s)", (uuid.uuid4(), session_id, user_id, digest(token), expires))
    return token


async def use_refresh(conn: psycopg.AsyncConnection, token: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(user id, family id) for a valid unused token, now marked used. A token used before revokes its family."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, family_id, user_id, expires_at, used_at, revoked_at FROM refresh_tokens"
                          " WHERE token_hash = %s FOR UPDATE", (digest(token),))
        row = await cur.fetchone()
    if row is None or row["revoked_at"] is not None:
        return None
    if row["used_at"] is not None:  # reuse of a rotated token: someone else has a copy
        await conn.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = %s AND revoked_at IS NULL",
                           (row["family_id"],))
        return None
    if row["expires_at"] <= datetime.now(UTC):
        return None
    await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE id = %s", (row["id"],))
    return row["user_id"], row["family_id"]


async def revoke_refresh_family(conn: psycopg.AsyncConnection, token: str, user_id: uuid.UUID) -> None:
    await conn.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE revoked_at IS NULL AND family_id ="
                       " (SELECT family_id FROM refresh_tokens WHERE token_hash = %s AND user_id = %s)",
                       (digest(token), user_id))


async def revoke_access(conn: psycopg.AsyncConnection, jti: uuid.UUID, expires_at: datetime) -> None:
    await conn.execute("INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                       (jti, expires_at))
    await conn.execute("DELETE FROM revoked_access_tokens WHERE expires_at < now() - interval '1 minute'")


async def token_alive(conn: psycopg.AsyncConnection, jti: uuid.UUID, session_id: uuid.UUID) -> bool:
    """Neither the access token (logout) nor its session (revoked, or past its absolute end) has ended."""
    row = await (await conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = %s) AND EXISTS (SELECT 1 FROM sessions"
        " WHERE id = %s AND revoked_at IS NULL AND expires_at > now())", (jti, session_id))).fetchone()
    return bool(row and row[0])


# --- API keys ----------------------------------------------------------------------------------------------

KEY_COLUMNS = "id, name, prefix, scopes, created_by, created_at, expires_at, revoked_at, last_used_at, rotated_from"


async def create_api_key(conn: psycopg.AsyncConnection, name: str, scopes: list[str], created_by: uuid.UUID,
                         expires_at: datetime | None, rotated_from: uuid.UUID | None = None
                         ) -> tuple[str, dict[str, Any]]:
    key, prefix = new_api_key()
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"INSERT INTO api_keys (id, name, prefix, key_hash, scopes, created_by, expires_at,"
                          f" rotated_from) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING {KEY_COLUMNS}",
                          (uuid.uuid4(), name, prefix, digest(key), scopes, created_by, expires_at, rotated_from))
        row = await cur.fetchone()
    assert row is not None
    return key, row


async def list_api_keys(conn: psycopg.AsyncConnection) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC")
        return await cur.fetchall()


async def api_key(conn: psycopg.AsyncConnection, key_id: uuid.UUID) -> dict[str, Any] | None:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = %s", (key_id,))
        return await cur.fetchone()


async def revoke_api_key(conn: psycopg.AsyncConnection, key_id: uuid.UUID) -> bool:
    cur = await conn.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s", (key_id,))
    return cur.rowcount == 1


async def expire_api_key(conn: psycopg.AsyncConnection, key_id: uuid.UUID, at: datetime) -> None:
    await conn.execute("UPDATE api_keys SET expires_at = least(coalesce(expires_at, %s), %s) WHERE id = %s",
                       (at, at, key_id))


async def key_by_secret(conn: psycopg.AsyncConnection, key: str) -> dict[str, Any] | None:
    """The live key with this secret (not revoked, not expired); its last-used time is refreshed once a minute."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL"
                          " AND (expires_at IS NULL OR expires_at > now())", (digest(key),))
        row = await cur.fetchone()
    if row is not None and (row["last_used_at"] is None
                            or row["last_used_at"] < datetime.now(UTC) - timedelta(minutes=1)):
        await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %s", (row["id"],))
    return row
