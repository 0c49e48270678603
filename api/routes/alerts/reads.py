"""What the alert routes share: the consistency wait (requests decided by the processor), response models, and
waiting for one request's outcome (?wait=true)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg
from fastapi import Depends
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from api.consistency import Span, poll, wait_decided
from api.deps import consistent_with
from schemas.topics import ALERT_COMMANDS, ALERT_EVENTS, ALERT_RULES

TOPICS = (ALERT_RULES, ALERT_COMMANDS, ALERT_EVENTS)
UNDECIDED = ("SELECT 1 FROM alert_commands c WHERE c.src_partition = %s AND c.src_offset BETWEEN %s AND %s"
             " AND NOT EXISTS (SELECT 1 FROM alert_history h WHERE h.causation_id = c.event_id) LIMIT 1")
OUTCOME = "SELECT type, envelope->'data'->>'reason' FROM alert_history WHERE causation_id = %s ORDER BY at LIMIT 1"
ALERT_COLUMNS = ("SELECT alert_id, fingerprint, rule_id, subject, severity, summary, labels, value, state,"
                 " acknowledged, acknowledged_at, ack_by, ack_note, ack_until, silenced_by, suppressed_by, flapping,"
                 " raised_at,"
                 " resolved_at, resolve_reason, updated_at FROM alerts")


async def wait_commands_decided(pool: AsyncConnectionPool, spans: Sequence[Span], timeout_s: float) -> None:
    """After the requests are projected: wait until the processor's decision on each (a lifecycle event or a
    refusal naming it as its cause) is projected too. 504 problem after timeout_s."""
    await wait_decided(pool, spans, timeout_s, topic=ALERT_COMMANDS, undecided=UNDECIDED, projection="alerts")


Consistent = Depends(consistent_with("alerts", TOPICS, wait_commands_decided))


class AlertOut(BaseModel):
    alert_id: uuid.UUID
    fingerprint: str
    rule_id: str | None
    subject: str
    severity: str
    summary: str
    labels: dict[str, str]
    value: float | None
    state: str
    status: str  # firing (unacknowledged), acknowledged, resolved
    acknowledged: bool
    acknowledged_at: datetime | None
    ack_by: str | None
    ack_note: str | None
    ack_until: datetime | None
    silenced: bool
    silenced_by: uuid.UUID | None
    suppressed_by: uuid.UUID | None = None  # root cause: the down device's alert this one is a symptom of
    flapping: bool
    raised_at: datetime
    resolved_at: datetime | None
    resolve_reason: str | None
    updated_at: datetime


def to_alert(row: dict[str, Any]) -> AlertOut:
    status = "resolved" if row["state"] == "resolved" else "acknowledged" if row["acknowledged"] else "firing"
    return AlertOut(**row, status=status, silenced=row["silenced_by"] is not None)


async def load_alert(pool: AsyncConnectionPool, alert_id: uuid.UUID) -> dict[str, Any] | None:
    async with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(ALERT_COLUMNS + " WHERE alert_id = %s", (alert_id,))
        return await cur.fetchone()


async def outcome(pool: AsyncConnectionPool, command_id: uuid.UUID, timeout_s: float) -> tuple[str, str | None] | None:
    """The processor's decision on a request: (event type, refusal reason); None when not decided in time."""
    found: list[tuple[str, str | None]] = []

    async def decided(conn: psycopg.AsyncConnection) -> bool:
        row = await (await conn.execute(OUTCOME, (command_id,))).fetchone()
        if row is not None:
            found.append((row[0], row[1]))
        return row is not None

    return found[0] if await poll(pool, decided, timeout_s) else None
