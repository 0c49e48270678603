"""The audit log (admins): filter by actor, action, outcome and time; newest first, cursor paging."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel

from api.deps import DbConn, consistent_with
from api.fields import Instant
from api.filters import Where
from api.paging import Cursor, newest_first, time_cursor
from schemas.topics import AUDIT

router = APIRouter(prefix="/api/audit", tags=["audit"])
SELECT = sql.SQL("SELECT event_id, occurred_at, actor, role, action, subject, outcome, status, client, request_id,"
                 " details FROM audit_log")


class AuditEntry(BaseModel):
    event_id: uuid.UUID
    occurred_at: datetime
    actor: str | None
    role: str | None
    action: str
    subject: str | None
    outcome: str
    status: int | None
    client: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


@router.get("", response_model=AuditPage, dependencies=[Depends(consistent_with("audit", (AUDIT,)))])
async def audit_log(
    conn: DbConn,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=200, description="substring, e.g. '/api/ingress'")] = None,
    outcome: Literal["succeeded", "refused", "denied", "failed"] | None = None,
    occurred_from: Instant | None = None,
    occurred_to: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Cursor | None = None,
) -> AuditPage:
    where = Where()
    where.when(actor, "actor = %s")
    where.when(action, "strpos(action, %s) > 0")
    where.when(outcome, "outcome = %s")
    where.when(occurred_from, "occurred_at >= %s")
    where.when(occurred_to, "occurred_at < %s")
    newest_first(where, cursor, "occurred_at, event_id")
    query = SELECT + where.sql() + sql.SQL(" ORDER BY occurred_at DESC, event_id DESC LIMIT %s")
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*where.params, limit + 1])
        rows = await cur.fetchall()
    items = [AuditEntry(**r) for r in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return AuditPage(items=items, next_cursor=time_cursor(last.occurred_at, last.event_id) if last else None)
