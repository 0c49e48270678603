"""A batch that decodes but does not apply (the projection raises, or the database refuses a record) is rolled back
and applied again record by record: every other record is applied exactly once, only the failing one is
dead-lettered, and the offsets past the batch are stored with it. Against the real PostgreSQL; the runner's
consumer and dead-letter sender are stand-ins (the dead-letter topic itself: test_poison.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from aiokafka import TopicPartition
from psycopg import sql

from projections.records import Record, Tables
from projections.runner import Fetched, ProjectionRunner, load_offsets, save_offsets
from tests.helpers.support import Backbone

TP = TopicPartition("files", 0)


class Picky:
    """Inserts each record's offset into its table; raises on b"poison", and the database refuses b"refused"."""

    def __init__(self) -> None:
        self.name = f"test-picky-{uuid.uuid4().hex[:8]}"
        self.topics, self.tables, self.decode = ("files",), ("picky",), False
        self.table = sql.Identifier(f"picky_{uuid.uuid4().hex[:8]}")

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        for record in records:
            if record.value == b"poison":
                raise ValueError("this record cannot be applied")
            value = "not a number" if record.value == b"refused" else record.offset
            await conn.execute(sql.SQL("INSERT INTO {} (at) VALUES (%s::bigint)").format(self.table), (value,))


class Letters:
    """The dead-letter sender: what was sent, by source offset."""

    def __init__(self) -> None:
        self.offsets: list[int] = []

    async def send_raw(self, topic: str, value: bytes | None, key: Any, *, headers: Any = None, **_: Any) -> Any:
        self.offsets.append(int(dict(headers)["opsledger.dlq.offset"]))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def fold(database_url: str, values: list[bytes]) -> tuple[list[int], list[int], int, dict[Any, int]]:
    projection, letters = Picky(), Letters()
    runner = ProjectionRunner(projection, bootstrap="unused:9092", database_url=database_url, deadletters=letters)
    runner.positions = {TP: 0}
    records = [Record("files", 0, offset, 0, None, value, (), None) for offset, value in enumerate(values)]
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE TABLE {} (at bigint NOT NULL)").format(projection.table))
        await save_offsets(conn, projection.name, {TP: 0})
        try:
            applied = await runner.apply_batch(conn, None, Fetched(ends={TP: len(values)}, records=records))  # type: ignore[arg-type]
            rows = await (await conn.execute(sql.SQL("SELECT at FROM {} ORDER BY at").format(projection.table))
                          ).fetchall()
            stored = await load_offsets(conn, projection.name)
        finally:
            await conn.execute(sql.SQL("DROP TABLE {}").format(projection.table))
            await conn.execute("DELETE FROM projection_offsets WHERE projection = %s", (projection.name,))
    assert applied
    return [at for (at,) in rows], letters.offsets, stored[TP], runner.positions


def test_a_record_that_cannot_be_applied_is_deadlettered_and_the_rest_applied_once(backbone: Backbone) -> None:
    values = [b"ok", b"ok", b"poison", b"ok", b"refused", b"ok"]
    rows, dead, stored, positions = asyncio.run(fold(backbone.database_url, values))
    assert rows == [0, 1, 3, 5]  # the first attempt's inserts were rolled back, not kept beside the second's
    assert dead == [2, 4]
    assert stored == len(values) and positions == {TP: len(values)}


def test_a_clean_batch_is_applied_in_one_go(backbone: Backbone) -> None:
    rows, dead, stored, positions = asyncio.run(fold(backbone.database_url, [b"ok"] * 4))
    assert rows == [0, 1, 2, 3] and dead == [] and stored == 4 and positions == {TP: 4}
