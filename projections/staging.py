"""Bulk writes: COPY rows into a transaction-scoped temp table shaped like the target, then merge them with one
INSERT … SELECT … ON CONFLICT statement."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import sql

STAGE = sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS")
COPY_STAGE = sql.SQL("COPY {stage} ({cols}) FROM STDIN")


def columns(names: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in names)


async def copy_into_stage(cur: psycopg.AsyncCursor[Any], stage: str, like: sql.Identifier, names: Sequence[str],
                          rows: Iterable[Sequence[object]]) -> None:
    """COPY rows into a transaction-scoped temp table shaped like `like`. Emptied first: when the runner isolates a
    poison record it applies record by record in savepoints of ONE transaction, and rows staged by the records
    before would be merged again (stale rows, or one key twice)."""
    await cur.execute(STAGE.format(stage=sql.Identifier(stage), table=like))
    await cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(stage)))
    async with cur.copy(COPY_STAGE.format(stage=sql.Identifier(stage), cols=columns(names))) as copy:
        for row in rows:
            await copy.write_row(row)
