"""The audit log read model."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from projections.records import Record, Tables
from schemas.identity.events import AuditRecorded
from schemas.topics import AUDIT

INSERT_AUDIT = sql.SQL(
    "INSERT INTO {audit} (event_id, occurred_at, actor, role, action, subject, outcome, status, client, request_id,"
    " details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING"
)


class AuditProjection:
    name = "audit"
    topics = (AUDIT,)
    tables = ("audit_log",)
    decode = True

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        rows = []
        for r in records:
            if r.event is not None and isinstance(d := r.event.data, AuditRecorded):
                details = Jsonb({"actor_name": d.actor_name} if d.actor_name else {})
                rows.append((r.event.event_id, r.event.occurred_at, d.actor, d.role, d.action, d.subject, d.outcome,
                             d.status, d.client, d.request_id, details))
        if rows:
            async with conn.cursor() as cur:
                await cur.executemany(INSERT_AUDIT.format(audit=tables["audit_log"]), rows)
