"""One fetching consumer hands each projection's inbox the records of its partitions from where that projection
stands (projections/sources.py), on the real broker: readers at different positions each get every record from
their own position once and in order; a reader sought back gets its records again without the others seeing
duplicates; a reader opened late makes the consumer go back for it; a full inbox holds back only the partitions it
reads; a record offset is handed exactly once per reader."""

from __future__ import annotations

import asyncio
import time

from aiokafka import TopicPartition

from projections.sources import Fanout, Inbox
from tests.helpers.support import Backbone
from tests.helpers.topics import topic_with, write


def values(n: int, start: int = 0) -> list[bytes]:
    return [f"v{i}".encode() for i in range(start, start + n)]


async def take(inbox: Inbox, expected: int, timeout_s: float = 10) -> list[tuple[int, bytes]]:
    """(offset, value) of what the inbox hands over until `expected` records came (or the time is up)."""
    got: list[tuple[int, bytes]] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        batch = await inbox.getmany(max_records=7, timeout_s=0.2)  # small batches: an inbox is taken in many pieces
        got += [(r.offset, r.value) for records in batch.values() for r in records]
    return got


async def running(fanout: Fanout) -> tuple[asyncio.Event, asyncio.Task[None]]:
    await fanout.start()
    stop = asyncio.Event()
    return stop, asyncio.create_task(fanout.run(stop))


async def halt(fanout: Fanout, stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    stop.set()
    await task
    await fanout.stop()


async def test_readers_at_their_own_positions_each_get_every_record_once(backbone: Backbone) -> None:
    topic = await topic_with(backbone.bootstrap, 1, [values(40), values(20, 40)], prefix="fanout")
    tp = TopicPartition(topic, 0)
    fanout = Fanout(backbone.bootstrap, fetch_wait_ms=20)
    stop, task = await running(fanout)
    try:
        first, second = fanout.inbox(), fanout.inbox()
        first.open({tp: 0})
        second.open({tp: 30})
        assert [o for o, _ in await take(first, 60)] == list(range(60))
        assert await take(second, 30) == [(o, f"v{o}".encode()) for o in range(30, 60)]
        second.seek(tp, 10)  # a replay moved it back: the consumer goes back, the first reader sees nothing again
        assert [o for o, _ in await take(second, 50)] == list(range(10, 60))
        await write(backbone.bootstrap, topic, values(5, 60))
        assert [o for o, _ in await take(first, 5)] == list(range(60, 65))
        assert [o for o, _ in await take(second, 5)] == list(range(60, 65))
        late = fanout.inbox()  # opened after the consumer went past where it starts
        late.open({tp: 3})
        assert [o for o, _ in await take(late, 62)] == list(range(3, 65))
        await asyncio.sleep(0.5)
        assert first.pending == second.pending == late.pending == 0  # nobody was handed anything twice
        first.seek(tp, 64)  # moved forward: only what is past there
        await write(backbone.bootstrap, topic, values(1, 65))
        assert [o for o, _ in await take(first, 2)] == [64, 65]
    finally:
        await halt(fanout, stop, task)


async def test_a_full_inbox_holds_back_only_the_partitions_it_reads(backbone: Backbone) -> None:
    shared = await topic_with(backbone.bootstrap, 1, [values(30)], prefix="fanout")
    own = await topic_with(backbone.bootstrap, 1, [], prefix="fanout")
    fanout = Fanout(backbone.bootstrap, fetch_wait_ms=20, max_records=10, cap=10)
    stop, task = await running(fanout)
    try:
        busy, slow = fanout.inbox(), fanout.inbox()
        busy.open({TopicPartition(shared, 0): 0, TopicPartition(own, 0): 0})
        slow.open({TopicPartition(shared, 0): 0})
        got = await take(busy, 30, timeout_s=2)
        assert 10 <= len(got) < 30, len(got)  # the slow inbox is full: the shared partition is paused
        assert 10 <= slow.pending < 30
        await write(backbone.bootstrap, own, values(3))
        assert [v for _, v in await take(busy, 3)] == values(3)  # a partition the slow one does not read flows
        slow_got, busy_more = await asyncio.gather(take(slow, 30), take(busy, 30 - len(got)))  # both take again
        assert [o for o, _ in slow_got] == list(range(30))
        assert [o for o, _ in got + busy_more] == list(range(30))
    finally:
        await halt(fanout, stop, task)
