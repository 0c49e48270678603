"""A quiet consumer's fetches are held in the client while it asks the real broker for end offsets (infra.fetch_gate):
no fetch goes out while nothing is written, a record written straight to the broker arrives within the probe
interval, and a seek or a position inside the last batch never leaves records waiting."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from infra import kafka_clients
from infra.kafka import FetchPacing
from tests.helpers.support import Backbone
from tests.helpers.topics import topic_with, write

PROBE_MS = 150


class Counted:
    """The fetch requests that reached the broker past the gate."""

    def __init__(self, pacing: FetchPacing) -> None:
        assert pacing.gate is not None
        self.sent = 0
        send = pacing.gate._send  # noqa: SLF001 - the test counts what the gate lets through

        async def counting(*args: Any) -> bool:
            self.sent += 1
            return await send(*args)

        pacing.gate._send = counting  # noqa: SLF001


async def consumer_of(bootstrap: str, topic: str, partitions: int) -> AIOKafkaConsumer:
    consumer = kafka_clients.consumer(bootstrap, group_id=None, enable_auto_commit=False, fetch_max_wait_ms=20,
                                      auto_offset_reset="earliest")
    await consumer.start()
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    return consumer


async def drain(consumer: AIOKafkaConsumer, pacing: FetchPacing, expected: int, timeout_s: float = 10) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < expected and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=100)
        pacing.saw(sum(len(m) for m in batch.values()))
        got += [m.value for messages in batch.values() for m in messages if m.value is not None]
    return got


async def go_quiet(consumer: AIOKafkaConsumer, pacing: FetchPacing) -> None:
    for _ in range(50):
        pacing.saw(0)
        await consumer.getmany(timeout_ms=50)
        if pacing.idle and pacing.gate is not None and pacing.gate.held:
            return
    raise AssertionError("the consumer never went quiet")


async def test_a_quiet_consumer_sends_no_fetch_until_a_record_is_written(backbone: Backbone) -> None:
    topic = await topic_with(backbone.bootstrap, 4, [[b"a", b"b"]])
    consumer = await consumer_of(backbone.bootstrap, topic, 4)
    try:
        pacing = FetchPacing(consumer, busy_ms=20, idle_ms=PROBE_MS, quiet_after_s=0.2)
        counted = Counted(pacing)
        assert await drain(consumer, pacing, 2) == [b"a", b"b"]
        await go_quiet(consumer, pacing)
        sent_quiet = counted.sent
        await asyncio.sleep(1.5)
        assert counted.sent == sent_quiet, "a held consumer fetched"  # a 20 ms wait: ~70 fetches in that time
        assert pacing.gate is not None and pacing.gate.probes >= 5
        written = time.monotonic()
        await write(backbone.bootstrap, topic, [b"c"])
        assert await drain(consumer, pacing, 1, timeout_s=5) == [b"c"]
        assert time.monotonic() - written < 2.0
    finally:
        await consumer.stop()


async def test_a_wake_lets_a_held_fetch_go_before_its_probe(backbone: Backbone) -> None:
    """The doorbell's way in: a record written while the fetch is held arrives at once when woken, not after the
    probe interval (3 s here)."""
    topic = await topic_with(backbone.bootstrap, 4, [[b"a"]])
    consumer = await consumer_of(backbone.bootstrap, topic, 4)
    try:
        pacing = FetchPacing(consumer, busy_ms=20, idle_ms=3000, quiet_after_s=0.2)
        assert await drain(consumer, pacing, 1) == [b"a"]
        await go_quiet(consumer, pacing)
        await write(backbone.bootstrap, topic, [b"b"])
        woken = time.monotonic()
        pacing.wake()
        assert await drain(consumer, pacing, 1, timeout_s=5) == [b"b"]
        assert time.monotonic() - woken < 1.0
        assert not pacing.idle  # short fetches again until quiet
    finally:
        await consumer.stop()


async def test_a_long_quiet_spell_asks_half_as_often(backbone: Backbone) -> None:
    topic = await topic_with(backbone.bootstrap, 4, [[b"a"]])
    consumer = await consumer_of(backbone.bootstrap, topic, 4)
    try:
        pacing = FetchPacing(consumer, busy_ms=20, idle_ms=PROBE_MS, quiet_after_s=0.2)
        assert pacing.gate is not None
        pacing.gate.long_quiet_s, pacing.gate.max_hold_s = 0.5, 0.3
        counted = Counted(pacing)
        assert await drain(consumer, pacing, 1) == [b"a"]
        await go_quiet(consumer, pacing)
        await asyncio.sleep(0.6)
        asked, fetched = pacing.gate.probes, counted.sent
        await asyncio.sleep(2.4)
        asked, fetched = pacing.gate.probes - asked, counted.sent - fetched
        assert 4 <= asked <= 10, asked  # every 300 ms: about 8; every 150 ms it would be about 16
        assert fetched <= 5, fetched  # a safety fetch every 0.6 s: about 4; every 0.3 s it would be about 8
        written = time.monotonic()
        await write(backbone.bootstrap, topic, [b"b"])
        assert await drain(consumer, pacing, 1, timeout_s=5) == [b"b"]
        assert time.monotonic() - written < 2.0
        await go_quiet(consumer, pacing)  # a new quiet spell starts at the short interval again
        asked = pacing.gate.probes
        await asyncio.sleep(0.45)
        assert pacing.gate.probes - asked >= 2
    finally:
        await consumer.stop()


async def test_a_seek_back_releases_a_held_fetch(backbone: Backbone) -> None:
    topic = await topic_with(backbone.bootstrap, 1, [[b"a", b"b", b"c"]])
    consumer = await consumer_of(backbone.bootstrap, topic, 1)
    try:
        pacing = FetchPacing(consumer, busy_ms=20, idle_ms=PROBE_MS, quiet_after_s=0.2)
        assert await drain(consumer, pacing, 3) == [b"a", b"b", b"c"]
        await go_quiet(consumer, pacing)
        consumer.seek(TopicPartition(topic, 0), 1)  # nothing new is written: only the seek can release it
        assert await drain(consumer, pacing, 2, timeout_s=3) == [b"b", b"c"]
    finally:
        await consumer.stop()


async def test_a_position_inside_the_last_batch_is_fetched_while_quiet(backbone: Backbone) -> None:
    """Tansu answers ListOffsets with the last batch's base offset + 1: a consumer that resumes inside that batch
    (a committed offset mid-batch) must not be held on the answer."""
    topic = await topic_with(backbone.bootstrap, 1, [[b"a", b"b", b"c", b"d"]])
    consumer = await consumer_of(backbone.bootstrap, topic, 1)
    try:
        pacing = FetchPacing(consumer, busy_ms=20, idle_ms=PROBE_MS, quiet_after_s=0.0)
        assert pacing.gate is not None
        pacing.gate.holding = True  # quiet from the start
        consumer.seek(TopicPartition(topic, 0), 2)
        assert await drain(consumer, pacing, 2, timeout_s=3) == [b"c", b"d"]
    finally:
        await consumer.stop()


async def test_a_failing_probe_lets_the_fetch_go(backbone: Backbone) -> None:
    topic = await topic_with(backbone.bootstrap, 1, [[b"a"]])
    consumer = await consumer_of(backbone.bootstrap, topic, 1)
    try:
        pacing = FetchPacing(consumer, busy_ms=20, idle_ms=PROBE_MS, quiet_after_s=0.2)
        assert await drain(consumer, pacing, 1) == [b"a"]
        await go_quiet(consumer, pacing)

        async def broken(*_: Any) -> dict[TopicPartition, int]:
            raise RuntimeError("no answer")

        consumer._fetcher.end_offsets = broken  # type: ignore[method-assign]  # noqa: SLF001
        await write(backbone.bootstrap, topic, [b"b"])
        assert await drain(consumer, pacing, 1, timeout_s=5) == [b"b"]
    finally:
        await consumer.stop()


async def test_a_consumer_without_a_longer_idle_wait_is_never_gated(backbone: Backbone) -> None:
    topic = await topic_with(backbone.bootstrap, 1, [])
    consumer = await consumer_of(backbone.bootstrap, topic, 1)
    try:
        pacing = FetchPacing(consumer, busy_ms=20, idle_ms=0, quiet_after_s=0.0)
        await consumer.getmany(timeout_ms=100)
        pacing.saw(0)
        assert pacing.gate is None and not pacing.idle
    finally:
        await consumer.stop()
