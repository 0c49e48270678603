"""Bulk writes stage rows with a binary COPY typed from the stage's columns: every kind of value the projections
stage lands as the text form would have landed it, and an event time without an offset is read as UTC (it was
the server's zone in the text form) instead of failing its batch into the dead-letter topic."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from projections.staging import columns, copy_into_stage
from tests.plugins.backbone import Backbone

TABLE = f"staging_test_{uuid.uuid4().hex[:8]}"
NAMES = ("id", "n", "big", "x", "r", "ok", "at", "tags", "doc", "note")


async def test_binary_staging_lands_every_kind_of_value(backbone: Backbone) -> None:
    an_id = uuid.uuid4()
    rows = [
        (an_id, 7, 2**40, 1.5, 0.25, True, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), ["a", "b"], '{"k": [1, 2]}',
         "line\nwith\ttabs and \\ backslash"),
        (uuid.UUID(int=1), -1, -(2**40), 2, None, False, datetime(2026, 1, 2, 3, 4, 5), [], "null", None),
    ]
    async with await psycopg.AsyncConnection.connect(backbone.database_url, autocommit=True) as conn:
        await conn.execute(sql.SQL(
            "CREATE TABLE {} (id uuid PRIMARY KEY, n integer, big bigint, x double precision, r real, ok boolean,"
            " at timestamptz, tags text[], doc json, note text)").format(sql.Identifier(TABLE)))
        try:
            async with conn.transaction(), conn.cursor() as cur:
                await copy_into_stage(cur, f"{TABLE}_stage", sql.Identifier(TABLE), NAMES, rows)
                await cur.execute(sql.SQL("INSERT INTO {} ({c}) SELECT {c} FROM {}").format(
                    sql.Identifier(TABLE), sql.Identifier(f"{TABLE}_stage"), c=columns(NAMES)))
            found = await (await conn.execute(sql.SQL("SELECT {}, doc::text FROM {} ORDER BY n DESC").format(
                columns(NAMES), sql.Identifier(TABLE)))).fetchall()
        finally:
            await conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(TABLE)))
    first, second = found
    assert first[:8] == rows[0][:8] and first[8] == {"k": [1, 2]} and first[9] == rows[0][9]
    assert first[10] == '{"k": [1, 2]}'  # json keeps its text as sent
    assert second[:6] == (uuid.UUID(int=1), -1, -(2**40), 2.0, None, False)
    assert second[6] == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # no offset: UTC
    assert second[7] == [] and second[8] is None and second[10] == "null" and second[9] is None
