"""A replay swaps in its tables and positions under a live projection: the live one continues from the swapped
positions, and, for the partitions the replay left where they were, from where it had applied, not from where its
consumer had fetched to (the batch in hand and the one fetched ahead are dropped, so those records come again)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import psycopg
from aiokafka import TopicPartition

from projections.records import Record, Tables
from projections.runner import Fetched, ProjectionRunner, save_offsets
from tests.helpers.support import Stack


class Nothing:
    """A projection of no tables that applies nothing (only the runner's bookkeeping is under test)."""

    def __init__(self) -> None:
        self.name = f"test-moved-{uuid.uuid4().hex[:8]}"
        self.topics, self.tables, self.decode = ("files",), (), False
        self.applied: list[Record] = []

    async def apply(self, conn: psycopg.AsyncConnection, records: Sequence[Record], tables: Tables) -> None:
        self.applied.extend(records)


class Seeks:
    """What the runner asks of its consumer here: seek."""

    def __init__(self) -> None:
        self.sought: dict[TopicPartition, int] = {}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.sought[tp] = offset


async def test_after_a_swap_every_partition_resumes_from_its_applied_or_swapped_position(stack: Stack) -> None:
    moved, untouched = TopicPartition("files", 0), TopicPartition("files", 1)
    projection = Nothing()
    runner = ProjectionRunner(projection, bootstrap=stack.backbone.bootstrap, database_url=stack.backbone.database_url,
                              deadletters=None)  # type: ignore[arg-type]  # nothing is dead-lettered here
    runner.positions = {moved: 40, untouched: 70}  # applied up to here
    async with await psycopg.AsyncConnection.connect(stack.backbone.database_url, autocommit=True) as conn:
        # the replay's swap: its own position for one partition
        await save_offsets(conn, projection.name, {moved: 12, untouched: 70})
        consumer = Seeks()
        fetched = Fetched(ends={moved: 45, untouched: 75})  # the consumer is at 45 and 75 now (or further, ahead)
        assert not await runner.apply_batch(conn, consumer, fetched)  # only seek is used
        assert consumer.sought == {moved: 12, untouched: 70}  # 70-74 come again, not lost
        assert runner.positions == {moved: 12, untouched: 70}
        assert projection.applied == []
        await conn.execute("DELETE FROM projection_offsets WHERE projection = %s", (projection.name,))
