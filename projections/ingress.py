"""Ingress read models: current readings, their history, and the processor's limit verdicts.

Every reading event names the version it creates, so duplicates and stale corrections are no-ops
(kept in history with applied = false) and the same log always folds to the same tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
import psycopg
from psycopg import sql

from projections.records import Record, Tables
from schemas.envelope import Envelope
from schemas.ingress import (
    IngressLimitExceeded,
    IngressReading,
    IngressReadingCorrected,
    IngressReadingRetracted,
    IngressReadingSubmitted,
)
from schemas.topics import INGRESS_EVALUATIONS, INGRESS_READINGS

READING_COLUMNS = (
    "customer_name", "address", "node_id", "level_dbmv", "freq_start_mhz", "freq_end_mhz", "split_plan",
    "test_point", "home_connected", "install_phase", "technician", "notes", "attachments",
)
ROW_COLUMNS = ("id", "version", *READING_COLUMNS, "submitted_at", "submitted_by", "updated_at", "retracted",
               "last_event_id")

LOAD_HEADS = sql.SQL("SELECT id, version, retracted FROM {readings} WHERE id = ANY(%s)")
STAGE = sql.SQL("CREATE TEMP TABLE IF NOT EXISTS ingress_stage (LIKE {readings}) ON COMMIT DELETE ROWS")
COPY_STAGE = sql.SQL("COPY ingress_stage ({cols}) FROM STDIN")
MERGE_STAGE = sql.SQL(
    "INSERT INTO {readings} ({cols}) SELECT {cols} FROM ingress_stage ON CONFLICT (id) DO UPDATE SET {updates}"
)
RETRACT = sql.SQL(
    "UPDATE {readings} SET retracted = true, version = %s, updated_at = %s, last_event_id = %s WHERE id = %s"
)
INSERT_HISTORY = sql.SQL(
    "INSERT INTO {history} (event_id, reading_id, version, type, occurred_at, actor, applied, data)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id) DO NOTHING"
)
INSERT_EXCEEDED = sql.SQL(
    "INSERT INTO {exceeded} (reading_id, version, limit_dbmv, exceeded_by_db, limit_rule, event_id)"
    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (reading_id, version) DO NOTHING"
)


@dataclass(frozen=True)
class Head:
    """What the fold needs to know of a reading: its version and whether it was retracted."""

    version: int
    retracted: bool


def next_head(head: Head | None, event: Envelope) -> Head | None:
    """The reading's head after `event`, or None when the event does not apply (duplicate, stale, or late)."""
    data = event.data
    if isinstance(data, IngressReadingSubmitted):
        return Head(1, False) if head is None else None
    if head is None or head.retracted:
        return None
    if isinstance(data, IngressReadingCorrected | IngressReadingRetracted) and data.version == head.version + 1:
        return Head(data.version, isinstance(data, IngressReadingRetracted))
    return None


def row_of(reading_id: uuid.UUID, version: int, reading: IngressReading, event: Envelope,
           first_seen: datetime) -> dict[str, object]:
    row: dict[str, object] = {c: getattr(reading, c) for c in READING_COLUMNS}
    row.update(id=reading_id, version=version, attachments=list(reading.attachments),
               split_plan=reading.split_plan.value,
               test_point=reading.test_point.value, install_phase=reading.install_phase.value,
               submitted_at=first_seen, submitted_by=event.actor, updated_at=event.occurred_at, retracted=False,
               last_event_id=event.event_id)
    return row


class IngressProjection:
    name = "ingress"
    topics = (INGRESS_READINGS, INGRESS_EVALUATIONS)
    tables = ("ingress_readings", "ingress_reading_history", "ingress_limit_exceeded")
    decode = True

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        events = [r.event for r in records if r.event is not None]
        ids = list({e.data.reading_id for e in events if hasattr(e.data, "reading_id")})
        if not ids:
            return
        heads: dict[uuid.UUID, Head | None] = {
            i: Head(v, r) for i, v, r in await (await conn.execute(
                LOAD_HEADS.format(readings=tables["ingress_readings"]), (ids,))).fetchall()
        }
        full_rows: dict[uuid.UUID, dict[str, object]] = {}
        retractions: dict[uuid.UUID, tuple[int, datetime, uuid.UUID]] = {}
        history, exceeded = [], []
        for e in events:
            data = e.data
            if isinstance(data, IngressLimitExceeded):
                exceeded.append((data.reading_id, data.version, data.limit_dbmv, data.exceeded_by_db,
                                 data.limit_rule, e.event_id))
                continue
            rid: uuid.UUID = data.reading_id  # type: ignore[attr-defined]
            head = next_head(heads.get(rid), e)
            history.append((e.event_id, rid, data.version, e.type, e.occurred_at, e.actor,  # type: ignore[attr-defined]
                            head is not None, orjson.dumps(data.model_dump(mode="json")).decode()))
            if head is None:
                continue
            heads[rid] = head
            if isinstance(data, IngressReadingSubmitted):
                full_rows[rid] = row_of(rid, 1, data.reading, e, e.occurred_at)
            elif isinstance(data, IngressReadingCorrected):
                first = full_rows[rid]["submitted_at"] if rid in full_rows else e.occurred_at
                row = row_of(rid, data.version, data.reading, e, first)  # type: ignore[arg-type]
                if rid in full_rows:
                    row["submitted_by"] = full_rows[rid]["submitted_by"]
                full_rows[rid] = row
                retractions.pop(rid, None)
            elif rid in full_rows:
                full_rows[rid] = {**full_rows[rid], "retracted": True, "version": data.version,  # type: ignore[attr-defined]
                                  "updated_at": e.occurred_at, "last_event_id": e.event_id}
            else:
                retractions[rid] = (data.version, e.occurred_at, e.event_id)  # type: ignore[attr-defined]
        await self._write(conn, tables, full_rows, retractions, history, exceeded)

    async def _write(self, conn: psycopg.AsyncConnection, tables: Tables, full_rows: dict[uuid.UUID, dict[str, object]],
                     retractions: dict[uuid.UUID, tuple[int, datetime, uuid.UUID]],
                     history: Sequence[tuple[object, ...]], exceeded: Sequence[tuple[object, ...]]) -> None:
        readings = tables["ingress_readings"]
        async with conn.cursor() as cur:
            if full_rows:
                await cur.execute(STAGE.format(readings=readings))
                cols = sql.SQL(", ").join(map(sql.Identifier, ROW_COLUMNS))
                async with cur.copy(COPY_STAGE.format(cols=cols)) as copy:
                    for row in full_rows.values():
                        await copy.write_row([row[c] for c in ROW_COLUMNS])
                # a correction keeps the first submission's time and author
                updates = sql.SQL(", ").join(
                    sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c))
                    for c in ROW_COLUMNS if c not in ("id", "submitted_at", "submitted_by")
                )
                await cur.execute(MERGE_STAGE.format(readings=readings, cols=cols, updates=updates))
            if retractions:
                await cur.executemany(RETRACT.format(readings=readings),
                                      [(v, at, eid, rid) for rid, (v, at, eid) in retractions.items()])
            if history:
                await cur.executemany(INSERT_HISTORY.format(history=tables["ingress_reading_history"]), history)
            if exceeded:
                await cur.executemany(INSERT_EXCEEDED.format(exceeded=tables["ingress_limit_exceeded"]), exceeded)

