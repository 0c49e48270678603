"""Bulk writes: COPY rows into a transaction-scoped temp table shaped like the target, then merge them with one
INSERT … SELECT … ON CONFLICT statement.

The COPY is binary, typed from the stage table's own columns (looked up once per stage and column list): PostgreSQL
reads uuids, timestamps and numbers as they are instead of parsing their text, and the client sends them without
formatting them (the text form was a fifth of a replay's CPU). A `json` column is sent as its text (its binary form
is the text); a stage with a column whose binary form the client cannot write as given (`jsonb`) copies as text. A
`timestamptz` without an offset is read as UTC (the binary form needs one; the text form left it to the server's
zone: UTC in the compose deployment, the machine's zone for the embedded server), as the platform reads times."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC
from typing import Any

import psycopg
from psycopg import pq, sql

STAGE = sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table}) ON COMMIT DELETE ROWS")
COPY_STAGE = sql.SQL("COPY {stage} ({cols}) FROM STDIN")
COPY_STAGE_BINARY = sql.SQL("COPY {stage} ({cols}) FROM STDIN (FORMAT BINARY)")
COLUMN_TYPES = ("SELECT attname, atttypid::int FROM pg_attribute"
                " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped")
JSON, TEXT, JSONB, TIMESTAMPTZ = 114, 25, 3802, 1184
_types: dict[tuple[str, tuple[str, ...]], list[int] | None] = {}  # (stage, columns) -> oids to copy with, or text


def columns(names: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in names)


async def copy_types(cur: psycopg.AsyncCursor[Any], stage: str, names: Sequence[str]) -> list[int] | None:
    """The type oids to COPY `names` of `stage` in binary with, or None for text."""
    key = (stage, tuple(names))
    if key not in _types:
        found = dict(await (await cur.execute(COLUMN_TYPES, (stage,))).fetchall())
        oids = [TEXT if found[n] == JSON else found[n] for n in names]
        adapters = cur.adapters
        binary = all(oid != JSONB and _dumps_binary(adapters, oid) for oid in oids)
        _types[key] = oids if binary else None
    return _types[key]


def _dumps_binary(adapters: Any, oid: int) -> bool:
    try:
        adapters.get_dumper_by_oid(oid, pq.Format.BINARY)
    except psycopg.ProgrammingError:
        return False
    return True


async def copy_into_stage(cur: psycopg.AsyncCursor[Any], stage: str, like: sql.Identifier, names: Sequence[str],
                          rows: Iterable[Sequence[object]]) -> None:
    """COPY rows into a transaction-scoped temp table shaped like `like`. Emptied first: when the runner isolates a
    poison record it applies record by record in savepoints of ONE transaction, and rows staged by the records
    before would be merged again (stale rows, or one key twice)."""
    async with cur.connection.pipeline():  # one round trip for both
        await cur.execute(STAGE.format(stage=sql.Identifier(stage), table=like))
        await cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(stage)))
    oids = await copy_types(cur, stage, names)
    query = COPY_STAGE if oids is None else COPY_STAGE_BINARY
    async with cur.copy(query.format(stage=sql.Identifier(stage), cols=columns(names))) as copy:
        if oids is not None:
            copy.set_types(oids)
        zoned = [i for i, oid in enumerate(oids or ()) if oid == TIMESTAMPTZ]
        for row in rows:
            for i in zoned:  # a time without an offset is UTC (it failed the batch into the dead letters)
                at = row[i]
                if at is not None and at.tzinfo is None:  # type: ignore[attr-defined]
                    row = [*row[:i], at.replace(tzinfo=UTC), *row[i + 1:]]  # type: ignore[attr-defined]
            await copy.write_row(row)
