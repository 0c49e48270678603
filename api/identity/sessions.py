"""Sessions: one per sign-in (password or external login). Its refresh tokens form one family (family id = session
id) and its access tokens name it (`sid`), so ending a session ends all of them at once. Every session has an
absolute end (OPSLEDGER_SESSION_MAX_S) that refreshing never moves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg.rows import class_row


@dataclass
class Session:
    id: uuid.UUID
    user_id: uuid.UUID
    started_at: datetime
    expires_at: datetime
    last_used_at: datetime
    revoked_at: datetime | None
    client: str | None
    user_agent: str | None
    method: str


COLUMNS = "id, user_id, started_at, expires_at, last_used_at, revoked_at, client, user_agent, method"


async def start(conn: psycopg.AsyncConnection, user_id: uuid.UUID, max_s: int, *, client: str | None,
                user_agent: str | None, method: str = "password") -> Session:
    async with conn.cursor(row_factory=class_row(Session)) as cur:
        await cur.execute(f"INSERT INTO sessions (id, user_id, expires_at, client, user_agent, method)"
                          f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {COLUMNS}",
                          (uuid.uuid4(), user_id, datetime.now(UTC) + timedelta(seconds=max_s), client,
                           (user_agent or "")[:300] or None, method))
        session = await cur.fetchone()
    assert session is not None
    return session


async def alive(conn: psycopg.AsyncConnection, session_id: uuid.UUID) -> Session | None:
    """The session when it is neither revoked nor past its absolute end; its last use is refreshed."""
    async with conn.cursor(row_factory=class_row(Session)) as cur:
        await cur.execute(f"UPDATE sessions SET last_used_at = now() WHERE id = %s AND revoked_at IS NULL"
                          f" AND expires_at > now() RETURNING {COLUMNS}", (session_id,))
        return await cur.fetchone()


async def of_user(conn: psycopg.AsyncConnection, user_id: uuid.UUID) -> list[Session]:
    async with conn.cursor(row_factory=class_row(Session)) as cur:
        await cur.execute(f"SELECT {COLUMNS} FROM sessions WHERE user_id = %s AND revoked_at IS NULL"
                          f" AND expires_at > now() ORDER BY started_at DESC LIMIT 200", (user_id,))
        return await cur.fetchall()


async def revoke(conn: psycopg.AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID) -> bool:
    """End one of this user's sessions: its refresh tokens and (through `sid`) its access tokens stop working."""
    cur = await conn.execute("UPDATE sessions SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"
                             " AND user_id = %s", (session_id, user_id))
    await conn.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = %s AND revoked_at IS NULL",
                       (session_id,))
    return cur.rowcount == 1


async def revoke_all(conn: psycopg.AsyncConnection, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> None:
    """End every session of the user, but `keep` (the one changing the password, say)."""
    await conn.execute("UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL"
                       " AND id IS DISTINCT FROM %s", (user_id, keep))
    await conn.execute("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL"
                       " AND family_id IS DISTINCT FROM %s", (user_id, keep))
